"""Starting, stopping, retrying and re-dispatching jobs. The row is the truth; the queue only
carries ids, so anything the queue loses the sweeper finds again in the database."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import QUEUE_UNAVAILABLE, Job
from jobs.queues import QueueUnavailable, enqueue
from jobs.registry import handler_for

logger = logging.getLogger(__name__)

__all__ = ["QUEUE_UNAVAILABLE", "cancel_job", "dispatch_job", "retry_job", "start_job", "sweep_jobs"]


def start_job(*, kind: str, params: dict, user=None) -> Job:
    """Create the job's row and hand its id to the queue once the row is committed."""
    handler_for(kind)  # fail now, in the request, for a kind nobody can run
    job = Job.objects.create(kind=kind, params=params, created_by=user)
    job.add_log(f"queued by {user}" if user else "queued")
    # on_commit: a worker must never receive an id whose row it cannot see yet.
    transaction.on_commit(lambda: dispatch_job(job=job))
    return job


def dispatch_job(*, job: Job) -> bool:
    """Hand the job's id to the queue. When the broker is down the job stays queued, its log
    says so, and the sweeper sends it later: starting work never fails because of the queue."""
    try:
        enqueue(job.pk)
    except QueueUnavailable as error:
        logger.warning("job %s: could not enqueue (%s); the sweeper will retry", job.pk, error)
        job.enqueue_failed_at = timezone.now()
        Job.objects.filter(pk=job.pk).update(enqueue_failed_at=job.enqueue_failed_at)
        job.add_log(f"{QUEUE_UNAVAILABLE}: {error}")
        return False
    job.enqueued_at, job.enqueue_failed_at = timezone.now(), None
    Job.objects.filter(pk=job.pk).update(enqueued_at=job.enqueued_at, enqueue_failed_at=None)
    return True


def cancel_job(*, job: Job, user=None) -> bool:
    """Stop a job: a queued one at once, a running one at its next batch (its handler's next
    `report` raises JobCancelled). False when it had already ended."""
    who = f" by {user}" if user else ""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=now, cancel_requested=False
    ):
        job.add_log(f"cancelled{who} before it started")
        job.refresh_from_db()
        return True
    if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True):
        job.add_log(f"cancel requested{who}; stops after the current batch")
        job.refresh_from_db()
        return True
    return False


def retry_job(*, job: Job, user=None) -> bool:
    """Queue a failed or cancelled job again. Its handler is incremental, so the new attempt
    resumes where the last one stopped. False when the job is not failed or cancelled."""
    with transaction.atomic():
        retried = Job.objects.filter(pk=job.pk, status__in=[Job.Status.FAILED, Job.Status.CANCELLED]).update(
            status=Job.Status.QUEUED,
            cancel_requested=False,
            error="",
            finished_at=None,
            enqueued_at=None,
            done=0,
            total=None,
        )
        if not retried:
            return False
        job.add_log(f"retried by {user}" if user else "retried")
        job.refresh_from_db()
        transaction.on_commit(lambda: dispatch_job(job=job))
    return True


@dataclass(frozen=True)
class SweepResult:
    requeued: list[int]  # running jobs whose worker stopped responding
    failed: list[int]  # ... and had already been started JOB_MAX_ATTEMPTS times
    dispatched: list[int]  # queued jobs handed to the queue again


def sweep_jobs() -> SweepResult:
    """Re-dispatch what a dead worker or a broker outage left behind. Safe in several workers at
    once: each row moves under its own lock, and a job delivered twice still runs once."""
    requeued, failed = [], []
    with transaction.atomic():
        # SKIP LOCKED: a second sweeper passes over the rows the first is moving.
        stale = Job.objects.stale(seconds=settings.JOB_STALE_SECONDS).select_for_update(skip_locked=True)
        for job in stale:
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                # A job that kills its worker every time (out of memory) must not loop forever.
                job.status, job.finished_at = Job.Status.FAILED, timezone.now()
                job.error = f"the worker stopped responding during each of {job.attempts} attempts"
                job.save(update_fields=["status", "finished_at", "error"])
                job.add_log(f"failed: {job.error}")
                failed.append(job.pk)
                continue
            job.status, job.enqueued_at = Job.Status.QUEUED, None
            job.save(update_fields=["status", "enqueued_at"])
            job.add_log(
                f"no heartbeat for {settings.JOB_STALE_SECONDS} s during attempt {job.attempts} "
                "(worker lost); queued again"
            )
            requeued.append(job.pk)
    dispatched = []
    undelivered = Job.objects.undelivered(
        grace_seconds=settings.JOB_ENQUEUE_GRACE_SECONDS, resend_seconds=settings.JOB_RESEND_SECONDS
    )
    for job in undelivered.order_by("created_at"):
        if dispatch_job(job=job):
            dispatched.append(job.pk)
        else:
            break  # the broker is still down: the next sweep tries again
    if requeued or failed or dispatched:
        logger.info("sweep: requeued %s, failed %s, dispatched %s", requeued, failed, dispatched)
    return SweepResult(requeued=requeued, failed=failed, dispatched=dispatched)
