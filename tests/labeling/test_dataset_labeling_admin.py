"""The dataset page's labeling side: its settings, the records settled again when the overlap
changes, the status counts per label set and the ways into the annotate and review screens."""

import pytest
from django.urls import reverse

from labeling.models import Annotation, LabelSchema, RecordState
from labeling.services import annotate as annotate_service
from labeling.services.annotate import resettle_dataset, save_annotation
from labeling.services.queue import prepare_queue
from labeling.services.review import review_record, send_to_review
from tests.conftest import make_persona
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory


def settings_form(dataset, **changes) -> dict:
    """The dataset's change form as the page would post it, with `changes` applied."""
    data = {
        "name": dataset.name,
        "description": dataset.description,
        "instructions": dataset.instructions,
        "overlap": str(dataset.overlap),
        "lease_minutes": str(dataset.lease_minutes),
        "queue_order": dataset.queue_order,
        "memberships-TOTAL_FORMS": str(dataset.memberships.count()),
        "memberships-INITIAL_FORMS": str(dataset.memberships.count()),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    if dataset.show_suggestions:
        data["show_suggestions"] = "on"
    if dataset.agreement_counts_imported:
        data["agreement_counts_imported"] = "on"
    for index, membership in enumerate(dataset.memberships.all()):
        data[f"memberships-{index}-id"] = str(membership.pk)
        data[f"memberships-{index}-user"] = str(membership.user_id)
        data[f"memberships-{index}-dataset"] = str(dataset.pk)
    data.update({key: str(value) for key, value in changes.items()})
    return data


def change_url(dataset) -> str:
    return reverse("admin:corpus_dataset_change", args=[dataset.pk])


@pytest.fixture
def sentiment(data_lead) -> LabelSchema:
    schema = LabelSchemaFactory(dataset=data_lead.dataset, name="Sentiment")
    LabelFactory(schema=schema, name="positive")
    LabelFactory(schema=schema, name="negative")
    return schema


def label(schema, name):
    return schema.labels.get(name=name)


def annotate(schema, record, name, *, user=None):
    prepare_queue(schema=schema)
    user = user or UserFactory(role="Annotator")
    save_annotation(schema=schema, record_id=record.pk, user=user, label_ids=[label(schema, name).pk])
    return user


def state_of(schema, record) -> RecordState:
    return RecordState.objects.get(schema=schema, record=record)


def test_dataset_page_shows_the_labeling_settings_with_their_help(data_lead):
    response = data_lead.client.get(change_url(data_lead.dataset))

    assert response.status_code == 200
    for field in ["overlap", "lease_minutes", "queue_order", "show_suggestions", "agreement_counts_imported"]:
        assert f'name="{field}"' in response.text
    assert "How many annotators must label each record" in response.text
    assert "Count labels imported with the data as one more annotator" in response.text


def test_data_lead_saves_the_labeling_settings(data_lead):
    dataset = data_lead.dataset

    response = data_lead.client.post(
        change_url(dataset), settings_form(dataset, overlap=3, lease_minutes=30, queue_order="random")
    )

    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.overlap, dataset.lease_minutes, dataset.queue_order) == (3, 30, "random")


def test_an_overlap_above_twenty_is_refused_in_words(data_lead):
    response = data_lead.client.post(change_url(data_lead.dataset), settings_form(data_lead.dataset, overlap=21))

    assert response.status_code == 200
    assert "less than or equal to 20" in response.text
    data_lead.dataset.refresh_from_db()
    assert data_lead.dataset.overlap == 1


def test_raising_the_overlap_sends_labeled_records_back_to_the_queue(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "positive")
    assert state_of(sentiment, record).status == RecordState.Status.LABELED

    response = data_lead.client.post(change_url(data_lead.dataset), settings_form(data_lead.dataset, overlap=2))

    assert response.status_code == 302
    state = state_of(sentiment, record)
    assert state.status == RecordState.Status.IN_PROGRESS
    assert list(state.final_labels.all()) == []


def test_lowering_the_overlap_settles_records_that_now_have_enough_annotations(data_lead, sentiment):
    data_lead.dataset.overlap = 2
    data_lead.dataset.save()
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "negative")
    assert state_of(sentiment, record).status == RecordState.Status.IN_PROGRESS

    data_lead.client.post(change_url(data_lead.dataset), settings_form(data_lead.dataset, overlap=1))

    state = state_of(sentiment, record)
    assert state.status == RecordState.Status.LABELED
    assert [lab.name for lab in state.final_labels.all()] == ["negative"]


def test_changing_the_overlap_says_how_many_records_changed_status(data_lead, sentiment):
    for record in RecordFactory.create_batch(2, dataset=data_lead.dataset):
        annotate(sentiment, record, "positive")

    response = data_lead.client.post(
        change_url(data_lead.dataset), settings_form(data_lead.dataset, overlap=2), follow=True
    )

    assert "2 record(s) changed status under the new settings." in response.text


