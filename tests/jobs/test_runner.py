"""run_job: claims a queued row, runs its handler once, records how it ended."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from jobs import register
from jobs.models import Job
from jobs.registry import handler_for
from jobs.runner import claim_job, run_job
from jobs.services import start_job
from tests.factories import JobFactory

calls: list[int] = []


@register("test-count")
def count_run(job: Job) -> None:
    calls.append(job.pk)
    job.report(done=2, total=2)


@register("test-explode")
def explode(job: Job) -> None:
    raise RuntimeError("the disk is full")


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


def test_a_job_runs_once_even_when_its_id_is_delivered_twice(db):
    job = JobFactory(kind="test-count")

    run_job(job.pk)
    run_job(job.pk)

    job.refresh_from_db()
    assert calls == [job.pk]
    assert (job.status, job.attempts, job.done, job.total) == (Job.Status.SUCCEEDED, 1, 2, 2)
    assert job.started_at and job.finished_at and job.heartbeat_at


def test_a_failing_job_keeps_its_traceback(db):
    job = JobFactory(kind="test-explode")

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "RuntimeError: the disk is full" in job.error
    assert "Traceback" in job.error


def test_a_cancelled_job_is_not_started(db):
    job = JobFactory(kind="test-count", status=Job.Status.CANCELLED)

    run_job(job.pk)

    assert calls == []


def test_an_id_with_no_row_is_ignored(db):
    run_job(987654)

    assert calls == []


def test_starting_a_kind_nobody_handles_fails_at_once(db):
    with pytest.raises(LookupError, match="no handler registered for job kind 'teleport'"):
        start_job(kind="teleport", params={})
    assert not Job.objects.exists()


def test_a_kind_cannot_get_two_handlers():
    with pytest.raises(ValueError, match="already has a handler"):
        register("test-count")(lambda job: None)
    assert handler_for("test-count") is count_run


def test_job_list_shows_progress(ml_engineer):
    from django.urls import reverse

    JobFactory(kind="embed", status=Job.Status.RUNNING, done=250, total=1000, created_by=ml_engineer.user)

    response = ml_engineer.client.get(reverse("admin:jobs_job_changelist"))

    assert "250 / 1,000" in response.text
    assert "width: 25%" in response.text


def run_job_then_close(job_id: int) -> None:
    """run_job on a thread of its own, whose connection must not outlive it (an idle session
    left open keeps the test database from being dropped at the end of the run)."""
    from django.db import connection

    try:
        run_job(job_id)
    finally:
        connection.close()


def test_a_job_whose_row_is_briefly_locked_still_runs_when_its_id_arrives(transactional_db):
    """The sweeper stamps `enqueued_at` right after sending the id; a worker that receives the id
    in that instant must wait for the lock, not skip the job and drop the message."""
    import threading

    import psycopg
    from django.db import connection

    job = JobFactory(kind="test-count")
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], user=db["USER"], dbname=db["NAME"]) as other:
        other.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR UPDATE", [job.pk])  # holds the row lock
        worker = threading.Thread(target=run_job_then_close, args=[job.pk])
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "the worker must wait for the lock"
        other.commit()
    worker.join(timeout=10)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert calls == [job.pk]


def test_a_resumed_attempts_rate_counts_only_what_it_did_itself(db):
    # given a job that had done 900 of 1,000 before its worker died, resumed 10 s ago
    job = JobFactory(status=Job.Status.QUEUED, done=900, total=1000, attempts=1)
    claimed = claim_job(job.pk)
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=10))
    claimed.refresh_from_db()

    # when this attempt reports from where it resumed, then 50 more
    claimed.report(done=900)
    claimed.report(done=950)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=F("started_at") + timedelta(seconds=10))
    claimed.refresh_from_db()

    # then the rate is 50 in 10 s, not 950 in 10 s, and 50 left take 10 s more
    assert claimed.attempt_base == 900
    assert claimed.rate == pytest.approx(5.0)
    assert claimed.eta_seconds == 10
