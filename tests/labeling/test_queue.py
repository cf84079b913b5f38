"""The annotation queue and saving answers: leases, overlap, skip, undo, status, audit."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from corpus.models import QueueOrder
from labeling.models import Annotation, Assignment, LabelEvent, RecordState
from labeling.roles import Role
from labeling.services.annotate import (
    LabelingError,
    RecordClosed,
    RecordFull,
    majority_labels,
    save_annotation,
    undo_annotation,
)
from labeling.services.queue import (
    lease_next_record,
    prepare_queue,
    queue_counts,
    recent_assignments,
    skip_record,
)
from labeling.services.review import review_record
from tests.factories import DatasetFactory, LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory


def make_queue(*, records: int = 5, overlap: int = 1, kind: str = "single", order: str = QueueOrder.IMPORTED):
    dataset = DatasetFactory(overlap=overlap, queue_order=order)
    schema = LabelSchemaFactory(dataset=dataset, kind=kind)
    labels = [LabelFactory(schema=schema, name=name) for name in ("positive", "negative", "neutral")]
    rows = [RecordFactory(dataset=dataset) for _ in range(records)]
    prepare_queue(schema=schema)
    return schema, labels, rows


def person(schema, name: str):
    user = UserFactory(username=name, role=Role.ANNOTATOR)
    schema.dataset.memberships.create(user=user)
    return user


def state_of(schema, record) -> RecordState:
    return RecordState.objects.get(schema=schema, record=record)


@pytest.mark.django_db
def test_prepare_queue_adds_each_record_once_and_later_imports_too():
    schema, _, _ = make_queue(records=3)
    assert RecordState.objects.filter(schema=schema).count() == 3
    RecordFactory(dataset=schema.dataset)

    added = prepare_queue(schema=schema)

    assert added == 1
    assert RecordState.objects.filter(schema=schema).count() == 4


@pytest.mark.django_db
def test_annotator_gets_records_in_import_order_and_the_same_one_while_holding_it():
    schema, _, rows = make_queue()
    ann = person(schema, "ann")

    first = lease_next_record(schema=schema, user=ann)
    again = lease_next_record(schema=schema, user=ann)

    assert first.state.record_id == rows[0].pk
    assert again.pk == first.pk
    assert again.expires_at >= first.expires_at


@pytest.mark.django_db
def test_two_annotators_never_share_a_record_with_overlap_one():
    schema, _, rows = make_queue()
    ann, bob = person(schema, "ann"), person(schema, "bob")

    a = lease_next_record(schema=schema, user=ann)
    b = lease_next_record(schema=schema, user=bob)

    assert a.state.record_id == rows[0].pk
    assert b.state.record_id == rows[1].pk


@pytest.mark.django_db
def test_overlap_two_serves_the_same_record_to_two_people_but_not_three():
    schema, _, rows = make_queue(overlap=2)
    ann, bob, cy = person(schema, "ann"), person(schema, "bob"), person(schema, "cy")

    got = [lease_next_record(schema=schema, user=u).state.record_id for u in (ann, bob, cy)]

    assert got == [rows[0].pk, rows[0].pk, rows[1].pk]


@pytest.mark.django_db
def test_an_expired_lease_frees_the_record_for_someone_else():
    schema, _, rows = make_queue()
    ann, bob = person(schema, "ann"), person(schema, "bob")
    held = lease_next_record(schema=schema, user=ann)
    Assignment.objects.filter(pk=held.pk).update(
        leased_at=timezone.now() - timedelta(hours=2), expires_at=timezone.now() - timedelta(hours=1)
    )

    b = lease_next_record(schema=schema, user=bob)

    assert b.state.record_id == rows[0].pk


@pytest.mark.django_db
def test_a_late_answer_on_a_record_filled_meanwhile_is_refused_clearly():
    schema, labels, rows = make_queue()
    ann, bob = person(schema, "ann"), person(schema, "bob")
    held = lease_next_record(schema=schema, user=ann)
    Assignment.objects.filter(pk=held.pk).update(
        leased_at=timezone.now() - timedelta(hours=2), expires_at=timezone.now() - timedelta(hours=1)
    )
    lease_next_record(schema=schema, user=bob)
    save_annotation(schema=schema, record_id=rows[0].pk, user=bob, label_ids=[labels[0].pk])

    with pytest.raises(RecordFull, match="ran out"):
        save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[1].pk])

    assert Annotation.objects.filter(record=rows[0]).count() == 1


@pytest.mark.django_db
def test_nobody_gets_a_record_they_labeled_or_skipped():
    schema, labels, rows = make_queue(records=3, overlap=2)
    ann = person(schema, "ann")
    first = lease_next_record(schema=schema, user=ann)
    save_annotation(schema=schema, record_id=first.state.record_id, user=ann, label_ids=[labels[0].pk])
    second = lease_next_record(schema=schema, user=ann)
    skip_record(assignment=second)

    third = lease_next_record(schema=schema, user=ann)

    assert [first.state.record_id, second.state.record_id, third.state.record_id] == [r.pk for r in rows]
    assert lease_next_record(schema=schema, user=ann) is not None  # still holding the third
    save_annotation(schema=schema, record_id=rows[2].pk, user=ann, label_ids=[labels[0].pk])
    assert lease_next_record(schema=schema, user=ann) is None


@pytest.mark.django_db
def test_random_order_and_most_uncertain_first():
    schema, _, rows = make_queue(records=4, order=QueueOrder.UNCERTAIN)
    RecordState.objects.filter(schema=schema, record=rows[2]).update(uncertainty=0.9)
    RecordState.objects.filter(schema=schema, record=rows[1]).update(uncertainty=0.4)
    ann = person(schema, "ann")

    assert lease_next_record(schema=schema, user=ann).state.record_id == rows[2].pk

    schema.dataset.queue_order = QueueOrder.RANDOM
    schema.dataset.save()
    keys = dict(RecordState.objects.filter(schema=schema).values_list("record_id", "random_key"))
    bob = person(schema, "bob")
    expected = min((k, r) for r, k in keys.items() if r != rows[2].pk)[1]
    assert lease_next_record(schema=schema, user=bob).state.record_id == expected


@pytest.mark.django_db
def test_agreeing_annotators_settle_the_final_label_and_disagreeing_ones_open_a_dispute():
    schema, labels, rows = make_queue(records=2, overlap=2)
    ann, bob = person(schema, "ann"), person(schema, "bob")
    for user in (ann, bob):
        save_annotation(schema=schema, record_id=rows[0].pk, user=user, label_ids=[labels[0].pk])
    save_annotation(schema=schema, record_id=rows[1].pk, user=ann, label_ids=[labels[0].pk])
    assert state_of(schema, rows[1]).status == RecordState.Status.IN_PROGRESS
    save_annotation(schema=schema, record_id=rows[1].pk, user=bob, label_ids=[labels[1].pk])

    agreed, disputed = state_of(schema, rows[0]), state_of(schema, rows[1])
    assert agreed.status == RecordState.Status.LABELED
    assert list(agreed.final_labels.all()) == [labels[0]]
    assert disputed.status == RecordState.Status.DISPUTED
    assert disputed.review_reason == RecordState.ReviewReason.DISAGREEMENT
    assert not disputed.final_labels.exists()
    assert majority_labels(disputed) is None  # one against one: a tie


@pytest.mark.django_db
def test_an_unsure_answer_goes_to_review_even_when_everyone_agrees():
    schema, labels, rows = make_queue(records=1)
    ann = person(schema, "ann")

    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk], unsure=True)

    state = state_of(schema, rows[0])
    assert state.status == RecordState.Status.DISPUTED
    assert state.review_reason == RecordState.ReviewReason.UNSURE


@pytest.mark.django_db
def test_single_label_needs_exactly_one_label_of_this_schema():
    schema, labels, rows = make_queue(records=1)
    ann = person(schema, "ann")
    other_label = LabelFactory()

    with pytest.raises(LabelingError, match="exactly one"):
        save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk, labels[1].pk])
    with pytest.raises(LabelingError, match="do not belong"):
        save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[other_label.pk])
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_multi_label_accepts_several_labels_or_none():
    schema, labels, rows = make_queue(records=2, kind="multi")
    ann = person(schema, "ann")

    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk, labels[2].pk])
    save_annotation(schema=schema, record_id=rows[1].pk, user=ann, label_ids=[])

    assert set(state_of(schema, rows[0]).final_labels.all()) == {labels[0], labels[2]}
    none_applies = state_of(schema, rows[1])
    assert none_applies.status == RecordState.Status.LABELED
    assert not none_applies.final_labels.exists()


@pytest.mark.django_db
def test_changing_an_answer_is_audited_with_old_and_new_value():
    schema, labels, rows = make_queue(records=1)
    ann = person(schema, "ann")
    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk], seconds_spent=2)

    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[1].pk], seconds_spent=1.5)

    annotation = Annotation.objects.get(record=rows[0])
    assert list(annotation.labels.all()) == [labels[1]]
    assert annotation.seconds_spent == pytest.approx(3.5)
    events = list(LabelEvent.objects.filter(record=rows[0]).order_by("created_at", "id"))
    assert [(e.action, e.old, e.new, e.actor_id) for e in events] == [
        (LabelEvent.Action.ANNOTATED, [], ["positive"], ann.pk),
        (LabelEvent.Action.CHANGED, ["positive"], ["negative"], ann.pk),
    ]
    assert list(state_of(schema, rows[0]).final_labels.all()) == [labels[1]]


@pytest.mark.django_db
def test_undo_takes_the_answer_back_and_returns_the_record_to_its_annotator():
    schema, labels, rows = make_queue(records=3)
    ann, bob = person(schema, "ann"), person(schema, "bob")
    lease_next_record(schema=schema, user=ann)
    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk])
    holding = lease_next_record(schema=schema, user=ann)
    assert holding.state.record_id == rows[1].pk

    undo_annotation(schema=schema, record_id=rows[0].pk, user=ann)

    assert not Annotation.objects.filter(record=rows[0]).exists()
    assert state_of(schema, rows[0]).status == RecordState.Status.UNLABELED
    assert lease_next_record(schema=schema, user=ann).state.record_id == rows[0].pk
    # The record ann held before the undo went back to the pool, and the undone one stays ann's.
    assert lease_next_record(schema=schema, user=bob).state.record_id == rows[1].pk
    event = LabelEvent.objects.filter(record=rows[0]).first()
    assert (event.action, event.old, event.new) == (LabelEvent.Action.UNDONE, ["positive"], [])
    assert [a.state.record_id for a in recent_assignments(schema=schema, user=ann)] == []


@pytest.mark.django_db
def test_a_reviewed_record_can_no_longer_be_changed_by_annotators():
    schema, labels, rows = make_queue(records=1)
    ann = person(schema, "ann")
    reviewer = UserFactory(role=Role.REVIEWER)
    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk])
    state = state_of(schema, rows[0])
    review_record(state_id=state.pk, reviewer=reviewer, label_ids=[labels[1].pk], expected_version=state.version)

    with pytest.raises(RecordClosed):
        save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[2].pk])
    with pytest.raises(RecordClosed):
        undo_annotation(schema=schema, record_id=rows[0].pk, user=ann)
    assert list(state_of(schema, rows[0]).final_labels.all()) == [labels[1]]


@pytest.mark.django_db
def test_counts_say_what_i_did_and_what_is_left_for_me():
    schema, labels, rows = make_queue(records=4, overlap=2)
    ann = person(schema, "ann")
    save_annotation(schema=schema, record_id=rows[0].pk, user=ann, label_ids=[labels[0].pk])
    skip_record(assignment=lease_next_record(schema=schema, user=ann))

    counts = queue_counts(schema=schema, user=ann)

    assert counts.done_by_me == 1
    assert counts.remaining == 2  # four open records, minus the one answered and the one skipped


# --- Concurrency on the real database ----------------------------------------------------------


def _in_threads(count: int, work) -> list:
    results: list = [None] * count
    errors: list = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_annotators_asking_at_once_never_receive_the_same_record():
    schema, _, rows = make_queue(records=30)
    people = [person(schema, f"a{i}") for i in range(20)]

    got = _in_threads(20, lambda i: lease_next_record(schema=schema, user=people[i]).state.record_id)

    assert len(set(got)) == 20
    assert set(got) <= {r.pk for r in rows}


@pytest.mark.django_db(transaction=True)
def test_twenty_annotators_labeling_to_the_end_give_each_record_exactly_its_overlap():
    schema, labels, rows = make_queue(records=25, overlap=2)
    people = [person(schema, f"a{i}") for i in range(20)]

    def label_until_done(i: int) -> int:
        saved = 0
        while (assignment := lease_next_record(schema=schema, user=people[i])) is not None:
            label = labels[(i + assignment.state.record_id) % 2]
            save_annotation(schema=schema, record_id=assignment.state.record_id, user=people[i], label_ids=[label.pk])
            saved += 1
        return saved

    saved = _in_threads(20, label_until_done)

    per_record = Counter(Annotation.objects.filter(schema=schema).values_list("record_id", flat=True))
    assert sum(saved) == 50
    assert per_record == {r.pk: 2 for r in rows}
    assert not RecordState.objects.filter(schema=schema, status__in=RecordState.OPEN).exists()
