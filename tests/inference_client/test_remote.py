"""The remote backend: the inference service over HTTP, with retries and clear errors."""

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from inference_client import InferenceError, get_embedder
from inference_client.remote import RemoteEmbedder

ROOT = Path(__file__).resolve().parents[2]
MODELS = {
    "models": [{"name": "m", "embedding_name": "m", "dimensions": 3, "max_tokens": 256, "default": True}],
    "max_texts": 256,
    "max_chars": 20000,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service(handler) -> httpx.MockTransport:
    """A stand-in service: /models describes model "m"; /embed is answered by `handler`."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/models":
            return httpx.Response(200, json=MODELS)
        return handler(request)

    return httpx.MockTransport(route)


def vectors_for(request: httpx.Request) -> httpx.Response:
    texts = json.loads(request.content)["texts"]
    return httpx.Response(200, json={"model": "m", "dimensions": 3, "vectors": [[len(t), 0, 0] for t in texts]})


def test_texts_go_out_in_batches_and_come_back_in_order():
    sizes = []

    def handler(request):
        sizes.append(len(json.loads(request.content)["texts"]))
        return vectors_for(request)

    embedder = RemoteEmbedder(model="m", url="http://svc", batch_size=2, transport=service(handler))

    vectors = embedder.embed(["a", "bb", "ccc", "dddd", "eeeee"])

    assert sizes == [2, 2, 1]
    assert vectors[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert vectors.dtype == np.float32


def test_a_server_error_is_retried_with_backoff_until_it_succeeds():
    answers = iter([httpx.Response(503, json={"detail": "busy"}), httpx.Response(502, text="bad gateway")])

    def handler(request):
        return next(answers, None) or vectors_for(request)

    embedder = RemoteEmbedder(model="m", url="http://svc", retries=3, backoff=0.01, transport=service(handler))

    assert embedder.embed(["abc"])[0, 0] == 3


def test_a_refused_request_is_not_retried_and_says_why():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(413, json={"detail": "texts[0] has 30000 characters; at most 20000 per text"})

    embedder = RemoteEmbedder(model="m", url="http://svc", retries=3, backoff=0.01, transport=service(handler))

    with pytest.raises(InferenceError, match=r"HTTP 413: texts\[0\] has 30000 characters"):
        embedder.embed(["x" * 30000])
    assert len(calls) == 1


def test_a_service_that_is_down_gives_a_clear_error_after_the_retries():
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens here
    embedder = RemoteEmbedder(model="m", url=url, retries=2, backoff=0.01)

    with pytest.raises(InferenceError, match=rf"inference service at {url} is unavailable after 3 attempts"):
        embedder.embed(["anything"])


def test_a_model_the_service_does_not_have_is_named_in_the_error():
    embedder = RemoteEmbedder(model="other", url="http://svc", transport=service(vectors_for))

    with pytest.raises(InferenceError, match="does not serve 'other'; it has \\['m'\\]"):
        embedder.embed(["a"])


def test_the_remote_backend_needs_a_url():
    with pytest.raises(InferenceError, match="needs INFERENCE_URL"):
        get_embedder("remote", model="m")


@contextmanager
def inference_service():
    """uvicorn serving the real model on a free loopback port, in its own process."""
    port = free_port()
    env = {**os.environ, "EMBEDDING_MODEL": "all-MiniLM-L6-v2", "TORCH_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(ROOT / f"var/inference-test-{port}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "inference_server.app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the inference service exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"the inference service did not become healthy; see {log.name}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def running_service():
    with inference_service() as url:
        yield url


@pytest.mark.slow
def test_the_remote_path_gives_the_local_models_vectors(running_service):
    texts = ["The parcel arrived two days late.", "Lovely soft fabric.", "Ich möchte mein Geld zurück.", "ok"]
    local = get_embedder("local", model="all-MiniLM-L6-v2", threads=1)
    remote = RemoteEmbedder(model="all-MiniLM-L6-v2", url=running_service)

    remote_vectors = remote.embed(texts)

    assert remote.info == local.info
    np.testing.assert_allclose(remote_vectors, local.embed(texts), atol=1e-5)


@pytest.mark.slow
def test_the_running_service_refuses_an_oversize_request(running_service):
    response = httpx.post(f"{running_service}/embed", json={"texts": ["x"] * 257})

    assert response.status_code == 413
    assert "at most 256" in response.json()["detail"]


@pytest.mark.slow
def test_a_celery_worker_embeds_and_classifies_through_the_inference_service(transactional_db, tmp_path, settings):
    """The several-machines topology on loopback: web (this process) → Redis → a Celery worker
    that has no model of its own → the inference service; PostgreSQL shared by all."""
    from corpus.models import Record
    from labeling.models import Prediction
    from labeling.services.classify import start_classification
    from tests.factories import DatasetFactory, LabelFactory, LabelSchemaFactory, RecordFactory
    from tests.jobs.processes import PrivateRedis, celery_publishing_to, running_worker, wait_until

    # Given a schema with records, a private Redis, the inference service and a Celery worker
    schema = LabelSchemaFactory(dataset=DatasetFactory(), name="Topic")
    LabelFactory(schema=schema, name="Shipping", description="Deliveries, parcels and couriers")
    LabelFactory(schema=schema, name="Quality", description="Fabric, stitching and materials")
    texts = ["The courier lost my parcel.", "The seams came apart after one wash.", "Delivery took three weeks."]
    for text in texts:
        RecordFactory(dataset=schema.dataset, text=text)
    redis = PrivateRedis()
    redis.start()
    settings.TASK_QUEUE = "celery"
    try:
        with inference_service() as url, celery_publishing_to(redis.url):
            env = {
                "TASK_QUEUE": "celery",
                "REDIS_URL": redis.url,
                "INFERENCE_BACKEND": "remote",
                "INFERENCE_URL": url,
                "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
            }
            with running_worker(env=env, log_path=tmp_path / "worker.log") as worker:
                # When the web side starts a classify job
                job = start_classification(schema=schema, user=None)
                job = wait_until(job, lambda j: j.is_finished, timeout=120, worker=worker, what="job end")
    finally:
        redis.stop()

    # Then the worker embedded the records through the service and stored suggestions
    assert job.status == "succeeded", job.error
    local = get_embedder("local", model="all-MiniLM-L6-v2", threads=1)
    for record in Record.objects.filter(dataset=schema.dataset):
        assert record.embedding_model == "all-MiniLM-L6-v2"
        np.testing.assert_allclose(record.embedding, local.embed([record.text])[0], atol=1e-5)
    suggested = dict(Prediction.objects.values_list("record__text", "label__name"))
    assert suggested == {texts[0]: "Shipping", texts[1]: "Quality", texts[2]: "Shipping"}
