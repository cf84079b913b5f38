"""What the API reads and writes (Pydantic, via django-ninja). Limits live here, so a request
over them is a 422 naming the field before any work is done."""

import math
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel, field_validator

from corpus.formats.writers import FORMATS
from jobs.models import Job
from labeling.models import Annotation, LabelSchema, RecordState

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
MAX_BULK_ITEMS = 10_000
MAX_SEARCH_RESULTS = 100
MAX_ROW_ERRORS = 100  # listed in a 400; the rest are counted


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here, with a message, not by the database.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Id = Annotated[int, Field(ge=1, le=2**63 - 1, description="A numeric id.")]
Text = Annotated[str, AfterValidator(_no_nul)]


# --- errors -----------------------------------------------------------------------------------


class Message(Schema):
    detail: str = Field(description="What went wrong, in words.")


class RowError(Schema):
    index: int | None = Field(
        description="Position of the item in the request's list (0-based); null for the whole request."
    )
    field: str = Field(description="The item's field that is wrong, or empty.")
    message: str


class RowErrors(Schema):
    detail: str
    error_count: int = Field(description="All errors found; `errors` lists the first 100.")
    errors: list[RowError]


# --- who am I ---------------------------------------------------------------------------------


class Me(Schema):
    username: str
    role: str | None = Field(description="Annotator, Reviewer, Data lead or ML engineer; null for administrators.")
    is_superuser: bool
    token_name: str
    token_prefix: str


# --- datasets ---------------------------------------------------------------------------------


class LabelOut(Schema):
    id: int
    name: str
    description: str
    hotkey: str
    color: str


class LabelSetOut(Schema):
    id: int
    name: str
    kind: LabelSchema.Kind
    labels: list[LabelOut]


class DatasetOut(Schema):
    id: int
    name: str
    description: str
    instructions: str
    overlap: int
    lease_minutes: int
    queue_order: str
    show_suggestions: bool
    created_at: datetime
    label_sets: list[LabelSetOut]


class DatasetDetail(DatasetOut):
    record_count: int


# --- records ----------------------------------------------------------------------------------


# Records are built as plain dicts (api/routers/records.py): plain pydantic models validate them
# several times faster than ninja's Schema, which also reads attributes of ORM objects.


class LabelStateOut(BaseModel):
    label_set_id: int
    status: RecordState.Status
    final_labels: list[str] = Field(description="Names of the final label(s), once decided.")


class RecordOut(BaseModel):
    id: int
    dataset_id: int
    text: str
    external_id: str
    meta: dict[str, Any]
    document_id: int | None
    position: int | None
    page: int | None
    char_start: int | None
    char_end: int | None
    has_embedding: bool = Field(description="The record has a vector for its current text.")
    embedding_model: str
    created_at: datetime
    labels: list[LabelStateOut] = Field(description="Status and final labels per label set.")


