"""labeling.services.review: reviewers' decisions and data leads' bulk actions, all audited."""

import threading

import pytest
from django.db import connection

from labeling.models import Annotation, Assignment, LabelEvent, LabelSchema, RecordState
from labeling.services.annotate import LabelingError
from labeling.services.review import (
    ReviewConflict,
    clear_annotations,
    review_queue,
    review_record,
    send_to_review,
    set_final_labels,
)
from tests.factories import LabelSchemaFactory, RecordFactory
from tests.labeling.review_scenarios import annotate, annotators, disagreement, label, noun_schema


@pytest.fixture
def schema(reviewer) -> LabelSchema:
    return noun_schema(reviewer.dataset)


@pytest.fixture
def people(schema):
    return annotators(schema.dataset, "ann", "bob")


def final_names(state: RecordState) -> list[str]:
    return sorted(state.final_labels.values_list("name", flat=True))


# --- The queue ---------------------------------------------------------------------------------


def test_two_annotators_disagreeing_put_the_record_in_the_review_queue(schema, people):
    state = disagreement(schema, people, "animal", "plant")

    assert list(review_queue(schema=schema)) == [state]
    assert state.review_reason == RecordState.ReviewReason.DISAGREEMENT


def test_an_unsure_answer_puts_an_agreed_record_in_the_review_queue(schema, people):
    record = RecordFactory(dataset=schema.dataset)
    annotate(schema, record, people[0], "animal", unsure=True)
    annotate(schema, record, people[1], "animal")

    state = review_queue(schema=schema).get()
    assert state.record == record
    assert state.review_reason == RecordState.ReviewReason.UNSURE


def test_review_queue_leaves_out_agreed_records_and_other_label_sets(schema, people):
    disagreement(schema, people, "animal", "animal")
    other = noun_schema(RecordFactory().dataset)
    disagreement(other, annotators(other.dataset, "cy", "di"), "animal", "plant")

    assert list(review_queue(schema=schema)) == []


# --- A reviewer's decision ---------------------------------------------------------------------


def test_review_record_sets_the_final_label_and_marks_it_reviewed(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "plant")

    saved = review_record(
        state_id=state.pk, reviewer=reviewer.user, label_ids=[label(schema, "plant").pk], expected_version=state.version
    )

    saved.refresh_from_db()
    assert saved.status == RecordState.Status.REVIEWED
    assert final_names(saved) == ["plant"]
    assert saved.reviewed_by == reviewer.user
    assert saved.review_reason == ""
    assert saved.version == state.version + 1
    assert list(review_queue(schema=schema)) == []


def test_review_record_with_gold_marks_the_record_gold(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "plant")

    review_record(
        state_id=state.pk,
        reviewer=reviewer.user,
        label_ids=[label(schema, "animal").pk],
        gold=True,
        expected_version=state.version,
    )

    state.refresh_from_db()
    assert state.status == RecordState.Status.GOLD
    assert final_names(state) == ["animal"]


def test_review_record_audits_old_and_new_final_labels_with_the_note(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "animal")  # agreed: final label "animal"
    assert final_names(state) == ["animal"]

    review_record(
        state_id=state.pk,
        reviewer=reviewer.user,
        label_ids=[label(schema, "food").pk],
        expected_version=state.version,
        note="a cake is food",
    )

    event = LabelEvent.objects.filter(record=state.record, action=LabelEvent.Action.REVIEWED).get()
    assert (event.actor, event.old, event.new, event.note) == (reviewer.user, ["animal"], ["food"], "a cake is food")


def test_review_record_with_a_stale_version_raises_conflict_and_saves_nothing(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "plant")
    seen = state.version
    review_record(
        state_id=state.pk, reviewer=reviewer.user, label_ids=[label(schema, "plant").pk], expected_version=seen
    )
    events = LabelEvent.objects.count()

    with pytest.raises(ReviewConflict, match=r"changed by reviewer at .*Nothing was saved"):
        review_record(
            state_id=state.pk, reviewer=reviewer.user, label_ids=[label(schema, "animal").pk], expected_version=seen
        )

    state.refresh_from_db()
    assert final_names(state) == ["plant"]
    assert LabelEvent.objects.count() == events


