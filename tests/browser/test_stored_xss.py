"""Stored XSS: text people typed or uploaded (record text, dataset, label, document, user and job
names, comments) that is HTML or script stays inert on every screen — shown as text, never run.
A dialog, a page error, or an element the payload would create fails the test."""

import pytest
from django.urls import reverse

from jobs.models import Job
from labeling.models import RecordState
from labeling.services.queue import lease_next_record, prepare_queue
from tests.conftest import make_persona, sign_in
from tests.factories import DocumentFactory, JobFactory, PredictionFactory, RecordFactory, UserFactory
from tests.labeling.review_scenarios import annotate, annotators, imported_annotation, label, noun_schema

# Each payload marks what it would create if it ran or were parsed as HTML: an element with the
# class "pwned", or a dialog.
PAYLOADS = [
    '<img class="pwned" src=x onerror="alert(1)">',
    '<script>alert(2)</script><b class="pwned">bold</b>',
    '"><svg class="pwned" onload="alert(3)">',
    "javascript:alert(4)//<iframe class=pwned src=javascript:alert(5)>",
]
EVIL = " ".join(PAYLOADS)


@pytest.fixture
def poisoned(transactional_db):
    """A dataset where everything a person could name carries the payloads."""
    admin = make_persona("admin")
    dataset = admin.dataset
    dataset.name = f"Team {PAYLOADS[0]}"
    dataset.description = EVIL
    dataset.instructions = f"# Guide\n\n{EVIL}\n\n[click](javascript:alert(6))"
    dataset.save()
    schema = noun_schema(dataset)
    schema.name = f"Set {PAYLOADS[1]}"
    schema.save()
    food = label(schema, "food")
    food.name = f"food {PAYLOADS[2]}"
    food.description = EVIL
    food.save()
    ann, bob = annotators(dataset, "ann", "bob")
    bob.first_name = PAYLOADS[3]
    bob.save()
    document = DocumentFactory(dataset=dataset, original_name=f"{PAYLOADS[0]}.pdf")
    disputed = RecordFactory(dataset=dataset, text=f"Record {EVIL}", document=document, page=1, position=0)
    RecordFactory(dataset=dataset, text=f"Waiting {EVIL}", meta={"note": EVIL})
    annotate(schema, disputed, ann, food.name, comment=EVIL)
    annotate(schema, disputed, bob, "plant", unsure=True, comment=EVIL)
    imported_annotation(schema, disputed, "animal")
    PredictionFactory(record=disputed, schema=schema, label=food, score=0.7, model_version=EVIL[:200])
    JobFactory(
        kind="embed", status=Job.Status.FAILED, error=EVIL, created_by=admin.user, log=[{"at": "", "message": EVIL}]
    )
    UserFactory(username="mallory", first_name=PAYLOADS[0], last_name=PAYLOADS[1])
    prepare_queue(schema=schema)
    lease_next_record(schema=schema, user=admin.user)
    state = RecordState.objects.get(schema=schema, record=disputed)
    return admin, schema, disputed, state


def screens(admin, schema, record, state) -> list[str]:
    job = Job.objects.first()
    return [
        reverse("admin:index"),
        reverse("admin:corpus_dataset_changelist"),
        reverse("admin:corpus_dataset_change", args=[schema.dataset_id]),
        reverse("admin:corpus_record_changelist"),
        reverse("admin:corpus_record_changelist") + "?q=Record",
        reverse("admin:corpus_record_change", args=[record.pk]),
        reverse("admin:corpus_document_changelist"),
        reverse("admin:corpus_document_change", args=[record.document_id]),
        reverse("admin:labeling_labelschema_changelist"),
        reverse("admin:labeling_labelschema_change", args=[schema.pk]),
        reverse("admin:labeling_label_changelist"),
        reverse("admin:labeling_annotation_changelist"),
        reverse("admin:labeling_prediction_changelist"),
        reverse("admin:labeling_labelevent_changelist"),
        reverse("admin:labeling_work"),
        reverse("admin:labeling_annotate", args=[schema.pk]),
        reverse("admin:labeling_review", args=[schema.pk]),
        reverse("admin:labeling_review_record", args=[schema.pk, record.pk]),
        reverse("admin:labeling_agreement", args=[schema.pk]),
        reverse("admin:jobs_job_changelist"),
        reverse("admin:jobs_job_change", args=[job.pk]),
        reverse("admin:auth_user_changelist"),
    ]


def test_html_and_script_in_stored_text_stay_inert_on_every_screen(live_server, page, poisoned):
    admin, schema, record, state = poisoned
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    sign_in(page, live_server, admin.user)

    visited = []
    for path in screens(admin, schema, record, state):
        response = page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        assert response.status == 200, path
        injected = page.locator(".pwned").count()
        visited.append((path, injected))
        # The payload is on the page as text (so the screen really showed it), never as markup.
        assert injected == 0, f"{path}: the payload became markup"

    assert problems == []
    shown_as_text = page.goto(live_server.url + reverse("admin:labeling_review_record", args=[schema.pk, record.pk]))
    assert shown_as_text.status == 200
    assert "onerror=" in page.inner_text("body")
    assert len(visited) == len(screens(admin, schema, record, state))
