from django.core.management.base import BaseCommand

from jobs.services import sweep_jobs


class Command(BaseCommand):
    help = (
        "Queue again the jobs of workers that stopped responding, and send the queued jobs the broker "
        "never accepted. `manage.py worker` does this by itself every JOB_SWEEP_SECONDS."
    )

    def handle(self, *args, **options):
        result = sweep_jobs()
        self.stdout.write(
            f"re-queued {len(result.requeued)} job(s) of lost workers {result.requeued or ''}; "
            f"failed {len(result.failed)} that lost their worker too often {result.failed or ''}; "
            f"sent {len(result.dispatched)} queued job(s) to the queue {result.dispatched or ''}".replace(" ;", ";")
        )
