"""Annotations: external annotation tools label records as the token's owner, through the same
service as the annotate screen (overlap, closed records, audit trail); and the annotations a
person may see, which for annotators are only their own (labeling stays blind)."""

import random

from django.db.models import Prefetch
from ninja import Query, Router, Status
from ninja.errors import HttpError

from api.auth import TokenAuth
from api.cursors import cursor_after, id_after
from api.schemas import AnnotationFilters, AnnotationPage, Message, NewAnnotation, SavedAnnotation
from api.scoping import find_visible
from corpus.models import Dataset, Record
from labeling.models import Annotation, Label, LabelSchema, RecordState
from labeling.services.annotate import LabelingError, RecordClosed, RecordFull, save_annotation

router = Router(tags=["annotations"])


def annotation_out(annotation: Annotation) -> dict:
    return {
        "id": annotation.pk,
        "record_id": annotation.record_id,
        "label_set_id": annotation.schema_id,
        "annotator": annotation.annotator.username if annotation.annotator else None,
        "source": annotation.source,
        "labels": sorted(label.name for label in annotation.labels.all()),
        "unsure": annotation.unsure,
        "comment": annotation.comment,
        "seconds_spent": annotation.seconds_spent,
        "created_at": annotation.created_at,
        "updated_at": annotation.updated_at,
    }


def _label_ids(schema: LabelSchema, wanted: list[int | str]) -> list[int]:
    """Ids for the labels named by id or by name; 400 naming any that is not in the label set."""
    labels = list(Label.objects.filter(schema=schema).values_list("pk", "name"))
    by_id, by_name = {pk for pk, _ in labels}, {name: pk for pk, name in labels}
    chosen, unknown = [], []
    for item in wanted:
        pk = item if isinstance(item, int) and item in by_id else by_name.get(item) if isinstance(item, str) else None
        if pk is None:
            unknown.append(str(item))
        else:
            chosen.append(pk)
    if unknown:
        raise LabelingError(f"Not labels of the label set “{schema.name}”: {', '.join(unknown)}.")
    return sorted(set(chosen))


@router.post(
    "",
    response={201: SavedAnnotation, 400: Message, 403: Message, 404: Message, 409: Message},
    auth=TokenAuth("labeling.annotate_records"),
    summary="Annotate a record",
)
def create_annotation(request, body: NewAnnotation):
    """Store your answer for a record under a label set, or change it if you answered before.
    409 when the record is closed (a reviewer decided it) or already has the annotations its
    dataset's overlap asks for."""
    user = request.auth
    schema = find_visible(
        LabelSchema.objects.visible_to(user).select_related("dataset"), body.label_set_id, "Label set"
    )
    record = find_visible(Record.objects.visible_to(user).only("pk", "dataset_id"), body.record_id, "Record")
    try:
        if record.dataset_id != schema.dataset_id:
            raise LabelingError(f"Record {record.pk} is not in the dataset of the label set “{schema.name}”.")
        label_ids = _label_ids(schema, body.labels)
        # The queue gives every record a state when someone opens it; a tool may come first.
        RecordState.objects.get_or_create(
            record_id=record.pk,
            schema=schema,
            defaults={"random_key": random.random()},  # noqa: S311 - a queue order key, not a secret
        )
        annotation = save_annotation(
            schema=schema,
            record_id=record.pk,
            user=user,
            label_ids=label_ids,
            unsure=body.unsure,
            comment=body.comment,
            seconds_spent=body.seconds_spent,
        )
    except RecordFull:
        raise HttpError(
            409, "This record already has all the annotations its dataset asks for; yours was not saved."
        ) from None
    except RecordClosed as error:
        raise HttpError(409, str(error)) from None
    except LabelingError as error:
        raise HttpError(400, str(error)) from None
    annotation = Annotation.objects.select_related("annotator").prefetch_related("labels").get(pk=annotation.pk)
    status = None
    if user.has_perm("labeling.view_recordstate"):
        # Not for annotators: "labeled" or "disputed" right after their answer would tell them
        # what the others chose.
        status = RecordState.objects.filter(record_id=record.pk, schema=schema).values_list("status", flat=True).get()
    return Status(201, {**annotation_out(annotation), "record_status": status})


@router.get(
    "",
    response={200: AnnotationPage, 400: Message, 404: Message},
    auth=TokenAuth("labeling.view_annotation"),
    summary="Annotations, page by page",
)
def list_annotations(request, filters: Query[AnnotationFilters]):
    """Annotations in your datasets in id order; annotators see only their own."""
    user = request.auth
    annotations = Annotation.objects.visible_to(user)
    if filters.dataset is not None:
        dataset = find_visible(Dataset.objects.visible_to(user), filters.dataset, "Dataset")
        annotations = annotations.filter(schema__dataset_id=dataset.pk)
    if filters.label_set is not None:
        schema = find_visible(LabelSchema.objects.visible_to(user), filters.label_set, "Label set")
        annotations = annotations.filter(schema_id=schema.pk)
    if filters.record is not None:
        # Not find_visible on records: annotators may not open records, yet filter by their own.
        annotations = annotations.filter(record_id=filters.record)
    page = list(
        annotations.filter(pk__gt=id_after(filters.cursor))
        .order_by("pk")
        .select_related("annotator")
        .prefetch_related(Prefetch("labels", queryset=Label.objects.only("name")))[: filters.page_size + 1]
    )
    more = len(page) > filters.page_size
    page = page[: filters.page_size]
    return {
        "items": [annotation_out(annotation) for annotation in page],
        "next_cursor": cursor_after(page[-1].pk) if more else None,
    }
