"""The records list and the record page, labeling side: the status filter, data leads' bulk actions
(send to review, clear annotations, set final label…) and the record's status and history."""

import pytest
from django.urls import reverse

from labeling.models import Annotation, LabelEvent, LabelSchema, RecordState
from labeling.services.annotate import save_annotation
from labeling.services.queue import prepare_queue
from tests.conftest import make_persona
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory

RECORDS = reverse("admin:corpus_record_changelist")


def make_schema(dataset, name="Sentiment", kind=LabelSchema.Kind.SINGLE) -> LabelSchema:
    schema = LabelSchemaFactory(dataset=dataset, name=name, kind=kind)
    LabelFactory(schema=schema, name="positive")
    LabelFactory(schema=schema, name="negative")
    return schema


def annotate(schema, record, name, *, user=None):
    prepare_queue(schema=schema)
    user = user or UserFactory(role="Annotator")
    save_annotation(schema=schema, record_id=record.pk, user=user, label_ids=[schema.labels.get(name=name).pk])
    return user


def state_of(schema, record) -> RecordState:
    return RecordState.objects.get(schema=schema, record=record)


def listed_ids(response) -> set[int]:
    return {record.pk for record in response.context["cl"].result_list}


def action_names(response) -> set[str]:
    form = response.context["action_form"]  # None when the person has no action at all
    return {name for name, _ in form.fields["action"].choices} if form else set()


@pytest.fixture
def sentiment(data_lead) -> LabelSchema:
    return make_schema(data_lead.dataset)


# --- the status filter ------------------------------------------------------------------------


def test_status_filter_lists_records_of_that_status(data_lead, sentiment):
    data_lead.dataset.overlap = 2
    data_lead.dataset.save()
    disputed, in_progress = RecordFactory.create_batch(2, dataset=data_lead.dataset)
    annotate(sentiment, disputed, "positive")
    annotate(sentiment, disputed, "negative")
    annotate(sentiment, in_progress, "positive")

    response = data_lead.client.get(RECORDS, {"label_status": "disputed"})

    assert listed_ids(response) == {disputed.pk}


def test_unlabeled_includes_records_the_queue_has_not_reached(data_lead, sentiment):
    labeled = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, labeled, "positive")
    never_served = RecordFactory(dataset=data_lead.dataset)

    response = data_lead.client.get(RECORDS, {"label_status": "unlabeled"})

    assert never_served.pk in listed_ids(response)
    assert labeled.pk not in listed_ids(response)


def test_status_filter_follows_the_chosen_label_set(data_lead, sentiment):
    topic = make_schema(data_lead.dataset, name="Topic")
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "positive")

    by_sentiment = data_lead.client.get(RECORDS, {"label_set": sentiment.pk, "label_status": "labeled"})
    by_topic = data_lead.client.get(RECORDS, {"label_set": topic.pk, "label_status": "labeled"})
    topic_unlabeled = data_lead.client.get(RECORDS, {"label_set": topic.pk, "label_status": "unlabeled"})

    assert listed_ids(by_sentiment) == {record.pk}
    assert listed_ids(by_topic) == set()
    assert listed_ids(topic_unlabeled) == {record.pk}


def test_label_set_chooser_left_at_all_filters_nothing_out(data_lead, sentiment):
    make_schema(data_lead.dataset, name="Topic")
    record = RecordFactory(dataset=data_lead.dataset)

    response = data_lead.client.get(RECORDS, {"label_set": "", "label_status": ""})

    assert listed_ids(response) == {record.pk}


def test_label_set_chooser_appears_only_when_there_is_a_choice(data_lead, sentiment):
    single = data_lead.client.get(RECORDS)
    make_schema(data_lead.dataset, name="Topic")
    several = data_lead.client.get(RECORDS)

    assert 'name="label_set"' not in single.text
    assert 'name="label_set"' in several.text
    assert 'name="label_status"' in single.text


def test_label_set_chooser_never_names_other_datasets_label_sets(data_lead, sentiment):
    make_schema(data_lead.dataset, name="Topic")
    make_schema(data_lead.other_dataset, name="Secret project")

    response = data_lead.client.get(RECORDS)

    assert "Secret project" not in response.text


# --- bulk actions -----------------------------------------------------------------------------


def test_data_leads_get_the_labeling_bulk_actions(data_lead, sentiment):
    response = data_lead.client.get(RECORDS)

    assert {"send_selected_to_review", "clear_selected_annotations", "set_final_label"} <= action_names(response)


