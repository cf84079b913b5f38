"""Celery on Redis, for several machines. The message carries the job id only.

Settings (CELERY_* in config/settings.py) make delivery at-least-once: the message is
acknowledged after the job ran (acks_late), a worker takes one message at a time (prefetch 1),
and Redis hands an unacknowledged message to another worker only after a visibility timeout
longer than any job. A redelivered id whose job is running or done does nothing (claim_job).
"""

from django.db import close_old_connections
from kombu.exceptions import OperationalError

from config.celery import app
from jobs.runner import run_job

# Redis down or unreachable (kombu wraps the connection errors; OSError: before it does).
UNAVAILABLE = (OperationalError, OSError)


@app.task(name="tally.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job_task(job_id: int) -> None:
    close_old_connections()  # a worker lives for days: never reuse a dropped connection
    try:
        run_job(job_id)
    finally:
        close_old_connections()


def enqueue(job_id: int) -> None:
    # retry=False: with the broker down, fail at once and let the sweeper send it later,
    # rather than hold the request (or the admin page) while kombu retries.
    run_job_task.apply_async((job_id,), retry=False)


def run_worker(*, workers: int = 1) -> None:
    # Solo pool: the job runs in the worker's main process, so torch never runs in a forked
    # child (where it can hang) and the model is loaded once. More throughput: more workers.
    app.Worker(pool="solo", concurrency=1, loglevel="INFO", without_gossip=True, without_mingle=True).start()
