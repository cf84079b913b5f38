"""huey on SQLite under DATA_DIR: the one-machine default, nothing to install.

huey delivers at most once, which is fine because the job row is the truth: the message only
carries the id, and a job whose message was lost stays visible as queued in the database.
"""

import sqlite3

from django.conf import settings
from django.db import close_old_connections
from huey import SqliteHuey
from huey.consumer import Consumer

from jobs.runner import run_job

settings.HUEY_FILE.parent.mkdir(parents=True, exist_ok=True)
huey = SqliteHuey("tally", filename=str(settings.HUEY_FILE), results=False)
# A locked or unwritable queue file: the job stays queued and the sweeper sends it later.
UNAVAILABLE = (sqlite3.OperationalError, OSError)


@huey.task(name="tally.run_job")
def run_job_task(job_id: int) -> None:
    # A worker thread lives for days: never reuse a connection the database already dropped.
    close_old_connections()
    try:
        run_job(job_id)
    finally:
        close_old_connections()


def enqueue(job_id: int) -> None:
    run_job_task(job_id)


def run_worker(*, workers: int = 1) -> None:
    # Threads, not processes: torch under forked workers can hang, and the model is loaded once
    # per process and shared by the threads.
    Consumer(huey, workers=workers, worker_type="thread", periodic=False).run()