def test_conflict_names_whoever_changed_the_record_last(schema, people, reviewer, data_lead):
    state = disagreement(schema, people, "animal", "plant")
    review_record(
        state_id=state.pk, reviewer=reviewer.user, label_ids=[label(schema, "plant").pk], expected_version=state.version
    )
    state.refresh_from_db()
    opened = state.version
    send_to_review(schema=schema, record_ids=[state.record_id], user=data_lead.user)

    with pytest.raises(ReviewConflict, match="changed by data_lead at"):
        review_record(
            state_id=state.pk, reviewer=reviewer.user, label_ids=[label(schema, "animal").pk], expected_version=opened
        )


def test_a_late_annotation_makes_the_reviewers_version_stale(schema, reviewer):
    schema.dataset.overlap = 3
    schema.dataset.save()
    ann, bob, _cy = annotators(schema.dataset, "ann", "bob", "cy")
    record = RecordFactory(dataset=schema.dataset)
    annotate(schema, record, ann, "animal")
    state = RecordState.objects.get(record=record, schema=schema)
    opened_at = state.version

    annotate(schema, record, bob, "plant")

    with pytest.raises(ReviewConflict):
        review_record(
            state_id=state.pk,
            reviewer=reviewer.user,
            label_ids=[label(schema, "animal").pk],
            expected_version=opened_at,
        )


def test_review_record_refuses_a_label_of_another_label_set(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "plant")
    foreign = LabelSchemaFactory(dataset=schema.dataset, name="Sentiment").labels.create(name="positive")

    with pytest.raises(LabelingError, match="do not belong to this label set"):
        review_record(state_id=state.pk, reviewer=reviewer.user, label_ids=[foreign.pk], expected_version=state.version)

    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED


def test_single_label_review_refuses_two_labels(schema, people, reviewer):
    state = disagreement(schema, people, "animal", "plant")

    with pytest.raises(LabelingError, match="exactly one label"):
        review_record(
            state_id=state.pk,
            reviewer=reviewer.user,
            label_ids=[label(schema, "animal").pk, label(schema, "plant").pk],
            expected_version=state.version,
        )