def test_counting_imported_labels_as_votes_settles_records_again(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    imported = Annotation.objects.create(record=record, schema=sentiment, source=Annotation.Source.IMPORTED)
    imported.labels.set([label(sentiment, "negative")])
    annotate(sentiment, record, "positive")
    assert state_of(sentiment, record).status == RecordState.Status.LABELED

    data_lead.client.post(
        change_url(data_lead.dataset), settings_form(data_lead.dataset, agreement_counts_imported="on")
    )

    state = state_of(sentiment, record)
    assert (state.status, state.review_reason) == (RecordState.Status.DISPUTED, RecordState.ReviewReason.DISAGREEMENT)


def test_resettling_keeps_reviewers_decisions_and_records_sent_to_review(data_lead, sentiment):
    reviewed, sent = RecordFactory.create_batch(2, dataset=data_lead.dataset)
    annotate(sentiment, reviewed, "positive")
    annotate(sentiment, sent, "positive")
    state = state_of(sentiment, reviewed)
    review_record(
        state_id=state.pk,
        reviewer=data_lead.user,
        label_ids=[label(sentiment, "negative").pk],
        expected_version=state.version,
    )
    send_to_review(schema=sentiment, record_ids=[sent.pk], user=data_lead.user)
    data_lead.dataset.overlap = 3
    data_lead.dataset.save()

    settled = resettle_dataset(dataset=data_lead.dataset)

    assert settled == 0
    assert state_of(sentiment, reviewed).status == RecordState.Status.REVIEWED
    assert [lab.name for lab in state_of(sentiment, reviewed).final_labels.all()] == ["negative"]
    assert state_of(sentiment, sent).review_reason == RecordState.ReviewReason.SENT


def test_resettling_touches_only_records_whose_status_no_longer_follows(data_lead, sentiment):
    labeled, unlabeled = RecordFactory.create_batch(2, dataset=data_lead.dataset)
    annotate(sentiment, labeled, "positive")
    untouched_version = state_of(sentiment, unlabeled).version
    data_lead.dataset.overlap = 2
    data_lead.dataset.save()

    settled = resettle_dataset(dataset=data_lead.dataset)

    assert settled == 1
    assert state_of(sentiment, unlabeled).version == untouched_version


def test_resettling_works_through_the_dataset_in_batches(data_lead, sentiment, monkeypatch):
    monkeypatch.setattr(annotate_service, "RESETTLE_BATCH", 2)
    records = RecordFactory.create_batch(5, dataset=data_lead.dataset)
    for record in records:
        annotate(sentiment, record, "positive")
    data_lead.dataset.overlap = 2
    data_lead.dataset.save()

    settled = resettle_dataset(dataset=data_lead.dataset)

    assert settled == 5
    assert set(RecordState.objects.filter(schema=sentiment).values_list("status", flat=True)) == {"in_progress"}


def test_dataset_page_counts_records_by_status_per_label_set(data_lead, sentiment):
    data_lead.dataset.overlap = 2
    data_lead.dataset.save()
    in_progress, disputed = RecordFactory.create_batch(2, dataset=data_lead.dataset)
    annotate(sentiment, in_progress, "positive")
    annotate(sentiment, disputed, "positive")
    annotate(sentiment, disputed, "negative")
    RecordFactory.create_batch(3, dataset=data_lead.dataset)  # not reached by the queue yet: unlabeled

    response = data_lead.client.get(change_url(data_lead.dataset))

    counts = {status: count for status, count in response.context["dataset_label_sets"][0]["statuses"]}
    assert counts == {
        "Unlabeled": 3,
        "In progress": 1,
        "Labeled": 0,
        "Disputed": 1,
        "Reviewed": 0,
        "Gold": 0,
    }
    assert "Review (1 disputed)" in response.text


@pytest.mark.parametrize(
    ("role", "annotates", "reviews"),
    [("annotator", True, False), ("reviewer", True, True), ("data_lead", True, True), ("ml_engineer", False, False)],
)
def test_dataset_page_offers_annotating_and_reviewing_by_role(db, role, annotates, reviews):
    persona = make_persona(role)
    schema = LabelSchemaFactory(dataset=persona.dataset)

    response = persona.client.get(change_url(persona.dataset))

    assert response.status_code == 200
    assert (reverse("admin:labeling_annotate", args=[schema.pk]) in response.text) is annotates
    assert ("Start annotating" in response.text) is annotates
    assert (reverse("admin:labeling_review", args=[schema.pk]) in response.text) is reviews


def test_dataset_page_says_when_there_is_no_label_set(data_lead):
    response = data_lead.client.get(change_url(data_lead.dataset))

    assert "This dataset has no label set yet" in response.text


def test_label_set_names_are_shown_escaped_on_the_dataset_page(data_lead):
    LabelSchemaFactory(dataset=data_lead.dataset, name="<script>alert(1)</script>")

    response = data_lead.client.get(change_url(data_lead.dataset))

    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
