"""Predictions from models outside Tally: bulk upsert keyed by (record, label, model version).

Who may: the `labeling.run_classifier` permission (ML engineers, administrators) — the same
people who write predictions in the admin by running a classifier. Data leads bring predictions
in with a file import instead. Stored with source "imported" (not Tally's classifier), shown as
suggestions like any prediction; versions named "tally …" are Tally's own and refused.
"""

from django.db import connection, transaction
from ninja import Router

from api.auth import TokenAuth
from api.errors import RowErrors
from api.schemas import MAX_ROW_ERRORS, Message, NewPredictions, SavedPredictions
from api.schemas import RowErrors as RowErrorsOut
from api.scoping import find_visible
from corpus.models import Record
from labeling.models import Label, LabelSchema, Prediction

router = Router(tags=["predictions"])


def _checked_rows(schema: LabelSchema, body: NewPredictions) -> list[tuple[int, int, float | None, str]]:
    """(record id, label id, score, model version) per item, or RowErrors naming every bad item."""
    ids = {item.record_id for item in body.predictions}
    found = set(Record.objects.filter(dataset_id=schema.dataset_id, pk__in=ids).values_list("pk", flat=True))
    labels = list(Label.objects.filter(schema=schema).values_list("pk", "name"))
    by_id, by_name = {pk for pk, _ in labels}, {name: pk for pk, name in labels}
    single = schema.kind == LabelSchema.Kind.SINGLE
    rows, errors, seen = [], [], {}
    for index, item in enumerate(body.predictions):
        if item.record_id not in found:
            # The same words for a record of another dataset and one that does not exist.
            errors.append((index, "record_id", f"record {item.record_id} not found in the label set's dataset"))
            continue
        label = item.label if isinstance(item.label, int) and item.label in by_id else None
        if isinstance(item.label, str):
            label = by_name.get(item.label)
        if label is None:
            errors.append((index, "label", f"“{item.label}” is not a label of the label set “{schema.name}”"))
            continue
        # Single-label sets keep one prediction per record and model version (the top label).
        key = (item.record_id, item.model_version) if single else (item.record_id, label, item.model_version)
        if key in seen:
            what = "record and model_version" if single else "record, label and model_version"
            errors.append((index, "label", f"item {seen[key]} already has this {what}"))
            continue
        seen[key] = index
        rows.append((item.record_id, label, item.score, item.model_version))
    if errors:
        raise RowErrors(
            f"Nothing was stored: {len(errors):,} error(s).",
            [{"index": index, "field": field, "message": message} for index, field, message in errors[:MAX_ROW_ERRORS]],
            len(errors),
        )
    return rows


@router.post(
    "",
    response={200: SavedPredictions, 400: RowErrorsOut, 403: Message, 404: Message},
    auth=TokenAuth("labeling.run_classifier"),
    summary="Add or update predictions (up to 10,000 per call)",
)
def upsert_predictions(request, body: NewPredictions):
    """All or none. A prediction for a record, label and model version that exists already gets
    the new score; in a single-label set, a new label for a record and model version replaces the
    one stored before."""
    schema = find_visible(LabelSchema.objects.visible_to(request.auth), body.label_set_id, "Label set")
    rows = _checked_rows(schema, body)
    records, labels, scores, versions = (list(column) for column in zip(*rows, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        replaced = 0
        if schema.kind == LabelSchema.Kind.SINGLE:
            cursor.execute(
                f"""
                DELETE FROM {Prediction._meta.db_table} p
                 USING unnest(%s::bigint[], %s::bigint[], %s::text[]) AS new (record_id, label_id, model_version)
                 WHERE p.record_id = new.record_id AND p.model_version = new.model_version
                   AND p.label_id <> new.label_id AND p.schema_id = %s
                """,  # noqa: S608 (our own table name)
                [records, labels, versions, schema.pk],
            )
            replaced = cursor.rowcount
        # One statement for the whole request; xmax = 0 tells a row inserted from one updated.
        cursor.execute(
            f"""
            INSERT INTO {Prediction._meta.db_table}
                   (record_id, schema_id, label_id, score, source, model_version, classifier_id, created_at)
            SELECT new.record_id, %s, new.label_id, new.score, %s, new.model_version, NULL, now()
              FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::text[])
                   AS new (record_id, label_id, score, model_version)
            ON CONFLICT (record_id, label_id, model_version)
            DO UPDATE SET score = EXCLUDED.score, source = EXCLUDED.source
            RETURNING (xmax = 0)
            """,  # noqa: S608
            [schema.pk, Prediction.Source.IMPORTED, records, labels, scores, versions],
        )
        inserted = sum(1 for (was_inserted,) in cursor.fetchall() if was_inserted)
    # A label replaced in a single-label set is an update of that record's prediction.
    created = max(inserted - replaced, 0)
    return {"created": created, "updated": len(rows) - created}