def test_multi_label_review_keeps_every_chosen_label(reviewer):
    schema = noun_schema(reviewer.dataset, kind=LabelSchema.Kind.MULTI)
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob"), "animal", "food")

    review_record(
        state_id=state.pk,
        reviewer=reviewer.user,
        label_ids=[label(schema, "animal").pk, label(schema, "food").pk],
        expected_version=state.version,
    )

    assert final_names(state) == ["animal", "food"]


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_saving_the_same_record_at_once_never_lose_an_update():
    """Two reviewers open the same disputed records and save different labels at the same moment,
    from two threads on two database connections: each time one wins, the other is told."""
    from tests.conftest import make_persona  # a transactional test cannot use the db-bound fixtures

    first = make_persona("reviewer")
    schema = noun_schema(first.dataset)
    second = make_persona("data_lead")
    schema.dataset.memberships.create(user=second.user)
    people = annotators(schema.dataset, "ann", "bob")
    states = [disagreement(schema, people, "animal", "plant") for _ in range(5)]
    choices = {first.user.pk: label(schema, "animal").pk, second.user.pk: label(schema, "plant").pk}

    for state in states:
        seen = state.version
        start = threading.Barrier(2)
        outcomes: dict[int, str] = {}

        def decide(user, state=state, seen=seen, start=start, outcomes=outcomes):
            try:
                start.wait(timeout=10)
                review_record(state_id=state.pk, reviewer=user, label_ids=[choices[user.pk]], expected_version=seen)
                outcomes[user.pk] = "saved"
            except ReviewConflict:
                outcomes[user.pk] = "conflict"
            finally:
                connection.close()  # each thread opened its own connection

        threads = [threading.Thread(target=decide, args=(person.user,)) for person in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(outcomes.values()) == ["conflict", "saved"]
        winner = next(pk for pk, outcome in outcomes.items() if outcome == "saved")
        state.refresh_from_db()
        assert state.version == seen + 1
        assert state.reviewed_by_id == winner
        assert list(state.final_labels.values_list("pk", flat=True)) == [choices[winner]]
        winning_label = "animal" if winner == first.user.pk else "plant"
        events = LabelEvent.objects.filter(record=state.record, action=LabelEvent.Action.REVIEWED)
        assert list(events.values_list("actor_id", "new")) == [(winner, [winning_label])]


# --- Bulk actions of data leads ----------------------------------------------------------------


def test_send_to_review_puts_agreed_records_in_the_queue_and_audits(schema, people, data_lead):
    state = disagreement(schema, people, "animal", "animal")

    assert send_to_review(schema=schema, record_ids=[state.record_id], user=data_lead.user) == 1

    state.refresh_from_db()
    assert (state.status, state.review_reason) == (RecordState.Status.DISPUTED, RecordState.ReviewReason.SENT)
    assert list(review_queue(schema=schema)) == [state]
    event = LabelEvent.objects.get(record=state.record, action=LabelEvent.Action.SENT_TO_REVIEW)
    assert event.actor == data_lead.user


def test_send_to_review_touches_no_record_of_another_dataset(schema, data_lead):
    stranger = RecordFactory()  # of another dataset: no state under this label set

    assert send_to_review(schema=schema, record_ids=[stranger.pk], user=data_lead.user) == 0
    assert not LabelEvent.objects.filter(record=stranger).exists()


def test_clear_annotations_removes_answers_and_final_label_and_audits_each(schema, people, data_lead):
    state = disagreement(schema, people, "animal", "animal")

    clear_annotations(schema=schema, record_ids=[state.record_id], user=data_lead.user)

    state.refresh_from_db()
    assert state.status == RecordState.Status.UNLABELED
    assert (state.human_annotations, final_names(state)) == (0, [])
    assert not Annotation.objects.filter(record=state.record).exists()
    assert not Assignment.objects.filter(state=state).exists()
    cleared = LabelEvent.objects.filter(record=state.record, action=LabelEvent.Action.CLEARED)
    assert sorted((e.annotator_id, e.old, e.note) for e in cleared if e.annotator_id) == sorted(
        (person.pk, ["animal"], "") for person in people
    )
    assert cleared.get(annotator=None).old == ["animal"]  # the final label, kept in the trail
    assert {e.actor for e in cleared} == {data_lead.user}


def test_set_final_labels_marks_records_reviewed_and_audits_old_and_new(schema, people, data_lead):
    agreed = disagreement(schema, people, "animal", "animal")
    disputed = disagreement(schema, people, "animal", "plant")

    count = set_final_labels(
        schema=schema,
        record_ids=[agreed.record_id, disputed.record_id],
        label_ids=[label(schema, "food").pk],
        user=data_lead.user,
    )

    assert count == 2
    for state in (agreed, disputed):
        state.refresh_from_db()
        assert (state.status, final_names(state), state.reviewed_by) == (
            RecordState.Status.REVIEWED,
            ["food"],
            data_lead.user,
        )
    events = LabelEvent.objects.filter(action=LabelEvent.Action.REVIEWED, note="bulk")
    assert sorted((e.record_id, e.old, e.new) for e in events) == sorted(
        [(agreed.record_id, ["animal"], ["food"]), (disputed.record_id, [], ["food"])]
    )


def test_set_final_labels_refuses_a_label_of_another_label_set(schema, people, data_lead):
    state = disagreement(schema, people, "animal", "plant")
    foreign = noun_schema(RecordFactory().dataset)

    with pytest.raises(LabelingError):
        set_final_labels(
            schema=schema, record_ids=[state.record_id], label_ids=[label(foreign, "food").pk], user=data_lead.user
        )

    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED
