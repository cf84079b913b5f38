"""Every API endpoint and every role, as the admin answers: the role's permission else 403, an id
from another team's dataset 404 (indistinguishable from one that never existed, and never its
data), 401 without a valid token. An endpoint added to the API without a row here fails
test_every_endpoint_has_a_row."""

import re
from dataclasses import dataclass

import pytest

from api.api import api
from jobs.models import Job
from tests.api.conftest import Caller, finished_export, make_caller
from tests.factories import JobFactory, LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory

ROLES = ["annotator", "reviewer", "data_lead", "ml_engineer", "admin"]


@dataclass
class Side:
    """One team's objects: the caller's own (inside) or another team's (outside)."""

    dataset: object
    record: object
    label_set: object
    label: object
    job: object
    export: object


def side(dataset, user) -> Side:
    label_set = LabelSchemaFactory(dataset=dataset, name=f"Label set of {dataset.name}")
    label = LabelFactory(schema=label_set, name="positive")
    job = JobFactory(created_by=user, status=Job.Status.QUEUED)
    export = finished_export(user=user, dataset=dataset)
    return Side(dataset, RecordFactory(dataset=dataset), label_set, label, job, export)


def world(caller: Caller) -> tuple[Side, Side]:
    persona = caller.persona
    # Another team's objects: their dataset, a job and an export somebody else started.
    someone = UserFactory(role="Data lead")
    persona.other_dataset.memberships.create(user=someone)
    return side(persona.dataset, persona.user), side(persona.other_dataset, someone)


def expect(ok: int, allowed: set[str], *, outside: int = 404, outside_admin: int | None = None) -> dict:
    """role -> (status for the role's own objects, status for another team's)."""
    answers = {role: (ok, outside) if role in allowed else (403, 403) for role in ROLES}
    answers["admin"] = (ok, ok if outside_admin is None else outside_admin)
    return answers


EVERYONE = set(ROLES)
SEE_RECORDS = {"reviewer", "data_lead", "ml_engineer"}

# name -> (method, path, body, expected per role); path and body take the Side they act on.
ENDPOINTS = {
    "me": ("get", lambda s: "/me", None, {role: (200, 200) for role in ROLES}),
    "list datasets": ("get", lambda s: "/datasets", None, {role: (200, 200) for role in ROLES}),
    "dataset": ("get", lambda s: f"/datasets/{s.dataset.pk}", None, expect(200, EVERYONE)),
    "list records": ("get", lambda s: f"/records?dataset={s.dataset.pk}", None, expect(200, SEE_RECORDS)),
    "record": ("get", lambda s: f"/records/{s.record.pk}", None, expect(200, SEE_RECORDS)),
    "add records": (
        "post",
        lambda s: "/records",
        lambda s: {"dataset_id": s.dataset.pk, "records": [{"text": "A new text from a program."}]},
        expect(201, {"data_lead"}),
    ),
    "annotate": (
        "post",
        lambda s: "/annotations",
        lambda s: {"record_id": s.record.pk, "label_set_id": s.label_set.pk, "labels": ["positive"]},
        expect(201, {"annotator", "reviewer", "data_lead"}),
    ),
    "list annotations": ("get", lambda s: f"/annotations?dataset={s.dataset.pk}", None, expect(200, EVERYONE)),
    "upsert predictions": (
        "post",
        lambda s: "/predictions",
        lambda s: {
            "label_set_id": s.label_set.pk,
            "predictions": [{"record_id": s.record.pk, "label": "positive", "score": 0.9, "model_version": "m1"}],
        },
        expect(200, {"ml_engineer"}),
    ),
    "embed": (
        "post",
        lambda s: "/jobs/embed",
        lambda s: {"dataset_id": s.dataset.pk},
        expect(202, {"data_lead", "ml_engineer"}),
    ),
    "classify": (
        "post",
        lambda s: "/jobs/classify",
        lambda s: {"label_set_id": s.label_set.pk},
        expect(202, {"ml_engineer"}),
    ),
    # A job's "outside" is one somebody else started; ML engineers see every job, as in the admin.
    "job": (
        "get",
        lambda s: f"/jobs/{s.job.pk}",
        None,
        {**expect(200, {"data_lead", "ml_engineer"}), "ml_engineer": (200, 200)},
    ),
    "cancel job": ("post", lambda s: f"/jobs/{s.job.pk}/cancel", None, expect(200, {"ml_engineer"}, outside=200)),
    "search": (
        "post",
        lambda s: "/search",
        lambda s: {"dataset_id": s.dataset.pk, "query": "late delivery"},
        expect(200, SEE_RECORDS),
    ),
    "export": (
        "post",
        lambda s: "/jobs/export",
        lambda s: {"dataset_id": s.dataset.pk, "format": "csv", "split": [80, 10, 10]},
        expect(202, {"data_lead"}),
    ),
    # A download's "outside": somebody else's export of their dataset.
    "download export": ("get", lambda s: f"/exports/{s.export.pk}/download", None, expect(200, {"data_lead"})),
}

