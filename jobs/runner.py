"""Running one job: claim its row, call its handler, record how it ended."""

import logging
import traceback

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobCancelled, JobSuperseded
from jobs.registry import handler_for

logger = logging.getLogger(__name__)


def claim_job(job_id: int) -> Job | None:
    """Move a queued job to running and return it; None when it is gone or not queued (another
    worker took it, or it was cancelled), so a re-delivered message does nothing."""
    with transaction.atomic():
        # FOR UPDATE, and not SKIP LOCKED: two workers handed the same id must not both start it,
        # so the second waits for the first and then finds the job running. Skipping a locked row
        # would drop the job whenever anything else held its lock for a moment (the sweeper
        # stamping enqueued_at right after sending the id), leaving it queued with no message.
        job = Job.objects.select_for_update().filter(pk=job_id, status=Job.Status.QUEUED).first()
        if job is None:
            return None
        now = timezone.now()
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = now  # per attempt: rate and ETA describe the run in progress
        job.heartbeat_at = now
        job.attempt_base = None  # set by the attempt's first progress report
        job.error = ""
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "attempt_base", "error"])
    job.add_log(f"attempt {job.attempts} started")
    return job


def run_job(job_id: int) -> None:
    """Run the job with this id if it is queued. Safe to call twice with the same id."""
    job = claim_job(job_id)
    if job is None:
        logger.info("job %s is not queued; nothing to do", job_id)
        return
    logger.info("job %s (%s) started, attempt %s", job.pk, job.kind, job.attempts)
    # Every end is written fenced on this attempt: a run the sweeper gave to another worker
    # must not overwrite the newer run's outcome.
    this_run = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts)
    try:
        handler_for(job.kind)(job)
    except JobCancelled:
        this_run.update(status=Job.Status.CANCELLED, finished_at=timezone.now(), cancel_requested=False)
        job.add_log(f"cancelled after {job.done:,} of {job.total if job.total is not None else '?'}")
        logger.info("job %s (%s) cancelled", job.pk, job.kind)
        return
    except JobSuperseded:
        logger.warning("job %s (%s) was handed to another worker; this run stops", job.pk, job.kind)
        return
    except Exception as error:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        if this_run.update(status=Job.Status.FAILED, error=traceback.format_exc(), finished_at=timezone.now()):
            job.add_log(f"failed: {type(error).__name__}: {error}")
        return
    if this_run.update(status=Job.Status.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now()):
        job.add_log("succeeded")
    logger.info("job %s (%s) succeeded", job.pk, job.kind)
