"""Queue backends behind the TASK_QUEUE setting. Each carries job ids only.

A backend module has `enqueue(job_id)`, `UNAVAILABLE` (the errors that mean its broker cannot
take messages now) and, when it has a worker process, `run_worker(workers=...)`.
"""

from importlib import import_module

from django.conf import settings

BACKENDS = {
    "huey": "jobs.queues.huey_queue",
    "celery": "jobs.queues.celery_queue",
    "immediate": "jobs.queues.immediate",
}


class QueueUnavailable(Exception):
    """The broker did not take the message (down, unreachable, full); the job stays queued."""


def backend():
    return import_module(BACKENDS[settings.TASK_QUEUE])


def enqueue(job_id: int) -> None:
    queue = backend()
    try:
        queue.enqueue(job_id)
    except queue.UNAVAILABLE as error:
        raise QueueUnavailable(f"{type(error).__name__}: {error}") from error
