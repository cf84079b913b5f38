"""A real worker process is killed with SIGKILL in the middle of an embedding job; a new worker
(after its sweeper sees the stale heartbeat) finishes the job: every record ends up with exactly
one current vector, the job has two attempts, and no record was embedded twice."""

import pytest

from corpus.models import Record
from corpus.services.embed import CHUNK_SIZE
from corpus.text import content_hash
from jobs.models import Job
from jobs.services import QUEUE_UNAVAILABLE, start_job
from tests.factories import DatasetFactory
from tests.jobs.processes import PrivateRedis, Worker, celery_publishing_to, running_worker, wait_until

pytestmark = pytest.mark.slow

RECORDS = 3000  # six chunks
# The fake embedder sleeps this long per chunk, so the kill lands after the first chunk and
# well before the last.
DELAY = "0.75"
# Stale after 10 s without a heartbeat: far above the time one chunk takes even on a busy
# machine (otherwise the first worker's own sweeper would take the job from it mid-job).
FAST_SWEEP = {"JOB_STALE_SECONDS": "10", "JOB_SWEEP_SECONDS": "1", "JOB_ENQUEUE_GRACE_SECONDS": "1"}


def make_dataset():
    dataset = DatasetFactory()
    texts = [
        f"Record {n}: the parcel arrived {n % 17} days late and the box was {n % 5} times dented."
        for n in range(RECORDS)
    ]
    Record.objects.bulk_create([Record(dataset=dataset, text=t, content_hash=content_hash(t)) for t in texts])
    return dataset


def kill_mid_job_then_finish(*, dataset, env: dict, tmp_path, enqueue) -> tuple[Job, int]:
    """Start the job on a first worker, SIGKILL it after its first chunk, let a second worker
    finish. Returns the finished job and how many records the first attempt had embedded."""
    job = enqueue()
    first = Worker(env=env, log_path=tmp_path / "worker-1.log")
    try:
        wait_until(job, lambda j: j.done >= CHUNK_SIZE, timeout=60, worker=first, what="first chunk written")
    finally:
        first.kill()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.done < RECORDS, "the kill had to land mid-job"
    embedded_by_first = Record.objects.filter(dataset=dataset, embedding__isnull=False).count()
    assert 0 < embedded_by_first < RECORDS

    with running_worker(env=env, log_path=tmp_path / "worker-2.log") as second:
        job = wait_until(job, lambda j: j.is_finished, timeout=90, worker=second, what="job finished")
    return job, embedded_by_first


def assert_finished_exactly_once(job: Job, dataset, embedded_by_first: int) -> None:
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    records = Record.objects.filter(dataset=dataset)
    assert records.count() == RECORDS  # no row duplicated
    assert not records.needs_embedding("fake:all-MiniLM-L6-v2").exists()  # every record: one current vector
    # The second attempt embedded exactly what the first had not: nothing twice.
    assert job.result["embedded"] == RECORDS - embedded_by_first
    assert (job.done, job.total) == (RECORDS, RECORDS)
    assert any("worker lost" in line["message"] for line in job.log)
    assert not any(QUEUE_UNAVAILABLE in line["message"] for line in job.log)  # the queue took it first time


def test_huey_worker_killed_mid_job_is_finished_by_a_new_worker(transactional_db, tmp_path, settings):
    # Given a dataset of a few thousand records and a huey worker embedding it slowly
    dataset = make_dataset()
    settings.TASK_QUEUE = "huey"
    env = {
        "TASK_QUEUE": "huey",
        "HUEY_FILE": str(settings.HUEY_FILE),
        "INFERENCE_BACKEND": "fake",
        "FAKE_EMBED_DELAY": DELAY,
        **FAST_SWEEP,
    }

    # When the worker is killed mid-job and a new one starts
    job, embedded_by_first = kill_mid_job_then_finish(
        dataset=dataset,
        env=env,
        tmp_path=tmp_path,
        enqueue=lambda: start_job(kind="embed", params={"dataset_id": dataset.pk}),
    )

    # Then the new worker finished it, exactly once
    assert_finished_exactly_once(job, dataset, embedded_by_first)


def test_celery_worker_killed_mid_job_is_finished_by_a_new_worker(transactional_db, tmp_path, settings):
    # Given a dataset of a few thousand records and a Celery worker on a private Redis
    dataset = make_dataset()
    redis = PrivateRedis()
    redis.start()
    settings.TASK_QUEUE = "celery"
    env = {
        "TASK_QUEUE": "celery",
        "REDIS_URL": redis.url,
        "INFERENCE_BACKEND": "fake",
        "FAKE_EMBED_DELAY": DELAY,
        **FAST_SWEEP,
    }
    try:
        with celery_publishing_to(redis.url):
            # When the worker is killed mid-job and a new one starts
            job, embedded_by_first = kill_mid_job_then_finish(
                dataset=dataset,
                env=env,
                tmp_path=tmp_path,
                enqueue=lambda: start_job(kind="embed", params={"dataset_id": dataset.pk}),
            )
    finally:
        redis.stop()

    # Then the new worker finished it, exactly once
    assert_finished_exactly_once(job, dataset, embedded_by_first)