# The OpenAPI path of each endpoint above, to catch endpoints without a row.
OPERATIONS = {
    "me": ("get", "/api/v1/me"),
    "list datasets": ("get", "/api/v1/datasets"),
    "dataset": ("get", "/api/v1/datasets/{dataset_id}"),
    "list records": ("get", "/api/v1/records"),
    "record": ("get", "/api/v1/records/{record_id}"),
    "add records": ("post", "/api/v1/records"),
    "annotate": ("post", "/api/v1/annotations"),
    "list annotations": ("get", "/api/v1/annotations"),
    "upsert predictions": ("post", "/api/v1/predictions"),
    "embed": ("post", "/api/v1/jobs/embed"),
    "classify": ("post", "/api/v1/jobs/classify"),
    "job": ("get", "/api/v1/jobs/{job_id}"),
    "cancel job": ("post", "/api/v1/jobs/{job_id}/cancel"),
    "search": ("post", "/api/v1/search"),
    "export": ("post", "/api/v1/jobs/export"),
    "download export": ("get", "/api/v1/exports/{job_id}/download"),
}


def call(caller: Caller, name: str, target: Side):
    method, path, body, _ = ENDPOINTS[name]
    if method == "get":
        return caller.get(path(target))
    return caller.post(path(target), body(target) if body else None)


def test_every_endpoint_has_a_row():
    schema = api.get_openapi_schema()
    operations = {(method, path) for path, methods in schema["paths"].items() for method in methods}

    assert operations == set(OPERATIONS.values())
    assert set(OPERATIONS) == set(ENDPOINTS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_endpoint_answers_by_role(db, name, role):
    caller = make_caller(role)
    inside, outside = world(caller)

    statuses = (call(caller, name, inside).status_code, call(caller, name, outside).status_code)

    assert statuses == ENDPOINTS[name][3][role], f"{role} on {name}"


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_endpoint_without_token_answers_401(db, name):
    caller = make_caller("anonymous")
    inside, _ = world(make_caller("data_lead"))

    response = call(caller, name, inside)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["annotator", "reviewer", "data_lead", "ml_engineer"])
def test_guessed_ids_of_another_team_reveal_no_data(db, role):
    """Whatever a role calls with another team's ids, no text, name or label of theirs comes back."""
    caller = make_caller(role)
    _, outside = world(caller)
    secrets = [outside.dataset.name, outside.record.text, outside.label_set.name]

    bodies = [b"".join(call(caller, name, outside)).decode() for name in ENDPOINTS if name != "me"]

    leaked = [secret for secret in secrets for body in bodies if secret in body]
    assert leaked == []


def test_not_found_reads_the_same_for_another_teams_id_and_a_missing_one(db):
    caller = make_caller("reviewer")
    _, outside = world(caller)
    missing = outside.record.pk + 1000

    theirs = caller.get(f"/records/{outside.record.pk}").json()["detail"]
    nobodys = caller.get(f"/records/{missing}").json()["detail"]

    assert re.sub(r"\d+", "N", theirs) == re.sub(r"\d+", "N", nobodys) == "Record N not found."