class RecordPage(BaseModel):
    items: list[RecordOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class RecordFilters(Schema):
    dataset: Id | None = Field(None, description="Only records of this dataset.")
    label_set: Id | None = Field(None, description="The label set that `status` is about (default: any).")
    status: RecordState.Status | None = Field(None, description="Where the record stands in labeling.")
    label: Id | None = Field(None, description="Only records whose final label is this label (id).")
    has_embedding: bool | None = Field(None, description="Only records with (true) or without (false) a vector.")
    text: Annotated[Text, Field(min_length=1, max_length=1000)] | None = Field(
        None, description="Only records whose text contains this (case-insensitive)."
    )
    cursor: Annotated[str, Field(max_length=200)] | None = Field(None, description="`next_cursor` of the page before.")
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class NewRecord(Schema):
    text: str = Field(description="The record's text; the same text twice in a dataset is stored once.")
    external_id: str = Field("", description="The id the record has in your system (unique per dataset).")
    meta: dict[str, Any] = Field(default_factory=dict, description="Anything else to keep with the record.")

    @field_validator("meta")
    @classmethod
    def meta_keys_are_free(cls, meta: dict[str, Any]) -> dict[str, Any]:
        taken = sorted({"text", "external_id"} & set(meta))
        if taken:
            raise ValueError(f"meta must not use the key(s) {', '.join(taken)}: they are the record's own fields")
        return meta


class NewRecords(Schema):
    dataset_id: Id
    records: list[NewRecord] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class ImportedRecords(Schema):
    read: int
    inserted: int
    duplicates: int = Field(description="Texts already in the dataset (or twice in the request): not stored again.")
    embedding_job_id: int | None = Field(description="The job embedding the new records, when one was started.")


# --- annotations ------------------------------------------------------------------------------


class NewAnnotation(Schema):
    record_id: Id
    label_set_id: Id
    labels: list[Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[Text, Field(min_length=1, max_length=100)]] = (
        Field(min_length=1, max_length=100, description="Label ids (numbers) or names (strings) of the label set.")
    )
    unsure: bool = False
    comment: Annotated[Text, Field(max_length=10_000)] = ""
    seconds_spent: float | None = Field(None, ge=0, le=86_400)


class AnnotationOut(Schema):
    id: int
    record_id: int
    label_set_id: int
    annotator: str | None = Field(description="Username; null for labels imported with the data.")
    source: Annotation.Source
    labels: list[str]
    unsure: bool
    comment: str
    seconds_spent: float | None
    created_at: datetime
    updated_at: datetime


class SavedAnnotation(AnnotationOut):
    record_status: RecordState.Status | None = Field(
        description="Where the record stands after this annotation; null for annotators (labeling stays blind)."
    )


class AnnotationPage(Schema):
    items: list[AnnotationOut]
    next_cursor: str | None


class AnnotationFilters(Schema):
    dataset: Id | None = None
    label_set: Id | None = None
    record: Id | None = None
    cursor: Annotated[str, Field(max_length=200)] | None = None
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


# --- predictions ------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class NewPrediction(Schema):
    record_id: Id
    label: Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[Text, Field(min_length=1, max_length=100)] = Field(
        description="Label id (number) or name (string) of the label set."
    )
    score: Annotated[float | None, AfterValidator(_finite)] = Field(None, ge=0, le=1)
    model_version: Annotated[Text, Field(min_length=1, max_length=200)] = Field(
        description="Which model said it, e.g. “sentiment-bert 2024-05”. Upserts are keyed by record, label and this."
    )

    @field_validator("model_version")
    @classmethod
    def not_tallys_own(cls, value: str) -> str:
        if value.strip().lower().startswith("tally "):
            raise ValueError("versions starting with “tally ” name Tally's own classifiers; choose another name")
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class NewPredictions(Schema):
    label_set_id: Id
    predictions: list[NewPrediction] = Field(min_length=1, max_length=MAX_BULK_ITEMS)


class SavedPredictions(Schema):
    created: int
    updated: int


# --- jobs -------------------------------------------------------------------------------------


class EmbedJob(Schema):
    dataset_id: Id
    model: Annotated[Text, Field(min_length=1, max_length=200)] | None = Field(
        None, description="One of the allowed models; default: the configured one."
    )


class ClassifyJob(Schema):
    label_set_id: Id
    classifier_id: Id | None = Field(None, description="A classifier version of the label set; default: the newest.")


class JobOut(Schema):
    id: int
    kind: str
    status: Job.Status
    params: dict[str, Any]
    done: int
    total: int | None
    percent: int | None
    result: dict[str, Any]
    error: str
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None = Field(None, description="For a finished export: where to fetch the file.")


# --- search -----------------------------------------------------------------------------------


class SearchQuery(Schema):
    dataset_id: Id
    query: Annotated[Text, Field(min_length=1, max_length=10_000)]
    k: int = Field(10, ge=1, le=MAX_SEARCH_RESULTS, description="How many records, most similar first.")


class SearchHit(BaseModel):
    similarity: float = Field(description="Cosine similarity, 1 = same meaning.")
    record: RecordOut


# --- exports ----------------------------------------------------------------------------------

ExportFormatName = Enum("ExportFormatName", {name.upper(): name for name in FORMATS}, type=str)


class ExportJob(Schema):
    dataset_id: Id
    format: ExportFormatName = Field(
        ExportFormatName("jsonl"), description="csv, jsonl, xlsx, hf, doccano, labelstudio, argilla, prodigy."
    )
    label_set_id: Id | None = Field(None, description="Default: the dataset's first label set.")
    annotations: Literal["final", "all"] = Field(
        "final", description="“final”: final labels only; “all”: also every annotation with its author."
    )
    predictions: bool = Field(False, description="Include predictions with their scores.")
    meta: bool = True
    provenance: bool = Field(False, description="Tally's id, document, page, chunk and span, import time.")
    statuses: list[RecordState.Status] = Field(default_factory=list, max_length=10, description="Empty: every record.")
    min_agreement: float | None = Field(None, ge=0, le=1)
    label_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(default_factory=list, max_length=1000)
    date_from: date | None = Field(None, description="Records people annotated on or after this day.")
    date_to: date | None = None
    annotator_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(default_factory=list, max_length=1000)
    split: list[Annotated[int, Field(ge=0, le=1_000_000)]] | None = Field(
        None, min_length=3, max_length=3, description="train / validation / test weights, e.g. [80, 10, 10]."
    )
    seed: int = Field(42, ge=-(2**63), le=2**63 - 1, description="The same data and seed give the same split.")
    near_duplicate_threshold: float | None = Field(
        None, gt=0, le=1, description="Cosine similarity: records at least this similar stay in one split."
    )
    escape_formulas: bool = Field(True, description="CSV/XLSX: prefix cells a spreadsheet would run with '.")
