"""Reviewers decide a record's final label; data leads act on many records at once. Every decision
is audited (LabelEvent) in the same transaction as the change."""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from labeling.models import Annotation, Assignment, LabelEvent, LabelSchema, RecordState
from labeling.services.annotate import FinalLabel, LabelingError, checked_labels, label_names
from labeling.services.queue import prepare_queue


class ReviewConflict(LabelingError):
    """Someone changed the record after this reviewer opened it: saving would overwrite them."""


def review_queue(*, schema: LabelSchema) -> QuerySet:
    """Records waiting for a reviewer: disagreements, unsure answers, those sent to review."""
    return (
        RecordState.objects.filter(schema=schema, status=RecordState.Status.DISPUTED)
        .select_related("record")
        .order_by("updated_at", "pk")
    )


def review_record(
    *, state_id: int, reviewer, label_ids, gold: bool = False, expected_version: int, note: str = ""
) -> RecordState:
    """Set the record's final label(s) and mark it reviewed (or gold).

    `expected_version` is the version the reviewer saw: if anyone changed the record since (another
    reviewer, a late annotation), nothing is written and ReviewConflict says who and when."""
    with transaction.atomic():
        state = (
            RecordState.objects.select_for_update(of=("self",))
            .select_related("schema__dataset", "reviewed_by")
            .get(pk=state_id)
        )
        if state.version != expected_version:
            # The last audited change names who it was (a reviewer, an annotator, a data lead's bulk
            # action); `reviewed_by` would name an earlier reviewer after a "send to review".
            last = LabelEvent.objects.filter(record_id=state.record_id, schema=state.schema).select_related("actor")
            last = last.first()
            who = f" by {last.actor}" if last is not None and last.actor else ""
            when = date_format(timezone.localtime(state.updated_at), "DATETIME_FORMAT")
            raise ReviewConflict(
                f"This record was changed{who} at {when}, after you opened it. "
                "Nothing was saved: look at the current state and decide again."
            )
        labels = checked_labels(schema=state.schema, label_ids=label_ids)
        old = label_names(state.final_labels.all())
        state.final_labels.set(labels)
        state.status = RecordState.Status.GOLD if gold else RecordState.Status.REVIEWED
        state.review_reason = ""
        state.reviewed_by, state.reviewed_at = reviewer, timezone.now()
        state.version += 1
        state.save()
        LabelEvent.objects.create(
            record_id=state.record_id,
            schema=state.schema,
            action=LabelEvent.Action.GOLD if gold else LabelEvent.Action.REVIEWED,
            actor=reviewer,
            old=old,
            new=label_names(labels),
            note=note,
        )
    return state


# --- Bulk actions of data leads on the records list --------------------------------------------


def _states_for(*, schema: LabelSchema, record_ids) -> QuerySet:
    prepare_queue(schema=schema)
    return RecordState.objects.filter(schema=schema, record_id__in=list(record_ids))


def send_to_review(*, schema: LabelSchema, record_ids, user) -> int:
    """Put the records in the reviewers' queue whatever their annotations say."""
    with transaction.atomic():
        states = list(_states_for(schema=schema, record_ids=record_ids).select_for_update())
        for state in states:
            state.status = RecordState.Status.DISPUTED
            state.review_reason = RecordState.ReviewReason.SENT
            state.version += 1
            state.updated_at = timezone.now()
        RecordState.objects.bulk_update(states, ["status", "review_reason", "version", "updated_at"])
        LabelEvent.objects.bulk_create(
            LabelEvent(record_id=s.record_id, schema=schema, action=LabelEvent.Action.SENT_TO_REVIEW, actor=user)
            for s in states
        )
    return len(states)


def clear_annotations(*, schema: LabelSchema, record_ids, user) -> int:
    """Remove every annotation (human and imported) and the final label of the records: they go
    back to the queue as unlabeled. The audit trail keeps what each annotation said."""
    with transaction.atomic():
        states = list(
            _states_for(schema=schema, record_ids=record_ids).select_for_update().prefetch_related("final_labels")
        )
        ids = [s.record_id for s in states]
        annotations = Annotation.objects.filter(schema=schema, record_id__in=ids).prefetch_related("labels")
        LabelEvent.objects.bulk_create(
            LabelEvent(
                record_id=a.record_id,
                schema=schema,
                action=LabelEvent.Action.CLEARED,
                actor=user,
                annotator_id=a.annotator_id,
                old=label_names(a.labels.all()),
                note="" if a.annotator_id else "imported",
            )
            for a in annotations
        )
        annotations.delete()
        Assignment.objects.filter(state__in=states).delete()
        LabelEvent.objects.bulk_create(
            LabelEvent(
                record_id=state.record_id,
                schema=schema,
                action=LabelEvent.Action.CLEARED,
                actor=user,
                old=label_names(state.final_labels.all()),
                note="final label",
            )
            for state in states
            if state.final_labels.all()
        )
        FinalLabel.objects.filter(recordstate__in=states).delete()
        now = timezone.now()
        for state in states:
            state.status, state.review_reason, state.human_annotations = RecordState.Status.UNLABELED, "", 0
            state.reviewed_by = state.reviewed_at = None
            state.version += 1
            state.updated_at = now
        RecordState.objects.bulk_update(
            states,
            ["status", "review_reason", "human_annotations", "reviewed_by", "reviewed_at", "version", "updated_at"],
        )
    return len(states)


def set_final_labels(*, schema: LabelSchema, record_ids, label_ids, user) -> int:
    """Decide the final label of many records at once (reviewed by this data lead)."""
    labels = checked_labels(schema=schema, label_ids=label_ids)
    new = label_names(labels)
    now = timezone.now()
    with transaction.atomic():
        states = list(
            _states_for(schema=schema, record_ids=record_ids).select_for_update().prefetch_related("final_labels")
        )
        events = []
        for state in states:
            events.append(
                LabelEvent(
                    record_id=state.record_id,
                    schema=schema,
                    action=LabelEvent.Action.REVIEWED,
                    actor=user,
                    old=label_names(state.final_labels.all()),
                    new=new,
                    note="bulk",
                )
            )
            state.status, state.review_reason = RecordState.Status.REVIEWED, ""
            state.reviewed_by, state.reviewed_at = user, now
            state.version += 1
            state.updated_at = now
        RecordState.objects.bulk_update(
            states, ["status", "review_reason", "reviewed_by", "reviewed_at", "version", "updated_at"]
        )
        FinalLabel.objects.filter(recordstate__in=states).delete()
        FinalLabel.objects.bulk_create(
            FinalLabel(recordstate=state, label=label) for state in states for label in labels
        )
        LabelEvent.objects.bulk_create(events)
    return len(states)
