"""Labels: a rename keeps the annotations and is audited; a label that people's work names is
never deleted along the way (its page, the bulk action, the label set's page)."""

import pytest
from django.urls import reverse

from labeling.models import Annotation, Label, LabelEvent, LabelSchema, RecordState
from labeling.services.annotate import save_annotation
from labeling.services.queue import prepare_queue
from labeling.services.review import set_final_labels
from tests.factories import (
    AnnotationFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
    UserFactory,
)


@pytest.fixture
def sentiment(data_lead) -> LabelSchema:
    return LabelSchemaFactory(dataset=data_lead.dataset, name="Sentiment")


def label_form(label, **changes) -> dict:
    data = {
        "schema": label.schema_id,
        "name": label.name,
        "description": label.description,
        "hotkey": label.hotkey,
        "color": label.color,
        "order": label.order,
    }
    data.update(changes)
    return data


def schema_form(schema, *, rows: list[dict]) -> dict:
    """The label set's page with its label rows (`rows`: the fields of each, `id` for existing)."""
    existing = [row for row in rows if row.get("id")]
    data = {
        "dataset": schema.dataset_id,
        "name": schema.name,
        "kind": schema.kind,
        "labels-TOTAL_FORMS": str(len(rows)),
        "labels-INITIAL_FORMS": str(len(existing)),
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in {"schema": schema.pk, "order": 0, "color": "#6366f1", **row}.items():
            data[f"labels-{index}-{key}"] = value
    return data


def label_row(label, **changes) -> dict:
    return {"id": label.pk, "name": label.name, "hotkey": label.hotkey, "color": label.color, **changes}


def test_renaming_a_label_keeps_its_annotations(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="postive")
    annotation = AnnotationFactory(record__dataset=data_lead.dataset, schema=sentiment, labels=[label])

    response = data_lead.client.post(
        reverse("admin:labeling_label_change", args=[label.pk]), label_form(label, name="positive")
    )

    assert response.status_code == 302
    assert [lab.name for lab in annotation.labels.all()] == ["positive"]


def test_renaming_a_label_is_written_to_the_audit_trail(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="postive")

    data_lead.client.post(reverse("admin:labeling_label_change", args=[label.pk]), label_form(label, name="positive"))

    event = LabelEvent.objects.get()
    assert (event.action, event.old, event.new) == (LabelEvent.Action.LABEL_RENAMED, ["postive"], ["positive"])
    assert (event.actor, event.record, event.schema) == (data_lead.user, None, sentiment)


def test_changing_only_a_labels_colour_writes_no_rename(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="positive")

    data_lead.client.post(reverse("admin:labeling_label_change", args=[label.pk]), label_form(label, color="#22c55e"))

    label.refresh_from_db()
    assert label.color == "#22c55e"
    assert not LabelEvent.objects.exists()


def test_renaming_a_label_on_the_label_set_page_is_audited(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="neg")

    response = data_lead.client.post(
        reverse("admin:labeling_labelschema_change", args=[sentiment.pk]),
        schema_form(sentiment, rows=[label_row(label, name="negative")]),
    )

    assert response.status_code == 302
    label.refresh_from_db()
    assert label.name == "negative"
    assert LabelEvent.objects.get().new == ["negative"]


def test_a_rename_shows_in_the_history_of_people_who_see_the_dataset(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="neg")
    data_lead.client.post(reverse("admin:labeling_label_change", args=[label.pk]), label_form(label, name="negative"))

    response = data_lead.client.get(reverse("admin:labeling_labelevent_changelist"))

    assert "Renamed a label" in response.text
    assert "neg → negative" in response.text


def test_deleting_a_label_in_use_is_refused_and_says_what_uses_it(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="positive")
    AnnotationFactory.create_batch(2, record__dataset=data_lead.dataset, schema=sentiment, labels=[label])
    url = reverse("admin:labeling_label_delete", args=[label.pk])

    page = data_lead.client.get(url)
    data_lead.client.post(url, {"post": "yes"})

    assert "“positive” is used by 2 annotations" in page.text
    assert 'name="post"' not in page.text  # no confirm button
    assert Label.objects.filter(pk=label.pk).exists()
    assert Annotation.objects.filter(labels=label).count() == 2


def test_a_label_that_is_a_final_label_cannot_be_deleted(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="positive")
    record = RecordFactory(dataset=data_lead.dataset)
    set_final_labels(schema=sentiment, record_ids=[record.pk], label_ids=[label.pk], user=data_lead.user)
    Annotation.objects.all().delete()

    page = data_lead.client.get(reverse("admin:labeling_label_delete", args=[label.pk]))

    assert "“positive” is used by 1 final label" in page.text
    assert RecordState.objects.get(record=record).final_labels.get() == label


def test_bulk_delete_refuses_labels_in_use_and_deletes_nothing(data_lead, sentiment):
    used = LabelFactory(schema=sentiment, name="positive")
    unused = LabelFactory(schema=sentiment, name="negative")
    AnnotationFactory(record__dataset=data_lead.dataset, schema=sentiment, labels=[used])

    response = data_lead.client.post(
        reverse("admin:labeling_label_changelist"),
        {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], "post": "yes"},
    )

    assert response.status_code == 200
    assert "“positive” is used by 1 annotation" in response.text
    assert Label.objects.filter(pk__in=[used.pk, unused.pk]).count() == 2


