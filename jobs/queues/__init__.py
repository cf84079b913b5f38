"""Queue backends behind the TASK_QUEUE setting. Each carries job ids only."""

from importlib import import_module

from django.conf import settings

BACKENDS = {
    "huey": "jobs.queues.huey_queue",
    "immediate": "jobs.queues.immediate",
}


def backend():
    return import_module(BACKENDS[settings.TASK_QUEUE])


def enqueue(job_id: int) -> None:
    backend().enqueue(job_id)
