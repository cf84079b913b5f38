"""A job's life: cancel, retry, the log, heartbeats, and the sweeper that re-dispatches what a
dead worker or a broker outage left behind (TASK_QUEUE=immediate: the queue runs it inline)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from corpus.models import Record
from corpus.services import embed as embed_service
from jobs.models import LOG_LIMIT, Job, JobCancelled, JobSuperseded
from jobs.queues import QueueUnavailable
from jobs.runner import run_job
from jobs.services import QUEUE_UNAVAILABLE, cancel_job, dispatch_job, retry_job, start_job, sweep_jobs
from tests.factories import DatasetFactory, JobFactory, RecordFactory


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(embed_service, "CHUNK_SIZE", 10)


@pytest.fixture
def dataset_of_50(db):
    dataset = DatasetFactory()
    RecordFactory.create_batch(50, dataset=dataset)
    return dataset


def embedded_count(dataset) -> int:
    return Record.objects.filter(dataset=dataset, embedding__isnull=False).count()


class EmbedderThat:
    """The fake embedder with a hook run on the n-th call (1-based)."""

    def __init__(self, *, on_call: int, hook):
        from corpus.inference import configured_embedder

        self._inner = configured_embedder()
        self.info = self._inner.info
        self.calls = 0
        self._on_call, self._hook = on_call, hook

    def embed(self, texts):
        self.calls += 1
        if self.calls == self._on_call:
            self._hook()
        return self._inner.embed(texts)


def test_cancel_mid_job_stops_within_one_batch(dataset_of_50, small_chunks, monkeypatch):
    # Given an embedding job whose cancel is requested (as from the admin) while its first
    # batch is being written
    job = JobFactory(kind="embed", params={"dataset_id": dataset_of_50.pk})
    store = embed_service._store_vectors
    writes = []

    def store_then_cancel(**kwargs):
        store(**kwargs)
        writes.append(len(kwargs["ids"]))
        if len(writes) == 1:
            cancel_job(job=Job.objects.get(pk=job.pk))

    monkeypatch.setattr(embed_service, "_store_vectors", store_then_cancel)

    # When the job runs
    run_job(job.pk)

    # Then it stops after that batch: cancelled, one batch written, the rest untouched
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert writes == [10]
    assert embedded_count(dataset_of_50) == 10
    assert (job.done, job.total) == (10, 50)
    assert job.finished_at is not None
    assert any("cancel requested" in line["message"] for line in job.log)


def test_retry_of_a_failed_job_resumes_where_it_stopped(
    dataset_of_50, small_chunks, monkeypatch, django_capture_on_commit_callbacks
):
    # Given an embedding job that failed in its third batch
    def broken_model():
        raise RuntimeError("out of memory")

    job = JobFactory(kind="embed", params={"dataset_id": dataset_of_50.pk})
    embedder = EmbedderThat(on_call=3, hook=broken_model)
    monkeypatch.setattr(embed_service, "configured_embedder", lambda model=None: embedder)
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "RuntimeError: out of memory" in job.error
    assert embedded_count(dataset_of_50) == 20

    # When it is retried
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_job(job=job)

    # Then the second attempt embeds only the 30 records the first one had not done
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 2
    assert job.result["embedded"] == 30
    assert (job.done, job.total) == (50, 50)
    assert embedded_count(dataset_of_50) == 50
    assert job.error == ""


def test_a_succeeded_job_cannot_be_retried_or_cancelled(db):
    job = JobFactory(status=Job.Status.SUCCEEDED)

    assert not retry_job(job=job)
    assert not cancel_job(job=job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


def test_cancelling_a_queued_job_ends_it_before_it_starts(db):
    job = JobFactory(kind="embed", params={"dataset_id": 1})

    assert cancel_job(job=job)
    run_job(job.pk)  # its message arrives later

    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.CANCELLED, 0)


def test_report_stops_a_run_that_lost_its_job_to_another_worker(db):
    # Given a run of attempt 1 whose job the sweeper handed to attempt 2
    job = JobFactory(status=Job.Status.RUNNING, attempts=1, total=100)
    Job.objects.filter(pk=job.pk).update(attempts=2)

    # When the old run reports progress, it is told to stop, and writes nothing
    with pytest.raises(JobSuperseded):
        job.report(done=50)
    assert Job.objects.get(pk=job.pk).done == 0


def test_report_raises_cancelled_once_a_cancel_was_requested(db):
    job = JobFactory(status=Job.Status.RUNNING, attempts=1, total=100)
    cancel_job(job=Job.objects.get(pk=job.pk))

    with pytest.raises(JobCancelled):
        job.report(done=10)


def test_the_log_keeps_only_the_most_recent_steps(db):
    job = JobFactory()

    for step in range(LOG_LIMIT + 5):
        job.add_log(f"step {step}")

    job.refresh_from_db()
    assert len(job.log) == LOG_LIMIT
    assert job.log[0]["message"] == "step 5"
    assert job.log[-1]["message"] == f"step {LOG_LIMIT + 4}"
    assert job.log[-1]["at"]


def test_rate_and_eta_come_from_progress_since_the_attempt_started(db):
    now = timezone.now()
    job = JobFactory(
        status=Job.Status.RUNNING, done=200, total=1000, started_at=now - timedelta(seconds=10), heartbeat_at=now
    )

    assert job.rate == pytest.approx(20.0)
    assert job.eta_seconds == 40


def test_sweeper_requeues_a_job_whose_worker_stopped_responding(dataset_of_50, settings):
    # Given a job that a worker started and then stopped sending heartbeats for (killed)
    settings.JOB_STALE_SECONDS = 60
    long_ago = timezone.now() - timedelta(seconds=61)
    job = JobFactory(
        kind="embed", params={"dataset_id": dataset_of_50.pk}, status=Job.Status.RUNNING, attempts=1,
        started_at=long_ago, heartbeat_at=long_ago,
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(created_at=long_ago)

    # When the sweeper runs
    result = sweep_jobs()

    # Then the job was queued again and (immediate queue) finished by a second attempt
    assert result.requeued == [job.pk] and result.dispatched == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 2)
    assert embedded_count(dataset_of_50) == 50
    assert any("worker lost" in line["message"] for line in job.log)


def test_sweeper_leaves_a_job_with_a_recent_heartbeat_alone(db, settings):
    settings.JOB_STALE_SECONDS = 60
    job = JobFactory(status=Job.Status.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(seconds=30))

    result = sweep_jobs()

    assert result.requeued == []
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING


def test_sweeper_fails_a_job_that_lost_its_worker_on_every_attempt(db, settings):
    settings.JOB_STALE_SECONDS, settings.JOB_MAX_ATTEMPTS = 60, 3
    job = JobFactory(status=Job.Status.RUNNING, attempts=3, heartbeat_at=timezone.now() - timedelta(seconds=61))

    result = sweep_jobs()

    assert result.failed == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "stopped responding during each of 3 attempts" in job.error


def test_with_the_queue_down_a_started_job_stays_queued_and_says_so(
    dataset_of_50, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(job_id):
        raise QueueUnavailable("ConnectionError: Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr("jobs.services.enqueue", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        job = start_job(kind="embed", params={"dataset_id": dataset_of_50.pk})

    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert job.enqueued_at is None
    assert QUEUE_UNAVAILABLE in job.log[-1]["message"]
    assert "Connection refused" in job.log[-1]["message"]
    assert job.is_waiting_for_queue
    # and it still says so after something else was logged (the flag is a field, not the last line)
    job.add_log("someone looked at it")
    job.refresh_from_db()
    assert job.is_waiting_for_queue

    # When the queue takes it after all, it is no longer waiting
    monkeypatch.setattr("jobs.services.enqueue", lambda job_id: None)
    assert dispatch_job(job=job)
    job.refresh_from_db()
    assert not job.is_waiting_for_queue and job.enqueue_failed_at is None and job.enqueued_at is not None


def test_sweeper_sends_a_job_the_queue_refused_once_the_queue_is_back(dataset_of_50, monkeypatch, settings):
    # Given a job whose enqueue failed a while ago
    settings.JOB_ENQUEUE_GRACE_SECONDS = 5
    job = JobFactory(kind="embed", params={"dataset_id": dataset_of_50.pk})
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=6))

    # When the sweeper runs with the queue working again
    result = sweep_jobs()

    # Then the job was sent and ran
    assert result.dispatched == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 1)
    assert job.enqueued_at is not None


def test_sweeper_gives_a_fresh_job_time_for_its_own_enqueue(db, settings):
    settings.JOB_ENQUEUE_GRACE_SECONDS = 5
    job = JobFactory()

    assert sweep_jobs().dispatched == []
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_sweeper_stops_sending_while_the_queue_is_still_down(db, monkeypatch, settings):
    settings.JOB_ENQUEUE_GRACE_SECONDS = 5
    jobs = JobFactory.create_batch(3)
    Job.objects.update(created_at=timezone.now() - timedelta(seconds=6))
    attempts = []

    def broker_down(job_id):
        attempts.append(job_id)
        raise QueueUnavailable("ConnectionError: refused")

    monkeypatch.setattr("jobs.services.enqueue", broker_down)

    result = sweep_jobs()

    assert result.dispatched == []
    assert len(attempts) == 1  # one refusal is enough to know; the next sweep tries again
    assert all(Job.objects.get(pk=j.pk).status == Job.Status.QUEUED for j in jobs)
