"""Saving what an annotator says about a record, undoing it, and what that means for the record's
status and final label. Every change writes its LabelEvent in the same transaction."""

from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling.models import Annotation, Assignment, Label, LabelEvent, LabelSchema, RecordState
from labeling.services.queue import has_room

FinalLabel = RecordState.final_labels.through
AnnotationLabel = Annotation.labels.through


class LabelingError(ValueError):
    """A labeling action that cannot be done; the message says why, in the user's words."""


class RecordClosed(LabelingError):
    """The record has been reviewed (or is gold): annotators can no longer change it."""


class RecordFull(LabelingError):
    """The record already has all the annotations its dataset asks for."""


def label_names(labels) -> list[str]:
    return sorted(label.name for label in labels)


def checked_labels(*, schema: LabelSchema, label_ids) -> list[Label]:
    """The labels named by `label_ids`, all of `schema`, as many as its kind allows."""
    wanted = {int(pk) for pk in label_ids}
    # In SQL: on the save path of every keystroke (see labeling/services/queue.py).
    labels = list(
        Label.objects.raw(
            "SELECT * FROM labeling_label WHERE schema_id = %s AND id = ANY(%s) ORDER BY id",
            [schema.pk, sorted(wanted)],
        )
    )
    if len(labels) != len(wanted):
        raise LabelingError("Some of the chosen labels do not belong to this label set.")
    if schema.kind == LabelSchema.Kind.SINGLE and len(labels) != 1:
        raise LabelingError("Choose exactly one label.")
    return labels


def _votes(state: RecordState, *, include_imported: bool) -> tuple[int, list[frozenset[int]], bool]:
    """In one query: how many people answered, the label sets that count as votes, and whether any
    answer was unsure."""
    rows = Annotation.objects.filter(record_id=state.record_id, schema_id=state.schema_id).values_list(
        "pk", "source", "labels", "unsure"
    )
    votes: dict[int, set[int]] = {}
    people: set[int] = set()
    unsure = False
    for pk, source, label_id, is_unsure in rows:
        if source == Annotation.Source.HUMAN:
            people.add(pk)
        elif not include_imported:
            continue
        votes.setdefault(pk, set())
        if label_id is not None:
            votes[pk].add(label_id)
        unsure = unsure or is_unsure
    return len(people), [frozenset(v) for v in votes.values()], unsure


def majority_labels(state: RecordState) -> list[int] | None:
    """The label set most annotators chose, or None on a tie (a reviewer must decide)."""
    _, votes, _ = _votes(state, include_imported=False)
    if not votes:
        return None
    ranked = Counter(votes).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return sorted(ranked[0][0])


def settle(state: RecordState, *, first_answer: tuple[frozenset[int], bool] | None = None) -> None:
    """Recompute status and automatic final label from the annotations. Call with the row locked.

    Reviewed and gold records keep their reviewer's decision; a record a data lead sent to review
    stays there until a reviewer decides. `first_answer` (labels, unsure) says the record's only
    human answer was just added, so the votes need no query (the save path of every keystroke)."""
    if state.status in (RecordState.Status.REVIEWED, RecordState.Status.GOLD):
        return
    had_final = state.status in (RecordState.Status.LABELED, RecordState.Status.DISPUTED)
    dataset = state.schema.dataset
    if first_answer is not None and not dataset.agreement_counts_imported:
        human, votes, unsure = 1, [first_answer[0]], first_answer[1]
    else:
        human, votes, unsure = _votes(state, include_imported=dataset.agreement_counts_imported)
    state.human_annotations = human
    sent = state.review_reason == RecordState.ReviewReason.SENT
    final: list[int] = []
    if sent:
        status = RecordState.Status.DISPUTED
    elif human == 0:
        status, state.review_reason = RecordState.Status.UNLABELED, ""
    elif human < dataset.overlap:
        status, state.review_reason = RecordState.Status.IN_PROGRESS, ""
    elif len(set(votes)) > 1:
        status, state.review_reason = RecordState.Status.DISPUTED, RecordState.ReviewReason.DISAGREEMENT
    elif unsure:
        status, state.review_reason = RecordState.Status.DISPUTED, RecordState.ReviewReason.UNSURE
    else:
        status, state.review_reason = RecordState.Status.LABELED, ""
        final = sorted(votes[0])
    state.status = status
    state.version += 1
    state.save(update_fields=["status", "review_reason", "human_annotations", "version", "updated_at"])
    # Only a labeled (or since disputed) record has final labels to replace (reviewed ones returned
    # above): skipping the DELETE otherwise saves a round trip on every save.
    if had_final:
        FinalLabel.objects.filter(recordstate=state).delete()
    if final:
        FinalLabel.objects.bulk_create(FinalLabel(recordstate=state, label_id=label_id) for label_id in final)