@pytest.mark.parametrize("role", ["reviewer", "ml_engineer"])
def test_other_roles_do_not_get_the_labeling_bulk_actions(db, role):
    persona = make_persona(role)

    response = persona.client.get(RECORDS)

    assert response.status_code == 200
    assert not {"send_selected_to_review", "clear_selected_annotations", "set_final_label"} & action_names(response)


def test_a_reviewer_posting_a_bulk_action_changes_nothing(db):
    persona = make_persona("reviewer")
    schema = make_schema(persona.dataset)
    record = RecordFactory(dataset=persona.dataset)
    annotate(schema, record, "positive")

    persona.client.post(RECORDS, {"action": "clear_selected_annotations", "_selected_action": [record.pk]})

    assert Annotation.objects.filter(record=record).count() == 1


def test_send_to_review_puts_the_records_in_the_review_queue_and_says_how_many(data_lead, sentiment):
    records = RecordFactory.create_batch(2, dataset=data_lead.dataset)
    for record in records:
        annotate(sentiment, record, "positive")

    response = data_lead.client.post(
        RECORDS, {"action": "send_selected_to_review", "_selected_action": [r.pk for r in records]}, follow=True
    )

    assert "2 record(s) of “" in response.text and "sent to review." in response.text
    for record in records:
        state = state_of(sentiment, record)
        assert (state.status, state.review_reason) == (RecordState.Status.DISPUTED, RecordState.ReviewReason.SENT)
    assert LabelEvent.objects.filter(action=LabelEvent.Action.SENT_TO_REVIEW, actor=data_lead.user).count() == 2


def test_clear_annotations_puts_the_records_back_in_the_queue(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "positive")

    response = data_lead.client.post(
        RECORDS, {"action": "clear_selected_annotations", "_selected_action": [record.pk]}, follow=True
    )

    assert "of 1 record(s) of “" in response.text
    assert not Annotation.objects.filter(record=record).exists()
    assert state_of(sentiment, record).status == RecordState.Status.UNLABELED
    assert LabelEvent.objects.filter(action=LabelEvent.Action.CLEARED, record=record).exists()


def test_bulk_actions_leave_records_of_other_datasets_alone(data_lead, sentiment):
    foreign_schema = make_schema(data_lead.other_dataset)
    foreign = RecordFactory(dataset=data_lead.other_dataset)
    annotate(foreign_schema, foreign, "positive")
    mine = RecordFactory(dataset=data_lead.dataset)

    data_lead.client.post(RECORDS, {"action": "clear_selected_annotations", "_selected_action": [mine.pk, foreign.pk]})

    assert Annotation.objects.filter(record=foreign).count() == 1


def test_bulk_actions_follow_the_label_set_chosen_in_the_list(data_lead, sentiment):
    topic = make_schema(data_lead.dataset, name="Topic")
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "positive")
    annotate(topic, record, "negative")

    data_lead.client.post(
        f"{RECORDS}?label_set={topic.pk}", {"action": "clear_selected_annotations", "_selected_action": [record.pk]}
    )

    assert list(Annotation.objects.filter(record=record).values_list("schema_id", flat=True)) == [sentiment.pk]


def test_set_final_label_first_asks_which_label(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)

    page = data_lead.client.post(RECORDS, {"action": "set_final_label", "_selected_action": [record.pk]})

    assert page.status_code == 200
    assert "Set the final label of 1 selected record(s)" in page.text
    assert f'name="_selected_action" value="{record.pk}"' in page.text
    for lab in sentiment.labels.all():
        assert f'value="{lab.pk}"' in page.text
    assert not RecordState.objects.filter(record=record).exclude(status=RecordState.Status.UNLABELED).exists()


def test_set_final_label_sets_it_marks_the_records_reviewed_and_says_how_many(data_lead, sentiment):
    records = RecordFactory.create_batch(3, dataset=data_lead.dataset)
    negative = sentiment.labels.get(name="negative")

    response = data_lead.client.post(
        RECORDS,
        {
            "action": "set_final_label",
            "_selected_action": [r.pk for r in records],
            "apply_final_label": "1",
            "schema": sentiment.pk,
            "labels": [negative.pk],
        },
        follow=True,
    )

    assert "Final label “negative” set on 3 record(s)" in response.text
    for record in records:
        state = state_of(sentiment, record)
        assert state.status == RecordState.Status.REVIEWED
        assert list(state.final_labels.all()) == [negative]
    assert LabelEvent.objects.filter(action=LabelEvent.Action.REVIEWED, new=["negative"]).count() == 3


