"""The default one-machine path end to end: a real `manage.py worker` (huey) process embeds a
dataset with the real model, started from a job row the way the admin action starts it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from corpus.models import Record
from jobs.models import Job
from jobs.queues import huey_queue
from labeling.services.demo import DEMO_FILE
from tests.factories import DatasetFactory, JobFactory, RecordFactory

pytestmark = pytest.mark.slow
BASE_DIR = Path(__file__).resolve().parents[2]


def worker_env() -> dict:
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}",
        "TASK_QUEUE": "huey",
        "HUEY_FILE": str(settings.HUEY_FILE),
        "INFERENCE_BACKEND": "local",
        "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
        "TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def wait_for(job: Job, timeout: float) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job still {job.status} after {timeout} s ({job.done}/{job.total})")


def test_huey_worker_embeds_a_dataset_with_the_real_model(transactional_db, tmp_path):
    texts = [line.split(",", 1)[1] for line in DEMO_FILE.read_text(encoding="utf-8").splitlines()[1:41]]
    dataset = DatasetFactory()
    for text in texts:
        RecordFactory(dataset=dataset, text=text)
    untouched = RecordFactory(text="A record of another dataset.")
    job = JobFactory(kind="embed", params={"dataset_id": dataset.pk})
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=BASE_DIR, env=worker_env(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        huey_queue.enqueue(job.pk)  # the real adapter, onto the worker's queue file
        job = wait_for(job, timeout=120)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
        log.close()

    assert job.status == Job.Status.SUCCEEDED, (tmp_path / "worker.log").read_text()
    assert (job.done, job.total, job.attempts) == (40, 40, 1)
    assert job.result == {"embedded": 40, "model": "all-MiniLM-L6-v2"}
    vectors = np.array([r.embedding for r in Record.objects.filter(dataset=dataset)])
    assert vectors.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert set(Record.objects.filter(dataset=dataset).values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2"}
    untouched.refresh_from_db()
    assert untouched.embedding is None