def _locked_state(*, schema: LabelSchema, record_id: int) -> RecordState:
    try:
        return (
            RecordState.objects.select_for_update(of=("self",))
            .select_related("schema__dataset")
            .get(schema=schema, record_id=record_id)
        )
    except RecordState.DoesNotExist:
        raise LabelingError("This record is not in the annotation queue of this label set.") from None


def _locked_state_with_mine(*, schema: LabelSchema, record_id: int, user) -> RecordState:
    """The record's state row, locked, with `user`'s own annotation (`my_annotation_id`) and
    assignment (`my_assignment_id`, `my_assignment_status`, `my_assignment_expires_at`) on it, in
    one query written in SQL: the save path runs on every keystroke (see labeling/services/queue.py)."""
    rows = RecordState.objects.raw(
        """
        SELECT s.*,
               (SELECT n.id FROM labeling_annotation n
                WHERE n.record_id = s.record_id AND n.schema_id = s.schema_id
                  AND n.annotator_id = %(user)s AND n.source = %(human)s
                LIMIT 1) AS my_annotation_id,
               a.id AS my_assignment_id, a.status AS my_assignment_status, a.expires_at AS my_assignment_expires_at
        FROM labeling_recordstate s
        LEFT JOIN labeling_assignment a ON a.state_id = s.id AND a.annotator_id = %(user)s
        WHERE s.schema_id = %(schema)s AND s.record_id = %(record)s
        FOR UPDATE OF s
        """,
        {"user": user.pk, "human": Annotation.Source.HUMAN, "schema": schema.pk, "record": record_id},
    )
    state = next(iter(rows), None)
    if state is None:
        raise LabelingError("This record is not in the annotation queue of this label set.")
    state.schema = schema
    return state


def save_annotation(
    *,
    schema: LabelSchema,
    record_id: int,
    user,
    label_ids,
    unsure: bool = False,
    comment: str = "",
    seconds_spent: float | None = None,
) -> Annotation:
    """Store `user`'s answer for the record (a new one, or a change of theirs), finish their
    assignment and settle the record. All or nothing."""
    labels = checked_labels(schema=schema, label_ids=label_ids)
    with transaction.atomic():
        state = _locked_state_with_mine(schema=schema, record_id=record_id, user=user)
        if state.status in (RecordState.Status.REVIEWED, RecordState.Status.GOLD):
            raise RecordClosed("A reviewer has already decided this record; it can no longer be changed.")
        annotation = None if state.my_annotation_id is None else Annotation.objects.get(pk=state.my_annotation_id)
        now = timezone.now()
        if annotation is None:
            holds_lease = (
                state.my_assignment_status == Assignment.Status.LEASED and state.my_assignment_expires_at > now
            )
            # A lease that ran out is honoured only if nobody filled the record meanwhile.
            if not holds_lease and not has_room(state, user_id=user.pk, overlap=schema.dataset.overlap):
                raise RecordFull(
                    "Your time on this record ran out and others have labeled it meanwhile; "
                    "your answer was not saved. Here is the next one."
                )
            annotation = Annotation.objects.create(
                record_id=record_id,
                schema=schema,
                annotator=user,
                source=Annotation.Source.HUMAN,
                unsure=unsure,
                comment=comment,
                seconds_spent=seconds_spent,
            )
            AnnotationLabel.objects.bulk_create(AnnotationLabel(annotation=annotation, label=label) for label in labels)
            old: list[str] = []
            action = LabelEvent.Action.ANNOTATED
            # The counter is kept by every writer under this row's lock: 0 means mine is the only answer.
            only_answer = state.human_annotations == 0
        else:
            old = label_names(annotation.labels.all())
            annotation.unsure, annotation.comment = unsure, comment
            if seconds_spent is not None:
                annotation.seconds_spent = (annotation.seconds_spent or 0) + seconds_spent
            annotation.save(update_fields=["unsure", "comment", "seconds_spent", "updated_at"])
            annotation.labels.set(labels)
            action = LabelEvent.Action.CHANGED
            only_answer = False
        if state.my_assignment_id is not None:
            Assignment.objects.filter(pk=state.my_assignment_id).update(status=Assignment.Status.DONE, finished_at=now)
        else:  # answered without being served it (e.g. after an undo elsewhere, or a change)
            Assignment.objects.bulk_create(
                [
                    Assignment(
                        state=state,
                        annotator=user,
                        status=Assignment.Status.DONE,
                        leased_at=now,
                        expires_at=now + timedelta(seconds=1),
                        finished_at=now,
                    )
                ],
                update_conflicts=True,
                unique_fields=["state", "annotator"],
                update_fields=["status", "finished_at"],
            )
        LabelEvent.objects.create(
            record_id=record_id,
            schema=schema,
            action=action,
            actor=user,
            annotator=user,
            old=old,
            new=label_names(labels),
            note=_note(unsure=unsure, comment=comment),
        )
        settle(state, first_answer=(frozenset(label.pk for label in labels), unsure) if only_answer else None)
    return annotation


