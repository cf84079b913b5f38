"""Calling the API as a persona: a token of theirs in `Authorization: Bearer`, as a program would."""

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from api.tokens import create_token
from jobs.models import Job
from labeling.services.export import exports_dir
from tests.conftest import Persona, make_persona
from tests.factories import JobFactory


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Exports and uploads of API tests go to a folder of the test's own."""
    settings.DATA_DIR = tmp_path
    return tmp_path


@dataclass
class Caller:
    """A persona's program: their token, and the HTTP verbs the API uses."""

    persona: Persona
    token: str | None
    client: Client

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers())

    def post(self, path: str, body: dict | None = None):
        return self.client.post(
            f"/api/v1{path}", json.dumps(body or {}), content_type="application/json", headers=self._headers()
        )


def caller_for(persona: Persona) -> Caller:
    token = create_token(user=persona.user, name="tests")[1] if persona.user else None
    return Caller(persona, token, Client())


def make_caller(role: str) -> Caller:
    return caller_for(make_persona(role))


def finished_export(*, user, dataset, content: bytes = b'{"text": "exported"}\n') -> Job:
    """An export job that has succeeded, with its file where the export job writes it."""
    job = JobFactory(
        kind="export",
        created_by=user,
        status=Job.Status.SUCCEEDED,
        params={"dataset_id": dataset.pk, "options": {}},
        result={"file": "export.jsonl"},
    )
    folder = exports_dir() / str(job.pk)
    folder.mkdir(parents=True)
    (folder / "export.jsonl").write_bytes(content)
    return job