def test_a_label_with_only_predictions_is_deleted_with_them_after_a_confirmation_that_lists_them(admin_persona):
    # Predictions are the model's, made again by a classification job: listed, not refused.
    # (Data leads may not delete predictions, so Django refuses them this label anyway.)
    label = LabelFactory(schema__dataset=admin_persona.dataset, name="positive")
    prediction = PredictionFactory(record__dataset=admin_persona.dataset, schema=label.schema, label=label)
    url = reverse("admin:labeling_label_delete", args=[label.pk])

    page = admin_persona.client.get(url)
    response = admin_persona.client.post(url, {"post": "yes"})

    assert str(prediction) in page.text
    assert response.status_code == 302
    assert not Label.objects.filter(pk=label.pk).exists()


def test_deleting_a_label_row_in_use_on_the_label_set_page_names_it(data_lead, sentiment):
    used = LabelFactory(schema=sentiment, name="positive")
    AnnotationFactory(record__dataset=data_lead.dataset, schema=sentiment, labels=[used])

    response = data_lead.client.post(
        reverse("admin:labeling_labelschema_change", args=[sentiment.pk]),
        schema_form(sentiment, rows=[label_row(used, DELETE="on")]),
    )

    assert response.status_code == 200
    assert "“positive” is used by 1 annotation: clear or relabel those records first." in response.text
    assert Label.objects.filter(pk=used.pk).exists()


def test_deleting_an_unused_label_row_on_the_label_set_page_works(data_lead, sentiment):
    unused = LabelFactory(schema=sentiment, name="neutral")

    response = data_lead.client.post(
        reverse("admin:labeling_labelschema_change", args=[sentiment.pk]),
        schema_form(sentiment, rows=[label_row(unused, DELETE="on")]),
    )

    assert response.status_code == 302
    assert not Label.objects.filter(pk=unused.pk).exists()


def test_a_label_in_use_by_a_person_counts_as_in_use(data_lead, sentiment):
    label = LabelFactory(schema=sentiment, name="positive")
    record = RecordFactory(dataset=data_lead.dataset)
    prepare_queue(schema=sentiment)
    save_annotation(schema=sentiment, record_id=record.pk, user=UserFactory(role="Annotator"), label_ids=[label.pk])

    page = data_lead.client.get(reverse("admin:labeling_label_delete", args=[label.pk]))

    assert "“positive” is used by 1 annotation, 1 final label" in page.text