def _note(*, unsure: bool, comment: str) -> str:
    parts = ["unsure"] if unsure else []
    if comment:
        parts.append(comment)
    return " · ".join(parts)


def undo_annotation(*, schema: LabelSchema, record_id: int, user) -> RecordState:
    """Take back `user`'s answer on the record: the annotation goes (kept in the audit trail) and
    the record is leased to them again to answer anew."""
    with transaction.atomic():
        state = _locked_state(schema=schema, record_id=record_id)
        if state.status in (RecordState.Status.REVIEWED, RecordState.Status.GOLD):
            raise RecordClosed("A reviewer has already decided this record; it can no longer be changed.")
        annotation = (
            Annotation.objects.filter(
                record_id=record_id, schema=schema, annotator=user, source=Annotation.Source.HUMAN
            )
            .prefetch_related("labels")
            .first()
        )
        now = timezone.now()
        if annotation is not None:
            LabelEvent.objects.create(
                record_id=record_id,
                schema=schema,
                action=LabelEvent.Action.UNDONE,
                actor=user,
                annotator=user,
                old=label_names(annotation.labels.all()),
                new=[],
            )
            annotation.delete()
        # Whatever this person held elsewhere goes back to the pool; this record is theirs again.
        Assignment.objects.filter(state__schema=schema, annotator=user, status=Assignment.Status.LEASED).exclude(
            state=state
        ).delete()
        Assignment.objects.update_or_create(
            state=state,
            annotator=user,
            defaults={
                "status": Assignment.Status.LEASED,
                "leased_at": now,
                "expires_at": now + timedelta(minutes=schema.dataset.lease_minutes),
                "finished_at": None,
            },
        )
        settle(state)
    return state


# Records settled per transaction by resettle_dataset: short enough that annotators saving meanwhile
# wait for one batch's row locks, never for the whole dataset.
RESETTLE_BATCH = 500


def resettle_dataset(*, dataset, imported_votes_changed: bool = False) -> int:
    """Bring the status and automatic final label of the dataset's records in line with its
    current settings, after a data lead changed the overlap (or whether imported labels vote).

    Only records whose status may no longer follow from their annotations are touched (found in
    SQL, settled in batches): in progress but now with enough annotations; labeled or disputed
    with fewer than the overlap now asks for (they go back to the queue; a record a data lead
    sent to review stays there); with `imported_votes_changed`, every labeled or disputed record
    that has an imported label. Reviewed and gold records keep their reviewer's decision.
    Returns how many records were settled again."""
    decided_by_votes = Q(status__in=[RecordState.Status.LABELED, RecordState.Status.DISPUTED]) & ~Q(
        review_reason=RecordState.ReviewReason.SENT
    )
    stale = Q(status=RecordState.Status.IN_PROGRESS, human_annotations__gte=dataset.overlap) | (
        decided_by_votes & Q(human_annotations__lt=dataset.overlap)
    )
    if imported_votes_changed:
        imported = Annotation.objects.filter(
            record_id=OuterRef("record_id"), schema_id=OuterRef("schema_id"), source=Annotation.Source.IMPORTED
        )
        stale |= decided_by_votes & Q(Exists(imported))
    settled, last_pk = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                RecordState.objects.filter(stale, schema__dataset=dataset, pk__gt=last_pk)
                .select_for_update(of=("self",))
                .select_related("schema__dataset")
                .order_by("pk")[:RESETTLE_BATCH]
            )
            for state in batch:
                settle(state)
        if not batch:
            return settled
        settled += len(batch)
        last_pk = batch[-1].pk
