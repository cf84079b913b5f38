"""Classification in the admin: who may start it, the metrics page, suggestions on the records list."""

import pytest
from django.urls import reverse

from jobs.models import Job
from labeling.models import ClassifierVersion
from tests.factories import (
    ClassifierVersionFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
)

SCHEMAS = reverse("admin:labeling_labelschema_changelist")
RECORDS = reverse("admin:corpus_record_changelist")


@pytest.fixture
def schema_of(request):
    def make(persona):
        schema = LabelSchemaFactory(dataset=persona.dataset, name="Topic")
        LabelFactory(schema=schema, name="Shipping", description="late parcel courier")
        LabelFactory(schema=schema, name="Quality", description="fabric colour stitching")
        RecordFactory(dataset=persona.dataset, text="the courier lost my parcel")
        return schema

    return make


@pytest.mark.parametrize("action", ["train_classifier", "classify_records"])
def test_an_ml_engineer_starts_classifier_jobs_from_the_schema_list(
    ml_engineer, schema_of, action, django_capture_on_commit_callbacks
):
    schema = schema_of(ml_engineer)

    with django_capture_on_commit_callbacks(execute=True):
        response = ml_engineer.client.post(SCHEMAS, {"action": action, "_selected_action": [schema.pk]}, follow=True)

    assert response.status_code == 200
    job = Job.objects.get()
    assert job.kind == {"train_classifier": "train", "classify_records": "classify"}[action]
    assert job.params["schema_id"] == schema.pk
    assert job.created_by == ml_engineer.user
    assert f"job #{job.pk}" in response.content.decode()


@pytest.mark.parametrize("persona", ["data_lead", "reviewer"])
def test_other_roles_cannot_start_classifier_jobs(persona, request, schema_of):
    person = request.getfixturevalue(persona)
    schema = schema_of(person)

    person.client.post(SCHEMAS, {"action": "classify_records", "_selected_action": [schema.pk]})

    assert not Job.objects.exists()


def test_the_classifier_page_shows_the_metrics_as_an_escaped_table(ml_engineer):
    classifier = ClassifierVersionFactory(
        schema=LabelSchemaFactory(dataset=ml_engineer.dataset),
        kind=ClassifierVersion.Kind.TRAINED,
        metrics={
            "records": 12,
            "accuracy": 0.8333,
            "macro_f1": 0.8,
            "per_label": [
                {"label": "<b>Shipping</b>", "precision": 0.9, "recall": 0.75, "f1": 0.8182, "support": 8},
            ],
        },
    )

    response = ml_engineer.client.get(reverse("admin:labeling_classifierversion_change", args=[classifier.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "0.833" in body
    assert "&lt;b&gt;Shipping&lt;/b&gt;" in body
    assert '<td class="px-3 py-1 text-right">0.75</td>' in body


def test_the_records_list_filters_by_predicted_label_and_sorts_by_confidence(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    shipping = LabelFactory(schema=schema, name="Shipping")
    quality = LabelFactory(schema=schema, name="Quality")
    unsure, sure, other = RecordFactory.create_batch(3, dataset=reviewer.dataset)
    PredictionFactory(record=unsure, schema=schema, label=shipping, score=0.55)
    PredictionFactory(record=sure, schema=schema, label=shipping, score=0.97)
    PredictionFactory(record=other, schema=schema, label=quality, score=0.99)

    # "o" sorts by a list_display column; ask for the confidence column, descending.
    columns = reviewer.client.get(RECORDS).context["cl"].list_display
    confidence = columns.index("confidence")
    response = reviewer.client.get(RECORDS, {"predicted_label": shipping.pk, "o": f"-{confidence}"})

    assert [r.pk for r in response.context["cl"].result_list] == [sure.pk, unsure.pk]
    assert "0.97" in response.content.decode()


def test_the_predicted_label_filter_offers_no_labels_of_foreign_datasets(reviewer):
    LabelFactory(schema=LabelSchemaFactory(dataset=reviewer.other_dataset), name="Secret label")

    response = reviewer.client.get(RECORDS)

    assert "Secret label" not in response.content.decode()


def test_the_record_page_shows_the_records_suggestions(reviewer):
    record = RecordFactory(dataset=reviewer.dataset)
    schema = LabelSchemaFactory(dataset=reviewer.dataset, name="Topic")
    PredictionFactory(record=record, schema=schema, label=LabelFactory(schema=schema, name="Shipping"), score=0.875)

    response = reviewer.client.get(reverse("admin:corpus_record_change", args=[record.pk]))

    assert "Topic: Shipping (0.88, test-model v1)" in response.content.decode()
