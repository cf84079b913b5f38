from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.sweeper import start_sweeper_thread


class Command(BaseCommand):
    help = "Run the background worker of the configured queue (TASK_QUEUE), with the job sweeper beside it."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=1, help="Jobs run at once (huey threads).")
        parser.add_argument("--no-sweeper", action="store_true", help="Leave re-dispatching to another worker.")

    def handle(self, *args, workers, no_sweeper, **options):
        if settings.TASK_QUEUE == "huey":
            from jobs.queues.huey_queue import run_worker

            where = f"huey worker on {settings.HUEY_FILE} ({workers} thread(s))"
        elif settings.TASK_QUEUE == "celery":
            from jobs.queues.celery_queue import run_worker

            if workers != 1:
                raise CommandError("the Celery worker runs one job at a time (solo pool); start more workers instead")
            where = f"Celery worker (solo pool) on {_without_password(settings.REDIS_URL)}"
        else:
            raise CommandError(f"TASK_QUEUE={settings.TASK_QUEUE!r} runs jobs in the calling process; no worker needed")
        if not no_sweeper:
            start_sweeper_thread()
            where += f"; sweeper every {settings.JOB_SWEEP_SECONDS} s"
        self.stdout.write(f"{where}. Ctrl-C stops it.")
        self.stdout.flush()
        run_worker(workers=workers)


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url
