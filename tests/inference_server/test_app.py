"""The inference service's HTTP contract, with the fake model: shapes, limits, errors."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from inference_client import get_embedder
from inference_server.app import ServerSettings, create_app


@pytest.fixture
def client():
    settings = ServerSettings(default_model="tiny", backend="fake", max_texts=3, max_chars=50, max_body_bytes=2000)
    with TestClient(create_app(settings)) as client:
        yield client


def test_embed_returns_one_unit_vector_per_text_in_order(client):
    response = client.post("/embed", json={"texts": ["late parcel", "soft fabric"]})

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "fake:tiny"
    assert body["dimensions"] == 384
    expected = get_embedder("fake", model="tiny").embed(["late parcel", "soft fabric"])
    np.testing.assert_allclose(np.array(body["vectors"], dtype=np.float32), expected, atol=1e-7)


def test_too_many_texts_are_refused_with_the_limit(client):
    response = client.post("/embed", json={"texts": ["a", "b", "c", "d"]})

    assert response.status_code == 413
    assert response.json()["detail"] == "4 texts in one request; at most 3: send them in batches"


def test_a_text_over_the_character_limit_is_refused_naming_it(client):
    response = client.post("/embed", json={"texts": ["short", "x" * 51]})

    assert response.status_code == 413
    assert response.json()["detail"] == "texts[1] has 51 characters; at most 50 per text"


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(client):
    response = client.post(
        "/embed", content=b'{"texts": ["' + b"x" * 3000 + b'"]}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert "exceeds the limit of 2000 bytes" in response.json()["detail"]


def test_an_empty_list_of_texts_is_refused(client):
    response = client.post("/embed", json={"texts": []})

    assert response.status_code == 422
    assert "at least one text" in response.json()["detail"]


def test_a_malformed_request_is_refused_with_the_field(client):
    response = client.post("/embed", json={"text": "singular"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "texts"]


def test_a_model_the_service_does_not_serve_is_not_found(client):
    response = client.post("/embed", json={"texts": ["a"], "model": "huge-model"})

    assert response.status_code == 404
    assert "'huge-model' is not served here" in response.json()["detail"]


def test_health_names_the_loaded_model(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": "fake:tiny"}


def test_models_lists_the_served_models_and_the_limits(client):
    response = client.get("/models")

    assert response.json() == {
        "models": [
            {"name": "tiny", "embedding_name": "fake:tiny", "dimensions": 384, "max_tokens": 10_000, "default": True}
        ],
        "max_texts": 3,
        "max_chars": 50,
    }


def test_the_service_imports_nothing_from_django():
    import subprocess
    import sys

    code = "import sys, inference_server.app; print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"
