from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the background worker of the configured queue (TASK_QUEUE)."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=1, help="Jobs run at once (threads).")

    def handle(self, *args, workers, **options):
        if settings.TASK_QUEUE == "huey":
            from jobs.queues.huey_queue import run_worker

            self.stdout.write(f"huey worker on {settings.HUEY_FILE} ({workers} thread(s)); Ctrl-C stops it.")
            run_worker(workers=workers)
        else:
            raise CommandError(f"TASK_QUEUE={settings.TASK_QUEUE!r} runs jobs in the calling process; no worker needed")
