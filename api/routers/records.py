"""Records: a keyset-paginated list with the records list's filters, one record, and bulk create
through the same import as uploads (validation, dedupe, all or nothing)."""

import io
import json

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q
from ninja import Query, Router, Status
from ninja.errors import HttpError

from api.auth import TokenAuth
from api.cursors import cursor_after, id_after
from api.errors import RowErrors
from api.schemas import Id, ImportedRecords, Message, NewRecords, RecordFilters, RecordOut, RecordPage
from api.schemas import RowErrors as RowErrorsOut
from api.scoping import find_visible
from corpus.models import Dataset, Record
from corpus.services.embed import embed_after_import
from corpus.services.ingest import import_records
from labeling.models import Label, LabelSchema, RecordState

router = Router(tags=["records"])
FinalLabel = RecordState.final_labels.through


RECORD_FIELDS = (
    "id", "dataset_id", "text", "external_id", "meta", "document_id", "position", "page", "char_start", "char_end",
    "has_embedding", "embedding_model", "created_at",
)  # fmt: skip


def records_out(records, *, limit: int | None = None) -> list[dict]:
    """The records as the API shows them, with their status and final labels per label set: two
    queries for a whole page, and plain rows rather than model instances (a page of 500 stays a
    few milliseconds of Python, and little garbage for the collector)."""
    current_vector = ExpressionWrapper(
        Q(embedding__isnull=False) & Q(embedding_hash=F("content_hash")), output_field=BooleanField()
    )
    rows = records.annotate(has_embedding=current_vector).values_list(*RECORD_FIELDS)
    page = [dict(zip(RECORD_FIELDS, row, strict=True)) for row in (rows[:limit] if limit is not None else rows)]
    for record in page:
        record["labels"] = []
    by_id = {record["id"]: record for record in page}
    states = (
        RecordState.objects.filter(record_id__in=list(by_id))
        .order_by("record_id", "schema_id")
        .values_list("record_id", "schema_id", "status")
        .annotate(
            names=ArrayAgg(
                "final_labels__name", filter=Q(final_labels__isnull=False), order_by="final_labels__name", default=[]
            )
        )
    )
    for record_id, schema_id, status, names in states:
        by_id[record_id]["labels"].append({"label_set_id": schema_id, "status": status, "final_labels": names})
    return page


def _filtered(user, filters: RecordFilters):
    if filters.dataset is not None:
        dataset = find_visible(Dataset.objects.visible_to(user), filters.dataset, "Dataset")
        # Straight on the dataset: the (dataset, id) index serves every page at any depth.
        records = Record.objects.filter(dataset_id=dataset.pk)
    else:
        records = Record.objects.visible_to(user)
    if filters.label_set is not None:
        schema = find_visible(LabelSchema.objects.visible_to(user), filters.label_set, "Label set")
        records = records.filter(dataset_id=schema.dataset_id)
    if filters.status is not None:
        # As the records list's status filter: a record the queue has not reached has no state
        # row and counts as unlabeled; without a label set, any label set of its dataset.
        states = RecordState.objects.filter(record=OuterRef("pk"))
        if filters.label_set is not None:
            states = states.filter(schema_id=filters.label_set)
        if filters.status == RecordState.Status.UNLABELED:
            records = records.exclude(Exists(states.exclude(status=RecordState.Status.UNLABELED)))
        else:
            records = records.filter(Exists(states.filter(status=filters.status)))
    if filters.label is not None:
        label = find_visible(Label.objects.visible_to(user), filters.label, "Label")
        records = records.filter(
            Exists(FinalLabel.objects.filter(recordstate__record=OuterRef("pk"), label_id=label.pk))
        )
    if filters.has_embedding is not None:
        current = Q(embedding__isnull=False) & Q(embedding_hash=F("content_hash"))
        records = records.filter(current) if filters.has_embedding else records.exclude(current)
    if filters.text:
        records = records.filter(text__icontains=filters.text)
    return records


@router.get(
    "",
    response={200: RecordPage, 400: Message, 404: Message},
    auth=TokenAuth("corpus.view_record"),
    summary="Records, page by page",
)
def list_records(request, filters: Query[RecordFilters]):
    """Records of your datasets in id order (the order they were imported), `page_size` at a
    time. Follow `next_cursor` until it is null; records added meanwhile appear at the end."""
    after = id_after(filters.cursor)
    records = _filtered(request.auth, filters).filter(pk__gt=after).order_by("pk")
    page = records_out(records, limit=filters.page_size + 1)
    more = len(page) > filters.page_size
    page = page[: filters.page_size]
    return {"items": page, "next_cursor": cursor_after(page[-1]["id"]) if more else None}


@router.get(
    "/{record_id}",
    response={200: RecordOut, 404: Message},
    auth=TokenAuth("corpus.view_record"),
    summary="One record",
)
def get_record(request, record_id: Id):
    found = records_out(Record.objects.visible_to(request.auth).filter(pk=record_id))
    if not found:
        raise HttpError(404, f"Record {record_id} not found.")
    return found[0]


def _jsonl(body: NewRecords) -> bytes:
    lines, problems = [], []
    for index, record in enumerate(body.records):
        try:
            # The record's own fields win over nothing: NewRecord refuses meta keys named like them.
            line = json.dumps(
                {**record.meta, "text": record.text, "external_id": record.external_id},
                ensure_ascii=False,
                allow_nan=False,
            )
        except ValueError as error:
            problems.append({"index": index, "field": "meta", "message": f"cannot be stored as JSON ({error})"})
            continue
        lines.append(line)
    if problems:
        raise RowErrors("Nothing was stored: some records cannot be read.", problems[:100], len(problems))
    return ("\n".join(lines) + "\n").encode()


def _index_of(location: str) -> int | None:
    """import_records places errors by line of the JSON Lines it read: line n is item n - 1."""
    unit, _, number = location.partition(" ")
    return int(number) - 1 if unit == "line" and number.isdigit() else None


@router.post(
    "",
    response={201: ImportedRecords, 400: RowErrorsOut, 403: Message, 404: Message},
    auth=TokenAuth("corpus.add_record"),
    summary="Add records (up to 10,000 per call)",
)
def create_records(request, body: NewRecords):
    """All or none: the records go through the same import as an uploaded file, so a text that is
    already in the dataset is counted as a duplicate and not stored again, an external id that
    names another text is an error, and one bad record stores nothing. New records are embedded
    in the background when the server is set to embed after imports."""
    dataset = find_visible(Dataset.objects.visible_to(request.auth), body.dataset_id, "Dataset")
    result = import_records(
        dataset=dataset,
        source=io.BytesIO(_jsonl(body)),
        filename="request.jsonl",
        fmt="plain",  # rows as sent: never read as another tool's export because of their meta keys
        text_field="text",
        id_field="external_id",
        label_field="",
        user=request.auth,
    )
    if not result.ok:
        errors = [
            {"index": _index_of(error.location), "field": error.field, "message": error.message}
            for error in result.errors
        ]
        raise RowErrors(f"Nothing was stored: {result.error_count:,} error(s).", errors, result.error_count)
    embedding = embed_after_import(dataset=dataset, inserted=result.inserted, user=request.auth)
    return Status(
        201,
        {
            "read": result.read,
            "inserted": result.inserted,
            "duplicates": result.duplicates,
            "embedding_job_id": embedding.pk if embedding else None,
        },
    )
