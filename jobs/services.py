from django.db import transaction

from jobs.models import Job
from jobs.queues import enqueue
from jobs.registry import handler_for


def start_job(*, kind: str, params: dict, user=None) -> Job:
    """Create the job's row and hand its id to the queue once the row is committed."""
    handler_for(kind)  # fail now, in the request, for a kind nobody can run
    job = Job.objects.create(kind=kind, params=params, created_by=user)
    # on_commit: a worker must never receive an id whose row it cannot see yet.
    transaction.on_commit(lambda: enqueue(job.pk))
    return job
