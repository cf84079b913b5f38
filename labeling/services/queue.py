"""The annotation queue: which record an annotator gets next, reserved for them by a lease.

Invariant: a record never has more human annotations plus running leases than its dataset's
overlap. Everything that could break it (leasing, saving, undoing) first locks the record's
RecordState row, so those steps happen one at a time per record, while different records are
served in parallel (SKIP LOCKED).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from corpus.models import QueueOrder
from labeling.models import Annotation, Assignment, LabelSchema, RecordState

_ORDER_BY = {
    QueueOrder.IMPORTED: "s.record_id",
    QueueOrder.RANDOM: "s.random_key, s.record_id",
    QueueOrder.UNCERTAIN: "s.uncertainty DESC NULLS LAST, s.record_id",
}

# Candidates that passed the cheap filter but were full once locked are skipped; after this many
# in one call something unusual is going on (hundreds of people on one dataset): give up politely.
MAX_LEASE_ATTEMPTS = 50
ANALYZE_AFTER_ROWS = 10_000


@dataclass(frozen=True)
class QueueCounts:
    """The annotate screen's counter."""

    done_by_me: int
    remaining: int  # records that still need annotations and that I have not labeled or skipped


def prepare_queue(*, schema: LabelSchema) -> int:
    """Give every record of the schema's dataset a RecordState (new records since the last call).
    One INSERT … SELECT; returns how many were added."""
    # The first time, there is nothing to exclude. Asking anyway made PostgreSQL plan the NOT EXISTS
    # as a sequential scan of the (still empty-looking) state table for every record, rescanning
    # the rows this very statement inserts: minutes for 100k records.
    first_time = not RecordState.objects.filter(schema=schema).exists()
    new_only = (
        ""
        if first_time
        else """
              AND NOT EXISTS (
                  SELECT 1 FROM labeling_recordstate s WHERE s.record_id = r.id AND s.schema_id = %(schema)s
              )"""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO labeling_recordstate
                (record_id, schema_id, status, review_reason, human_annotations, random_key, version, updated_at)
            SELECT r.id, %(schema)s, 'unlabeled', '', 0, random(), 0, now()
            FROM corpus_record r
            WHERE r.dataset_id = %(dataset)s{new_only}
            ON CONFLICT (record_id, schema_id) DO NOTHING
            """,  # noqa: S608 (new_only is one of two constants)
            {"schema": schema.pk, "dataset": schema.dataset_id},
        )
        added = cursor.rowcount
        if added >= ANALYZE_AFTER_ROWS:
            # The queue's queries that follow (in this request, before autovacuum gets to it) need
            # to know the table grew, or they are planned for a handful of rows.
            cursor.execute("ANALYZE labeling_recordstate")
        return added


# The queue's lookups run on every keystroke of every annotator; they are written in SQL because
# building them with the ORM costs more (0.5-1 ms each) than running them.


def _active_leases_by_others(state_id: int, user_id: int) -> int:
    """Leases still running on the record, held by anyone but `user` (Assignment.objects.active())."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM labeling_assignment
            WHERE state_id = %s AND status = %s AND expires_at > statement_timestamp() AND annotator_id <> %s
            """,
            [state_id, Assignment.Status.LEASED, user_id],
        )
        return cursor.fetchone()[0]


def has_room(state: RecordState, *, user_id: int, overlap: int) -> bool:
    """Whether `user` may still label this record. Call with the state row locked."""
    if state.status not in RecordState.OPEN:
        return False
    return state.human_annotations + _active_leases_by_others(state.pk, user_id) < overlap


def _lease(state: RecordState, *, user, minutes: int) -> Assignment:
    """Start (or renew) this person's lease on the record: one upsert, the row reused if they had
    one (a skip they come back to, an undo, a lease that ran out)."""
    now = timezone.now()
    assignment = Assignment(
        state=state,
        annotator=user,
        status=Assignment.Status.LEASED,
        leased_at=now,
        expires_at=now + timedelta(minutes=minutes),
        finished_at=None,
    )
    Assignment.objects.bulk_create(
        [assignment],
        update_conflicts=True,
        unique_fields=["state", "annotator"],
        update_fields=["status", "leased_at", "expires_at", "finished_at"],
    )
    return assignment


def current_lease(*, schema: LabelSchema, user) -> Assignment | None:
    """The record this person holds (lease running or run out, not finished), if any."""
    held = Assignment.objects.raw(
        """
        SELECT a.* FROM labeling_assignment a JOIN labeling_recordstate s ON s.id = a.state_id
        WHERE s.schema_id = %s AND a.annotator_id = %s AND a.status = %s
        ORDER BY a.leased_at DESC LIMIT 1
        """,
        [schema.pk, user.pk, Assignment.Status.LEASED],
    )
    return next(iter(held), None)


def lease_next_record(*, schema: LabelSchema, user) -> Assignment | None:
    """Reserve the next record for `user` and return its assignment; None when nothing is left.

    The same record comes back while the person holds it (a reload never skips work); a lease
    that ran out is renewed if nobody filled the record meanwhile."""
    dataset = schema.dataset
    with transaction.atomic(savepoint=False):  # nested in the save's transaction: no savepoint needed
        held = current_lease(schema=schema, user=user)
        if held is not None:
            state = RecordState.objects.select_for_update().get(pk=held.state_id)
            if has_room(state, user_id=user.pk, overlap=dataset.overlap):
                return _lease(state, user=user, minutes=dataset.lease_minutes)
            # Others filled the record while this lease had run out: it is not this person's any more.
            held.delete()

        order_by = _ORDER_BY.get(dataset.queue_order, _ORDER_BY[QueueOrder.IMPORTED])
        passed_over: list[int] = []
        for _ in range(MAX_LEASE_ATTEMPTS):
            # SKIP LOCKED: two annotators asking at once must never wait on, or receive, the same
            # row; each takes the first open record nobody else is deciding about right now.
            # The filter on leases is read before the lock, so it is checked again under it.
            state = RecordState.objects.raw(
                # order_by comes from _ORDER_BY, never from the request.
                f"""
                    SELECT s.* FROM labeling_recordstate s
                    WHERE s.schema_id = %(schema)s
                      AND s.status IN ('unlabeled', 'in_progress')
                      AND s.human_annotations < %(overlap)s
                      AND NOT (s.id = ANY(%(passed_over)s))
                      AND NOT EXISTS (
                          SELECT 1 FROM labeling_assignment a
                          WHERE a.state_id = s.id AND a.annotator_id = %(user)s
                      )
                      AND NOT EXISTS (
                          SELECT 1 FROM labeling_annotation n
                          WHERE n.record_id = s.record_id AND n.schema_id = s.schema_id
                            AND n.annotator_id = %(user)s
                      )
                      AND s.human_annotations + (
                          SELECT count(*) FROM labeling_assignment a
                          WHERE a.state_id = s.id AND a.status = 'leased' AND a.expires_at > now()
                      ) < %(overlap)s
                    ORDER BY {order_by}
                    LIMIT 1
                    FOR UPDATE OF s SKIP LOCKED
                    """,  # noqa: S608
                {
                    "schema": schema.pk,
                    "overlap": dataset.overlap,
                    "user": user.pk,
                    "passed_over": passed_over,
                },
            )
            state = next(iter(state), None)
            if state is None:
                return None
            if has_room(state, user_id=user.pk, overlap=dataset.overlap):
                return _lease(state, user=user, minutes=dataset.lease_minutes)
            passed_over.append(state.pk)
        return None


def skip_record(*, assignment: Assignment) -> None:
    """The person passes on this record: it is not served to them again; others still get it."""
    Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.LEASED).update(
        status=Assignment.Status.SKIPPED, finished_at=timezone.now()
    )


def unskip_record(*, assignment: Assignment) -> bool:
    """Undo a skip: the record is leased to its annotator again (whatever else they held goes back
    to the pool). False when others filled the record meanwhile."""
    with transaction.atomic():
        state = (
            RecordState.objects.select_for_update(of=("self",))
            .select_related("schema__dataset")
            .get(pk=assignment.state_id)
        )
        dataset = state.schema.dataset
        if not has_room(state, user_id=assignment.annotator_id, overlap=dataset.overlap):
            return False
        Assignment.objects.filter(
            state__schema_id=state.schema_id, annotator_id=assignment.annotator_id, status=Assignment.Status.LEASED
        ).exclude(pk=assignment.pk).delete()
        now = timezone.now()
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.LEASED,
            leased_at=now,
            expires_at=now + timedelta(minutes=dataset.lease_minutes),
            finished_at=None,
        )
        return True


def release_lease(*, schema: LabelSchema, user) -> None:
    """Give back the record this person holds (e.g. before going back to an earlier one)."""
    Assignment.objects.filter(state__schema=schema, annotator=user, status=Assignment.Status.LEASED).delete()


def recent_assignments(*, schema: LabelSchema, user, limit: int = 20) -> list[Assignment]:
    """This person's last finished items, newest first: what "back" walks through."""
    return list(
        Assignment.objects.filter(state__schema=schema, annotator=user)
        .exclude(status=Assignment.Status.LEASED)
        .select_related("state")
        .order_by("-finished_at", "-pk")[:limit]
    )


def queue_counts(*, schema: LabelSchema, user) -> QueueCounts:
    done = Annotation.objects.filter(schema=schema, annotator=user).count()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM labeling_recordstate s
            WHERE s.schema_id = %(schema)s AND s.status IN ('unlabeled', 'in_progress')
              AND NOT EXISTS (
                  SELECT 1 FROM labeling_assignment a
                  WHERE a.state_id = s.id AND a.annotator_id = %(user)s AND a.status <> 'leased'
              )
            """,
            {"schema": schema.pk, "user": user.pk},
        )
        (remaining,) = cursor.fetchone()
    return QueueCounts(done_by_me=done, remaining=remaining)
