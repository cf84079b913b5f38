"""Every admin page of every registered model, for every role: 200 where the role may work,
403 where it never may, 404 for objects outside the person's datasets, 302 when signed out."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.urls import reverse
from import_export.admin import ImportMixin

from api.models import ApiToken
from api.tokens import create_token
from corpus.models import Dataset, Document, Record
from jobs.models import Job
from labeling.models import Annotation, ClassifierVersion, Label, LabelEvent, LabelSchema, Prediction
from tests.conftest import make_persona
from tests.factories import (
    AnnotationFactory,
    ClassifierVersionFactory,
    DocumentFactory,
    JobFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
    UserFactory,
)

ROLES = ["anonymous", "annotator", "reviewer", "data_lead", "ml_engineer", "admin"]

# model -> role -> (list, add, change of an object in their datasets, change of one outside)
NO = (403, 403, 403, 403)
EXPECTED = {
    Dataset: {
        "annotator": (200, 403, 200, 404),
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 200, 200, 200),
    },
    Document: {
        "annotator": NO,
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 403, 200, 200),  # documents arrive through the importer only
    },
    Record: {
        "annotator": NO,
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 200, 200, 200),
    },
    LabelSchema: {
        "annotator": (200, 403, 200, 404),
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 200, 200, 200),
    },
    Label: {
        "annotator": (200, 403, 200, 404),
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 200, 200, 200),
    },
    Annotation: {
        "annotator": (200, 403, 200, 404),
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 403, 200, 200),  # annotations come from labeling, imports and the API
    },
    Prediction: {
        "annotator": NO,  # suggestions reach annotators on the annotate screen only
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 403, 200, 200),  # written by imports and classification jobs only
    },
    ClassifierVersion: {
        "annotator": NO,
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 403, 200, 200),
    },
    # History: read-only for everyone (the audit trail is append-only); annotators see their own
    # entries ("inside" for them: one of theirs).
    LabelEvent: {
        "annotator": (200, 403, 200, 404),
        "reviewer": (200, 403, 200, 404),
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 404),
        "admin": (200, 403, 200, 200),
    },
    # "outside" a job: one somebody else started.
    Job: {
        "annotator": NO,
        "reviewer": NO,
        "data_lead": (200, 403, 200, 404),
        "ml_engineer": (200, 403, 200, 200),  # ML engineers see every job
        "admin": (200, 403, 200, 200),
    },
    # "inside": a colleague's account; "outside": an administrator's account.
    User: {
        "annotator": NO,
        "reviewer": NO,
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": NO,
        "admin": (200, 200, 200, 200),
    },
    Group: {
        "annotator": NO,
        "reviewer": NO,
        "data_lead": NO,
        "ml_engineer": NO,
        "admin": (200, 200, 200, 200),
    },
    # "inside": one of the person's own API tokens; "outside": somebody else's.
    ApiToken: {
        "annotator": (200, 200, 200, 404),
        "reviewer": (200, 200, 200, 404),
        "data_lead": (200, 200, 200, 404),
        "ml_engineer": (200, 200, 200, 404),
        "admin": (200, 200, 200, 200),
    },
}


# The import/export buttons (django-import-export): model -> role -> (import page, export page).
# Importing needs the "add" permission, exporting the "view" one (settings.IMPORT_EXPORT_*_CODE).
LABEL_SETS = {"annotator": (403, 200), "reviewer": (403, 200), "data_lead": (200, 200), "ml_engineer": (403, 200)}
IMPORT_EXPORT = {
    LabelSchema: {**LABEL_SETS, "admin": (200, 200)},
    Label: {**LABEL_SETS, "admin": (200, 200)},
    # People: only those who manage the team; nobody else learns the team's names and e-mails.
    User: {
        "annotator": (403, 403),
        "reviewer": (403, 403),
        "data_lead": (200, 200),
        "ml_engineer": (403, 403),
        "admin": (200, 200),
    },
}


def objects_for(model, persona):  # noqa: PLR0912 (one branch per registered model)
    """(an object inside the persona's reach, one outside it)."""
    inside, outside = persona.dataset, persona.other_dataset
    someone = UserFactory(role="Annotator")
    if model is Dataset:
        return inside, outside
    if model is Document:
        return DocumentFactory(dataset=inside), DocumentFactory(dataset=outside)
    if model is Record:
        return RecordFactory(dataset=inside), RecordFactory(dataset=outside)
    if model is LabelSchema:
        return LabelSchemaFactory(dataset=inside), LabelSchemaFactory(dataset=outside)
    if model is Label:
        return LabelFactory(schema__dataset=inside), LabelFactory(schema__dataset=outside)
    if model is Annotation:
        author = persona.user or someone
        return AnnotationFactory(record__dataset=inside, annotator=author), AnnotationFactory(record__dataset=outside)
    if model is Prediction:
        return PredictionFactory(record__dataset=inside), PredictionFactory(record__dataset=outside)
    if model is ClassifierVersion:
        return ClassifierVersionFactory(schema__dataset=inside), ClassifierVersionFactory(schema__dataset=outside)
    if model is LabelEvent:
        return label_event(inside, persona.user or someone), label_event(outside, someone)
    if model is Job:
        return JobFactory(created_by=persona.user), JobFactory(created_by=someone)
    if model is User:
        return someone, UserFactory(is_superuser=True)
    if model is ApiToken:
        return create_token(user=persona.user or someone, name="mine")[0], create_token(user=someone, name="theirs")[0]
    if model is Group:
        return Group.objects.get(name="Annotator"), Group.objects.get(name="Reviewer")
    raise AssertionError(f"{model.__name__} is registered in the admin but has no row in EXPECTED")


def label_event(dataset, person) -> LabelEvent:
    record = RecordFactory(dataset=dataset)
    return LabelEvent.objects.create(
        record=record,
        schema=LabelSchemaFactory(dataset=dataset),
        action=LabelEvent.Action.ANNOTATED,
        actor=person,
        annotator=person,
        new=["positive"],
    )


def test_every_registered_model_has_expectations():
    assert set(admin.site._registry) == set(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_admin_pages_answer_by_role(db, model, role):
    persona = make_persona(role)
    inside, outside = objects_for(model, persona)
    info = (model._meta.app_label, model._meta.model_name)
    urls = [
        reverse("admin:{}_{}_changelist".format(*info)),
        reverse("admin:{}_{}_add".format(*info)),
        reverse("admin:{}_{}_change".format(*info), args=[inside.pk]),
        reverse("admin:{}_{}_change".format(*info), args=[outside.pk]),
    ]
    statuses = tuple(persona.client.get(url).status_code for url in urls)

    if role == "anonymous":
        assert statuses == (302, 302, 302, 302)
        response = persona.client.get(urls[0])
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert statuses == EXPECTED[model][role], (
            f"{role} on {model.__name__}: {dict(zip(urls, statuses, strict=False))}"
        )


def test_every_import_export_admin_has_expectations():
    registry = admin.site._registry
    with_buttons = {model for model, model_admin in registry.items() if isinstance(model_admin, ImportMixin)}

    assert with_buttons == set(IMPORT_EXPORT)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", list(IMPORT_EXPORT), ids=lambda m: m.__name__)
def test_import_and_export_pages_answer_by_role(db, model, role):
    persona = make_persona(role)
    info = (model._meta.app_label, model._meta.model_name)
    urls = [reverse("admin:{}_{}_import".format(*info)), reverse("admin:{}_{}_export".format(*info))]

    statuses = tuple(persona.client.get(url).status_code for url in urls)

    if role == "anonymous":
        assert statuses == (302, 302)
    else:
        assert statuses == IMPORT_EXPORT[model][role], f"{role} on {model.__name__}: {statuses}"
