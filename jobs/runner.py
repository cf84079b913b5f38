"""Running one job: claim its row, call its handler, record how it ended."""

import logging
import traceback

from django.db import transaction
from django.utils import timezone

from jobs.models import Job
from jobs.registry import handler_for

logger = logging.getLogger(__name__)


def claim_job(job_id: int) -> Job | None:
    """Move a queued job to running and return it; None when it is gone or not queued (another
    worker took it, or it was cancelled), so a re-delivered message does nothing."""
    with transaction.atomic():
        # SKIP LOCKED: two workers handed the same id must not both start it.
        job = Job.objects.select_for_update(skip_locked=True).filter(pk=job_id, status=Job.Status.QUEUED).first()
        if job is None:
            return None
        now = timezone.now()
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.error = ""
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "error"])
        return job


def run_job(job_id: int) -> None:
    """Run the job with this id if it is queued. Safe to call twice with the same id."""
    job = claim_job(job_id)
    if job is None:
        logger.info("job %s is not queued; nothing to do", job_id)
        return
    logger.info("job %s (%s) started, attempt %s", job.pk, job.kind, job.attempts)
    try:
        handler_for(job.kind)(job)
    except Exception:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, error=traceback.format_exc(), finished_at=timezone.now()
        )
        return
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    logger.info("job %s (%s) succeeded", job.pk, job.kind)
