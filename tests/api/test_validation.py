"""What a program gets for a wrong request: a 4xx whose body says what to fix, never a 500."""

import pytest

from tests.api.conftest import make_caller


@pytest.fixture
def caller(db):
    return make_caller("data_lead")


def test_a_body_that_is_not_json_is_a_4xx_with_a_message(caller):
    response = caller.client.post(
        "/api/v1/records", "{not json", content_type="application/json", headers=caller._headers()
    )

    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


def test_a_missing_field_names_it(caller):
    response = caller.post("/records", {"records": [{"text": "Hi"}]})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "dataset_id"
    assert error["msg"]


def test_an_id_beyond_any_database_id_is_a_422_not_a_database_error(caller):
    response = caller.get(f"/datasets/{2**70}")

    assert response.status_code == 422


def test_a_nul_character_in_the_text_filter_is_a_422(caller):
    response = caller.get("/records", {"text": "late\x00"})

    assert response.status_code == 422
    assert "NUL" in response.content.decode()


def test_an_unknown_status_lists_the_known_ones(caller):
    response = caller.get("/records", {"status": "finished"})

    assert response.status_code == 422
    assert "reviewed" in response.content.decode()


def test_a_wrong_type_names_the_field_and_the_expected_type(caller):
    response = caller.post("/jobs/embed", {"dataset_id": "seven"})

    assert response.status_code == 422
    assert "integer" in response.json()["detail"][0]["msg"]


def test_a_body_over_the_api_limit_is_a_413(caller, settings, monkeypatch):
    monkeypatch.setattr("api.auth.MAX_REQUEST_BYTES", 10_000)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    records = [{"text": f"A text long enough to count, number {n}."} for n in range(500)]

    response = caller.post("/records", {"dataset_id": caller.persona.dataset.pk, "records": records})

    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_a_role_without_permission_hears_403_before_its_body_is_checked(db):
    annotator = make_caller("annotator")

    response = annotator.post("/records", {"nonsense": True})

    assert response.status_code == 403
    assert response.json()["detail"] == "Your role may not do this."
