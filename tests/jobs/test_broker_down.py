"""With the Celery broker down, starting a job leaves it queued and says so; once Redis is back,
the sweeper of a worker sends it and the worker runs it. The broker is a private redis-server
on a free port, so stopping it disturbs no other test."""

import time

import pytest

from corpus.models import Record
from jobs.models import Job
from jobs.services import QUEUE_UNAVAILABLE, start_job
from tests.factories import DatasetFactory, RecordFactory
from tests.jobs.processes import PrivateRedis, celery_publishing_to, running_worker, wait_until

pytestmark = pytest.mark.slow


def test_a_job_started_while_redis_is_down_runs_once_redis_is_back(transactional_db, tmp_path, settings):
    # Given a dataset and a Celery broker that was running and is now stopped
    dataset = DatasetFactory()
    RecordFactory.create_batch(30, dataset=dataset)
    redis = PrivateRedis()
    redis.start()
    redis.stop()
    settings.TASK_QUEUE = "celery"

    try:
        with celery_publishing_to(redis.url):
            # When a job is started
            started = time.monotonic()
            job = start_job(kind="embed", params={"dataset_id": dataset.pk})
            waited = time.monotonic() - started

            # Then it stays queued, says why, and starting it did not hang on the broker
            job.refresh_from_db()
            assert job.status == Job.Status.QUEUED
            assert job.enqueued_at is None
            assert QUEUE_UNAVAILABLE in job.log[-1]["message"]
            assert waited < 5

            # When Redis is back and a worker (with its sweeper) runs
            redis.start()
            env = {
                "TASK_QUEUE": "celery",
                "REDIS_URL": redis.url,
                "INFERENCE_BACKEND": "fake",
                "JOB_SWEEP_SECONDS": "1",
                "JOB_ENQUEUE_GRACE_SECONDS": "1",
            }
            with running_worker(env=env, log_path=tmp_path / "worker.log") as worker:
                job = wait_until(job, lambda j: j.is_finished, timeout=60, worker=worker, what="job finished")
    finally:
        redis.stop()

    # Then the sweeper sent it and the worker ran it, once
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 1), worker.output()
    assert job.enqueued_at is not None
    assert not Record.objects.filter(dataset=dataset).needs_embedding("fake:all-MiniLM-L6-v2").exists()
