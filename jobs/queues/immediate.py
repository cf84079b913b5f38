"""Runs the job right away in the calling process: for tests and one-off scripts."""

from jobs.runner import run_job

UNAVAILABLE: tuple[type[BaseException], ...] = ()  # nothing between the caller and the job


def enqueue(job_id: int) -> None:
    run_job(job_id)
