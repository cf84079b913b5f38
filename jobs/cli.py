"""What commands that start jobs share: saying where a job stands and following it to its end."""

import sys
import time

from django.core.management.base import CommandError, OutputWrapper
from tqdm import tqdm

from jobs.models import Job

POLL_SECONDS = 0.5


def announce_queued(job: Job, *, what: str, stdout: OutputWrapper, stderr: OutputWrapper) -> None:
    stdout.write(f"job #{job.pk}: {what} queued")
    job.refresh_from_db()
    if job.is_waiting_for_queue:
        stderr.write(f"job #{job.pk}: the queue is unavailable; a worker's sweeper sends it when it is back")


def follow_job(job: Job, *, label: str, stdout: OutputWrapper) -> Job:
    """A progress bar fed by the job row (the worker may be on another machine)."""
    with tqdm(desc=f"#{job.pk} {label}", unit="rec", file=sys.stderr, dynamic_ncols=True) as bar:
        while True:
            job.refresh_from_db()
            if job.total is not None and bar.total != job.total:
                bar.total = job.total
            bar.n = job.done
            bar.set_postfix_str(job.get_status_display().lower(), refresh=False)
            bar.refresh()
            if job.is_finished:
                break
            time.sleep(POLL_SECONDS)
    stdout.write(f"job #{job.pk}: {job.get_status_display().lower()} {job.result or ''}".rstrip())
    return job


def follow_jobs(jobs: list[Job], *, labels: list[str], stdout: OutputWrapper) -> None:
    """Follow each job to its end; a CommandError names every one that did not succeed."""
    ended = [follow_job(job, label=label, stdout=stdout) for job, label in zip(jobs, labels, strict=True)]
    failed = [job for job in ended if job.status != Job.Status.SUCCEEDED]
    if failed:
        raise CommandError("; ".join(f"job #{job.pk} {job.status}: {_last_line(job.error)}" for job in failed))


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