def test_set_final_label_refuses_two_labels_for_a_single_label_set(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)

    page = data_lead.client.post(
        RECORDS,
        {
            "action": "set_final_label",
            "_selected_action": [record.pk],
            "apply_final_label": "1",
            "schema": sentiment.pk,
            "labels": list(sentiment.labels.values_list("pk", flat=True)),
        },
    )

    assert page.status_code == 200
    assert "takes exactly one label" in page.text
    assert not RecordState.objects.filter(record=record, status=RecordState.Status.REVIEWED).exists()


def test_set_final_label_refuses_another_datasets_label_set(data_lead, sentiment):
    foreign = make_schema(data_lead.other_dataset)
    record = RecordFactory(dataset=data_lead.dataset)

    page = data_lead.client.post(
        RECORDS,
        {
            "action": "set_final_label",
            "_selected_action": [record.pk],
            "apply_final_label": "1",
            "schema": foreign.pk,
            "labels": [foreign.labels.first().pk],
        },
    )

    assert page.status_code == 200
    assert "Select a valid choice" in page.text
    assert not RecordState.objects.filter(status=RecordState.Status.REVIEWED).exists()


def test_set_final_label_on_a_multi_label_set_takes_several(data_lead):
    topics = make_schema(data_lead.dataset, name="Topics", kind=LabelSchema.Kind.MULTI)
    record = RecordFactory(dataset=data_lead.dataset)

    data_lead.client.post(
        RECORDS,
        {
            "action": "set_final_label",
            "_selected_action": [record.pk],
            "apply_final_label": "1",
            "schema": topics.pk,
            "labels": list(topics.labels.values_list("pk", flat=True)),
        },
    )

    assert {lab.name for lab in state_of(topics, record).final_labels.all()} == {"positive", "negative"}


# --- the record page --------------------------------------------------------------------------


def record_page(persona, record):
    return persona.client.get(reverse("admin:corpus_record_change", args=[record.pk]))


def test_record_page_shows_its_history_newest_first(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    anna = UserFactory(username="anna", role="Annotator")
    annotate(sentiment, record, "positive", user=anna)
    data_lead.client.post(RECORDS, {"action": "send_selected_to_review", "_selected_action": [record.pk]})

    response = record_page(data_lead, record)

    history = response.context["record_history"]
    assert [event.action for event in history] == [LabelEvent.Action.SENT_TO_REVIEW, LabelEvent.Action.ANNOTATED]
    assert "Sent to review" in response.text and "Annotated" in response.text
    assert "anna" in response.text
    assert "— → positive" in response.text


def test_record_page_shows_status_and_final_label_per_label_set(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    annotate(sentiment, record, "negative")
    make_schema(data_lead.dataset, name="Topic")

    response = record_page(data_lead, record)

    rows = {row["schema"].name: row for row in response.context["record_label_sets"]}
    assert rows["Sentiment"]["status"] == "Labeled"
    assert [lab.name for lab in rows["Sentiment"]["final_labels"]] == ["negative"]
    assert rows["Topic"]["status"] == "Unlabeled"


@pytest.mark.parametrize(("role", "reviews"), [("reviewer", True), ("data_lead", True), ("ml_engineer", False)])
def test_record_page_links_to_reviewing_it_for_reviewers(db, role, reviews):
    persona = make_persona(role)
    schema = make_schema(persona.dataset)
    record = RecordFactory(dataset=persona.dataset)

    response = record_page(persona, record)

    assert response.status_code == 200
    assert (reverse("admin:labeling_review_record", args=[schema.pk, record.pk]) in response.text) is reviews
    assert ("Review this record" in response.text) is reviews


def test_record_history_is_shown_escaped(data_lead, sentiment):
    record = RecordFactory(dataset=data_lead.dataset)
    LabelEvent.objects.create(
        record=record,
        schema=sentiment,
        action=LabelEvent.Action.ANNOTATED,
        actor=data_lead.user,
        new=["<b>bold</b>"],
        note="<script>alert(1)</script>",
    )

    response = record_page(data_lead, record)

    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in response.text


def test_record_page_of_another_dataset_is_not_found(data_lead):
    foreign = RecordFactory(dataset=data_lead.other_dataset)

    assert record_page(data_lead, foreign).status_code == 404


def test_a_data_lead_can_still_edit_a_records_text(data_lead):
    # The record form has a field named "dataset", which unfold once took for a table action.
    record = RecordFactory(dataset=data_lead.dataset, text="Old text")

    response = data_lead.client.post(
        reverse("admin:corpus_record_change", args=[record.pk]),
        {"dataset": data_lead.dataset.pk, "text": "New text", "external_id": "", "meta": "{}"},
    )

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.text == "New text"
