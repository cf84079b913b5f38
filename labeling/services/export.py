"""Exporting a dataset's records with their labels into the files training code reads.

Streaming, whatever the size: records are read in keyset batches (a few queries per batch of
BATCH_SIZE records, never the whole table), turned into `ExportRow`s and handed to the format's
streaming writer (corpus/formats/writers.py), which yields bytes as they are ready. The same
generator serves a download straight to the browser, a background job writing under
DATA_DIR/exports/<job id>/, the `export_dataset` command and the API.

A record's label is its final label under the label set (RecordState: agreed by annotators or
decided by a reviewer); a record not decided yet carries the label it was imported with, if any.
"All annotations" adds every annotation with its author (imported ones without).

With a split, a first pass reads per record its id, content hash key, document, label set and
text (keyed for duplicates in the batch, then dropped), and plans the split in numpy
(labeling/services/splits.py: ~13 bytes per record are kept for writing); the second pass reads
the planned records by id range, split by split for the Hugging Face layout, taking labels and
splits from the plan. Records deleted in between are left out and counted as skipped.

Measured by bench/export.py (1M records, 80/10/10 split, duplicates grouped): see bench/README.md.
"""

import gc
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from corpus.formats.writers import FORMATS, ExportLayout, ExportRow, WriteStats, loads
from corpus.models import Dataset
from jobs import register
from jobs.models import Job
from jobs.services import start_job
from labeling.models import Label, LabelSchema, RecordState
from labeling.services.splits import (
    NO_DOCUMENT,
    SPLIT_NAMES,
    SplitPlan,
    assign_splits,
    find_near_duplicates,
    text_keys,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # records per batch of the writing pass
PLAN_BATCH_SIZE = 20_000  # records per batch of the planning pass (numbers and the text)
MAX_META_COLUMNS = 1_000  # tables: more distinct meta keys than this belong in JSON Lines
REPORT_EVERY_SECONDS = 1.0
FINAL, ALL = "final", "all"
PROVENANCE_COLUMNS = ("tally_id", "document", "page", "chunk", "char_start", "char_end", "imported_at")

Progress = Callable[..., None]  # progress(done=, total=), like Job.report


class ExportError(ValueError):
    """Options that cannot make an export; `field` names the option, for forms and the API."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def parse_split(text: str | None) -> tuple[int, int, int] | None:
    """Split weights from text: "80/10/10" -> (80, 10, 10); two numbers are train and test
    ("80/20" -> (80, 0, 20)); empty -> None (no split)."""
    if text is None or not text.strip():
        return None
    parts = [part for part in re.split(r"[/,:;\s]+", text.strip()) if part]
    if not all(part.isdigit() for part in parts) or len(parts) not in (2, 3):
        raise ExportError("a split is two or three whole numbers separated by /, e.g. 80/10/10", field="split")
    numbers = [int(part) for part in parts]
    if len(numbers) == 2:
        numbers = [numbers[0], 0, numbers[1]]
    if sum(numbers) <= 0:
        raise ExportError("at least one part of the split must be above 0", field="split")
    return (numbers[0], numbers[1], numbers[2])


def stream_max_records() -> int:
    """Exports of at most this many records stream straight to the browser; larger ones run as a job."""
    return getattr(settings, "EXPORT_STREAM_MAX_RECORDS", 50_000)


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


@dataclass
class ExportOptions:
    fmt: str = "jsonl"  # a key of corpus.formats.writers.FORMATS
    schema_id: int | None = None  # None: the dataset's first label set
    annotations: str = FINAL  # "final": final labels only; "all": also every annotation with its author
    predictions: bool = False
    meta: bool = True
    provenance: bool = False
    statuses: list[str] = field(default_factory=list)  # RecordState statuses; empty: every record
    min_agreement: float | None = None  # share of agreeing annotator pairs, 0..1
    label_ids: list[int] = field(default_factory=list)  # records whose label is one of these
    date_from: date | None = None  # records people annotated on or after this day
    date_to: date | None = None  # ... on or before this day
    annotator_ids: list[int] = field(default_factory=list)  # records annotated by one of these people
    record_ids: list[int] | None = None  # a selection; None: the whole dataset
    split: tuple[int, int, int] | None = None  # train / validation / test weights, e.g. (80, 10, 10)
    seed: int = 42
    near_duplicate_threshold: float | None = None  # cosine similarity, e.g. 0.95 (needs embeddings)
    escape_formulas: bool = True

    def to_params(self) -> dict:
        """JSON for a job's params."""
        data = asdict(self)
        data["date_from"] = self.date_from.isoformat() if self.date_from else None
        data["date_to"] = self.date_to.isoformat() if self.date_to else None
        data["split"] = list(self.split) if self.split else None
        return data

    @classmethod
    def from_params(cls, data: dict) -> "ExportOptions":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("date_from", "date_to"):
            if isinstance(known.get(name), str):
                known[name] = date.fromisoformat(known[name])
        if known.get("split") is not None:
            known["split"] = tuple(known["split"])
        return cls(**known)


@dataclass
class ExportReport:
    fmt: str
    filename: str  # a suggestion: dataset, label set, time
    content_type: str
    rows: int = 0
    splits: dict[str, int] = field(default_factory=dict)  # rows per split (with a split)
    # Groups of two records or more kept in one split: duplicate texts, documents' chunks,
    # and groups joined by near-duplicates.
    groups: dict[str, int] = field(default_factory=dict)
    near_duplicates: dict | None = None  # threshold, model, pairs, records checked, seconds
    skipped: int = 0  # planned records gone before they were written
    truncated_cells: int = 0  # xlsx: texts cut at 32,767 characters
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.rows:,} records as {self.fmt}"]
        if self.splits:
            parts.append(" / ".join(f"{name} {count:,}" for name, count in self.splits.items()))
        if self.groups:
            parts.append(
                "kept together: "
                + ", ".join(f"{count:,} {kind} group{'s' if count != 1 else ''}" for kind, count in self.groups.items())
            )
        if self.near_duplicates and self.near_duplicates.get("skipped"):
            parts.append(f"near-duplicates not checked: {self.near_duplicates['skipped']}")
        if self.skipped:
            parts.append(f"{self.skipped:,} records deleted meanwhile, left out")
        if self.truncated_cells:
            parts.append(f"{self.truncated_cells:,} cells cut at 32,767 characters")
        return "; ".join(parts)


# --- SQL ----------------------------------------------------------------------------------------

# The record's label ids under the label set: final labels; none for a record decided with none
# (multi-label); otherwise those of its imported annotation.
_LABELS = """
    COALESCE(
        (SELECT array_agg(f.label_id ORDER BY f.label_id) FROM labeling_recordstate_final_labels f
          WHERE f.recordstate_id = s.id),
        CASE WHEN s.status IN ('labeled', 'reviewed', 'gold') THEN '{}'::bigint[] END,
        (SELECT array_agg(al.label_id ORDER BY al.label_id)
           FROM labeling_annotation a JOIN labeling_annotation_labels al ON al.annotation_id = a.id
          WHERE a.record_id = r.id AND a.schema_id = %(schema)s AND a.source = 'imported'))
"""

# Per record: the share of its coders' pairs that gave the same answer (the same label set).
# NULL with fewer than two coders, so a minimum-agreement filter leaves such records out.
_AGREEMENT = """
    (SELECT sum(c.n * (c.n - 1))::float8 / nullif((sum(c.n) * (sum(c.n) - 1))::float8, 0)
       FROM (SELECT count(*) AS n
               FROM (SELECT array_agg(al.label_id ORDER BY al.label_id) FILTER (WHERE al.label_id IS NOT NULL) AS answer
                       FROM labeling_annotation a
                       LEFT JOIN labeling_annotation_labels al ON al.annotation_id = a.id
                      WHERE a.record_id = r.id AND a.schema_id = %(schema)s {coders}
                      GROUP BY a.id) AS answers
              GROUP BY answers.answer) AS c)
"""

# A 64-bit hash of the content hash: the order of groups in a split. hashtextextended is stable
# (hash partitioning relies on it), so the same texts and seed split alike in any database.
_CONTENT_KEY = "hashtextextended(r.content_hash, 0)"


class _Selection:
    """The FROM and WHERE of the records an export takes, with their parameters."""

    def __init__(self, *, dataset: Dataset, schema: LabelSchema | None, options: ExportOptions) -> None:
        self.params: dict = {"dataset": dataset.pk, "schema": schema.pk if schema else None}
        joins = []
        if schema is not None:
            # "s.record_id > after" repeats the keyset for the joined table: without it PostgreSQL
            # may merge-join from the table's first row for every batch (quadratic in the batches).
            joins.append(
                "LEFT JOIN labeling_recordstate s"
                " ON s.record_id = r.id AND s.schema_id = %(schema)s AND s.record_id > %(after)s"
            )
            joins.append(f"CROSS JOIN LATERAL (SELECT {_LABELS} AS label_ids) AS l")
        else:
            joins.append("CROSS JOIN LATERAL (SELECT NULL::varchar AS status) AS s")
            joins.append("CROSS JOIN LATERAL (SELECT NULL::bigint[] AS label_ids) AS l")
        if options.provenance:
            joins.append("LEFT JOIN corpus_document d ON d.id = r.document_id")
        self.from_sql = "corpus_record r " + " ".join(joins)

        filters = []
        if options.record_ids is not None:
            filters.append("r.id = ANY(%(selection)s)")
            self.params["selection"] = [int(pk) for pk in options.record_ids]
        if options.statuses:
            filters.append("COALESCE(s.status, 'unlabeled') = ANY(%(statuses)s)")
            self.params["statuses"] = list(options.statuses)
        if options.label_ids:
            filters.append("l.label_ids && %(label_filter)s::bigint[]")
            self.params["label_filter"] = [int(pk) for pk in options.label_ids]
        if options.min_agreement is not None:
            coders = "" if dataset.agreement_counts_imported else "AND a.source = 'human'"
            filters.append(f"{_AGREEMENT.format(coders=coders)} >= %(min_agreement)s")
            self.params["min_agreement"] = float(options.min_agreement)
        if options.annotator_ids or options.date_from or options.date_to:
            conditions = ["a.record_id = r.id", "a.schema_id = %(schema)s", "a.source = 'human'"]
            if options.annotator_ids:
                conditions.append("a.annotator_id = ANY(%(annotators)s)")
                self.params["annotators"] = [int(pk) for pk in options.annotator_ids]
            if options.date_from:
                conditions.append("a.created_at >= %(date_from)s")
                self.params["date_from"] = _start_of(options.date_from)
            if options.date_to:
                conditions.append("a.created_at < %(date_until)s")
                self.params["date_until"] = _start_of(options.date_to + timedelta(days=1))
            annotated = " AND ".join(conditions)  # constants; the values are parameters
            filters.append(f"EXISTS (SELECT 1 FROM labeling_annotation a WHERE {annotated})")  # noqa: S608
        self.filters = filters

    def where(self) -> str:
        """The records of the dataset after the keyset id %(after)s that pass the filters."""
        return " AND ".join(["r.dataset_id = %(dataset)s", "r.id > %(after)s", *self.filters])


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


# --- Batches ----------------------------------------------------------------------------------


@dataclass
class _Batch:
    """One batch of the writing pass as read from the database."""

    raw: list[tuple]  # id, external id, text, meta as JSON, label ids as text, provenance...
    expected: int  # records asked for (planned ones that are gone are skipped)
    splits: list[str] | None = None  # with a plan: each row's split...
    labels: list[list[str] | None] | None = None  # ... and label names
    annotations: dict[int, list[dict]] | None = None
    predictions: dict[int, list[dict]] | None = None


# --- Preparing ----------------------------------------------------------------------------------


def _check_options(options: ExportOptions) -> None:
    """Raise ExportError for options that make no export, whatever the dataset."""
    if options.fmt not in FORMATS:
        raise ExportError(f"unknown format “{options.fmt}”; known: {', '.join(FORMATS)}", field="fmt")
    if options.annotations not in (FINAL, ALL):
        raise ExportError("annotations must be “final” or “all”", field="annotations")
    unknown = sorted(set(options.statuses) - set(RecordState.Status.values))
    if unknown:
        raise ExportError(
            f"unknown status {', '.join(unknown)}; known: {', '.join(RecordState.Status.values)}", field="statuses"
        )
    if options.min_agreement is not None and not 0 <= options.min_agreement <= 1:
        raise ExportError("the minimum agreement is a share between 0 and 1", field="min_agreement")
    if options.date_from and options.date_to and options.date_from > options.date_to:
        raise ExportError("the date range ends before it starts", field="date_to")
    if options.split is not None:
        if len(options.split) != len(SPLIT_NAMES) or any(int(r) != r or r < 0 for r in options.split):
            raise ExportError("a split is three whole numbers, e.g. 80/10/10", field="split")
        if sum(options.split) <= 0:
            raise ExportError("at least one part of the split must be above 0", field="split")
    if not -(2**63) <= options.seed < 2**63:
        raise ExportError("the seed must fit in 64 bits", field="seed")
    if options.near_duplicate_threshold is not None:
        if not 0 < options.near_duplicate_threshold <= 1:
            raise ExportError(
                "the near-duplicate threshold is a cosine similarity above 0, up to 1", field="near_duplicate_threshold"
            )
        if options.split is None:
            raise ExportError(
                "near-duplicates are kept together only when the export is split", field="near_duplicate_threshold"
            )


def _check(*, dataset: Dataset, options: ExportOptions) -> LabelSchema | None:
    """The label set the export is about; raises ExportError for options that make no export."""
    _check_options(options)
    schemas = LabelSchema.objects.filter(dataset=dataset).order_by("pk")
    if options.schema_id is not None:
        schema = schemas.filter(pk=options.schema_id).first()
        if schema is None:
            raise ExportError("that label set is not one of this dataset's", field="schema_id")
    else:
        schema = schemas.first()
    needs_labels = options.label_ids or options.min_agreement is not None or options.annotator_ids
    if schema is None and (needs_labels or options.date_from or options.date_to):
        raise ExportError("the dataset has no label set to filter by", field="schema_id")
    if options.label_ids and schema is not None:
        known = set(schema.labels.values_list("pk", flat=True))
        if not set(options.label_ids) <= known:
            raise ExportError(f"some labels are not in the label set “{schema.name}”", field="label_ids")
    return schema


class PreparedExport:
    """One export, checked and ready: `chunks()` yields its file's bytes; `report` says what it did."""

    def __init__(self, *, dataset: Dataset, options: ExportOptions) -> None:
        self.dataset = dataset
        self.options = options
        self.schema = _check(dataset=dataset, options=options)
        self.format = FORMATS[options.fmt]
        labels = list(Label.objects.filter(schema=self.schema).order_by("order", "name")) if self.schema else []
        self.label_names = {label.pk: label.name for label in labels}
        self._label_lists: dict[str, list[str]] = {}
        self.selection = _Selection(dataset=dataset, schema=self.schema, options=options)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        name = "-".join(
            part for part in (slugify(dataset.name), slugify(self.schema.name) if self.schema else "") if part
        )
        self.filename = f"{name or 'dataset'}-{stamp}.{self.format.extension}"
        self.report = ExportReport(fmt=options.fmt, filename=self.filename, content_type=self.format.content_type)

    # --- the selection ---

    def count(self, *, limit: int | None = None) -> int:
        """How many records the export takes (at most `limit` + 1 counted, when given)."""
        sql = f"SELECT 1 FROM {self.selection.from_sql} WHERE {self.selection.where()}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS selected", {**self.selection.params, "after": 0})  # noqa: S608
            return cursor.fetchone()[0]

    def _meta_columns(self) -> tuple[str, ...]:
        """Tables: the meta keys of the dataset's records (or the selection's), in a stable order."""
        selection = "AND r.id = ANY(%(selection)s)" if self.options.record_ids is not None else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT o.key
                  FROM corpus_record r CROSS JOIN LATERAL jsonb_object_keys(r.meta) WITH ORDINALITY AS o(key, n)
                 WHERE r.dataset_id = %(dataset)s AND r.meta <> '{{}}'::jsonb {selection}
                 GROUP BY o.key ORDER BY min(o.n), o.key LIMIT %(limit)s
                """,  # noqa: S608
                {**self.selection.params, "limit": MAX_META_COLUMNS + 1},
            )
            keys = tuple(key for (key,) in cursor.fetchall())
        if len(keys) > MAX_META_COLUMNS:
            raise ExportError(
                f"the records carry more than {MAX_META_COLUMNS:,} different meta keys: export JSON Lines instead",
                field="fmt",
            )
        return keys

    # --- the split ---

    def _plan_batches(self) -> Iterator[list[tuple]]:
        """The planning pass's reads: per record its id, content key, document, label ids (as
        text) and text, in keyset batches."""
        sql = f"""
            SELECT r.id, {_CONTENT_KEY}, COALESCE(r.document_id, {NO_DOCUMENT}),
                   array_to_string(l.label_ids, ','), r.text
              FROM {self.selection.from_sql}
             WHERE {self.selection.where()}
             ORDER BY r.id LIMIT %(limit)s
        """  # noqa: S608
        after = 0
        with connection.cursor() as cursor:
            while True:
                cursor.execute(sql, {**self.selection.params, "after": after, "limit": PLAN_BATCH_SIZE})
                rows = cursor.fetchall()
                yield rows
                if len(rows) < PLAN_BATCH_SIZE:
                    return
                after = rows[-1][0]

    def _plan(self, heartbeat: Callable[[], None]) -> SplitPlan:
        """First pass: numbers per record (the text only long enough to key duplicates), then
        the split planned in numpy. The label sets are kept, a small number per record, so the
        writing pass needs no label queries."""
        # The columns are allocated once, for the count (records added meanwhile make them grow):
        # joining batch arrays at the end would need a second copy of everything.
        size = self.count()
        dtypes = {"ids": np.int64, "content": np.int64, "documents": np.int64, "labels": np.int32, "texts": np.int64}
        joined = {name: np.empty(size, dtype=dtype) for name, dtype in dtypes.items()}
        label_codes: dict[str | None, int] = {}
        filled = 0
        for rows in self._plan_batches():
            if rows:
                ids, content, documents, labels, texts = zip(*rows, strict=True)
                del rows
                end = filled + len(ids)
                if end > len(joined["ids"]):
                    for name, column in joined.items():
                        joined[name] = np.resize(column, max(end, len(column) + len(column) // 8))
                part = slice(filled, end)
                joined["ids"][part] = ids
                joined["content"][part] = content
                joined["documents"][part] = documents
                joined["labels"][part] = [label_codes.setdefault(text, len(label_codes)) for text in labels]
                joined["texts"][part] = text_keys(texts, fallback=joined["content"][part])
                filled = end
                del ids, content, documents, labels, texts
            heartbeat()
        joined = {name: column[:filled] for name, column in joined.items()}
        self._plan_labels = joined["labels"]
        self._plan_label_lists = [self._labels_of(text) for text in label_codes]  # code -> label names
        near_pairs = None
        threshold = self.options.near_duplicate_threshold
        if threshold is not None:
            found = find_near_duplicates(
                dataset_id=self.dataset.pk,
                record_ids=joined["ids"],
                threshold=threshold,
                heartbeat=lambda _checked: heartbeat(),
            )
            near_pairs = found.pairs
            self.report.near_duplicates = {
                "threshold": threshold,
                "model": found.model,
                "records_checked": found.records_checked,
                "seconds": round(found.seconds, 2),
            }
            if found.model is None:
                self.report.near_duplicates["skipped"] = "the records have no embeddings"
        # Handed over, not kept: assign_splits frees the keys it no longer needs.
        plan = assign_splits(
            ids=joined.pop("ids"),
            strata=joined.pop("labels"),
            content_keys=joined.pop("content"),
            text_keys=joined.pop("texts"),
            document_ids=joined.pop("documents"),
            near_pairs=near_pairs,
            ratios=tuple(self.options.split),
            seed=self.options.seed,
        )
        self.report.groups = {"exact": plan.exact_groups, "document": plan.document_groups, "near": plan.near_groups}
        if self.report.near_duplicates is not None:
            self.report.near_duplicates["pairs"] = plan.near_pairs
        return plan

    # --- the rows ---

    def _layout(self, plan: SplitPlan | None) -> ExportLayout:
        options = self.options
        metadata = {
            "dataset": self.dataset.name,
            "label_set": self.schema.name if self.schema else None,
            "exported_at": timezone.now().isoformat(timespec="seconds"),
        }
        if plan is not None:
            metadata |= {"seed": options.seed, "ratios": dict(zip(SPLIT_NAMES, options.split, strict=True))}
            metadata["groups_kept_together"] = self.report.groups
        return ExportLayout(
            label_names=tuple(self.label_names.values()),
            multi_label=bool(self.schema and self.schema.kind == LabelSchema.Kind.MULTI),
            meta_columns=self._meta_columns() if self.format.table and options.meta else (),
            provenance_columns=PROVENANCE_COLUMNS if self.format.table and options.provenance else (),
            split=plan is not None,
            split_names=tuple(name for name, r in zip(SPLIT_NAMES, options.split, strict=True) if r > 0)
            if plan is not None
            else (SPLIT_NAMES[0],),
            annotations=options.annotations == ALL,
            predictions=options.predictions,
            provenance=options.provenance,
            escape_formulas=options.escape_formulas,
            metadata=metadata,
        )

    def _row_sql(self, *, planned: str | None = None) -> str:
        """The writing pass's query: by keyset with the filters and the labels (no plan), or the
        planned records, by an id range (`planned="range"`) or by their ids (`"ids"`), whose
        labels the plan already holds."""
        provenance = (
            ", d.original_name, r.page, r.position, r.char_start, r.char_end, r.created_at"
            if self.options.provenance
            else ""
        )
        if planned is None:
            return f"""
                SELECT r.id, r.external_id, r.text, r.meta::text, array_to_string(l.label_ids, ','){provenance}
                  FROM {self.selection.from_sql}
                 WHERE {self.selection.where()}
                 ORDER BY r.id LIMIT %(limit)s
            """  # noqa: S608
        document = "LEFT JOIN corpus_document d ON d.id = r.document_id" if self.options.provenance else ""
        which = "r.id BETWEEN %(first)s AND %(last)s" if planned == "range" else "r.id = ANY(%(ids)s)"
        return f"""
            SELECT r.id, r.external_id, r.text, r.meta::text, NULL{provenance}
              FROM corpus_record r {document}
             WHERE r.dataset_id = %(dataset)s AND {which}
             ORDER BY r.id
        """  # noqa: S608

    def _annotations(self, cursor, record_ids: list[int]) -> dict[int, list[dict]]:
        users = get_user_model()._meta.db_table
        cursor.execute(
            f"""
            SELECT a.record_id, a.source, u.username, a.unsure, a.comment, a.seconds_spent, a.created_at,
                   array_agg(al.label_id ORDER BY al.label_id) FILTER (WHERE al.label_id IS NOT NULL)
              FROM labeling_annotation a
              LEFT JOIN {users} u ON u.id = a.annotator_id
              LEFT JOIN labeling_annotation_labels al ON al.annotation_id = a.id
             WHERE a.schema_id = %s AND a.record_id = ANY(%s)
             GROUP BY a.id, u.username
             ORDER BY a.record_id, a.created_at, a.id
            """,  # noqa: S608 (the table name is Django's own)
            [self.schema.pk, record_ids],
        )
        names = self.label_names
        found: dict[int, list[dict]] = {}
        for record_id, source, username, unsure, comment, seconds, created_at, label_ids in cursor.fetchall():
            found.setdefault(record_id, []).append(
                {
                    "annotator": username,
                    "source": source,
                    "labels": [names[pk] for pk in label_ids or [] if pk in names],
                    "unsure": unsure,
                    "comment": comment,
                    "seconds_spent": seconds,
                    "created_at": created_at.isoformat(),
                }
            )
        return found

    def _predictions(self, cursor, record_ids: list[int]) -> dict[int, list[dict]]:
        cursor.execute(
            """
            SELECT p.record_id, p.label_id, p.score, p.model_version FROM labeling_prediction p
             WHERE p.schema_id = %s AND p.record_id = ANY(%s)
             ORDER BY p.record_id, p.model_version, p.score DESC NULLS LAST, p.label_id
            """,
            [self.schema.pk, record_ids],
        )
        names = self.label_names
        found: dict[int, list[dict]] = {}
        for record_id, label_id, score, version in cursor.fetchall():
            if label_id in names:
                found.setdefault(record_id, []).append(
                    {"label": names[label_id], "score": score, "model_version": version}
                )
        return found

    def _labels_of(self, text: str | None) -> list[str] | None:
        """Label names from label ids as text ("3,5"); one list per distinct text, shared."""
        if text is None:
            return None
        names = self._label_lists.get(text)
        if names is None:
            names = [self.label_names[int(pk)] for pk in text.split(",") if pk and int(pk) in self.label_names]
            self._label_lists[text] = names
        return names

    def _extras(self, cursor, batch: "_Batch") -> None:
        record_ids = [row[0] for row in batch.raw]
        if self.options.annotations == ALL:
            batch.annotations = self._annotations(cursor, record_ids) if self.schema else {}
        if self.options.predictions:
            batch.predictions = self._predictions(cursor, record_ids) if self.schema else {}

    def _raw_batches(self, plan: SplitPlan | None) -> Iterator["_Batch"]:
        """The writing pass's reads, batch by batch: without a plan by keyset with the filters
        (labels from the query), with one the planned records (labels and split from the plan)."""
        params = self.selection.params
        with connection.cursor() as cursor:
            if plan is None:
                sql, after = self._row_sql(), 0
                while True:
                    cursor.execute(sql, {**params, "after": after, "limit": BATCH_SIZE})
                    raw = cursor.fetchall()
                    if raw:
                        after = raw[-1][0]
                        batch = _Batch(raw=raw, expected=len(raw))
                        self._extras(cursor, batch)
                        yield batch
                    if len(raw) < BATCH_SIZE:
                        return
            by_range, by_ids = self._row_sql(planned="range"), self._row_sql(planned="ids")
            # The Hugging Face layout has a file per split: the planned records split by split.
            parts = (
                [np.flatnonzero(plan.splits == i) for i, r in enumerate(self.options.split) if r > 0]
                if self.options.fmt == "hf"
                else [np.arange(len(plan.ids))]
            )
            label_lists = self._plan_label_lists
            for part in parts:
                for start in range(0, len(part), BATCH_SIZE):
                    chosen = part[start : start + BATCH_SIZE]
                    ids = plan.ids[chosen]
                    first, last = int(ids[0]), int(ids[-1])
                    # A dense run of ids is read as a range (cheap); a sparse one by its ids, so
                    # a selective filter never reads the records in between.
                    if last - first < 2 * len(ids):
                        cursor.execute(by_range, {**params, "first": first, "last": last})
                    else:
                        cursor.execute(by_ids, {**params, "ids": ids.tolist()})
                    raw = cursor.fetchall()
                    if len(raw) == len(ids) and raw[0][0] == first and raw[-1][0] == last:
                        at = chosen  # every planned record and nothing else (sorted and unique: the same ids)
                    else:
                        # Keep the planned records (a range holds others too) that are still there.
                        found = np.fromiter((row[0] for row in raw), dtype=np.int64, count=len(raw))
                        at = np.searchsorted(ids, found).clip(max=len(ids) - 1)
                        planned = ids[at] == found
                        raw = [row for row, keep in zip(raw, planned.tolist(), strict=True) if keep]
                        at = chosen[at[planned]]
                    batch = _Batch(
                        raw=raw,
                        expected=len(ids),
                        splits=[SPLIT_NAMES[i] for i in plan.splits[at].tolist()],
                        labels=[label_lists[code] for code in self._plan_labels[at].tolist()],
                    )
                    self._extras(cursor, batch)
                    yield batch

    def _to_rows(self, batch: "_Batch") -> list[ExportRow]:
        options, raw = self.options, batch.raw
        labels = batch.labels if batch.labels is not None else [self._labels_of(row[4]) for row in raw]
        splits = batch.splits or [None] * len(raw)
        metas = [loads(row[3]) if row[3] != "{}" else {} for row in raw] if options.meta else [{}] * len(raw)
        if not (options.provenance or batch.annotations is not None or batch.predictions is not None):
            # The usual export, as one comprehension: this runs for every record.
            return [
                ExportRow(row[0], row[1], row[2], meta, label, split)
                for row, meta, label, split in zip(raw, metas, labels, splits, strict=True)
            ]
        annotations, predictions = batch.annotations, batch.predictions
        rows = []
        for row, meta, label, split in zip(raw, metas, labels, splits, strict=True):
            record_id = row[0]
            provenance = None
            if options.provenance:
                document, page, position, start, end, created_at = row[5:]
                provenance = {
                    "tally_id": record_id,
                    "document": document,
                    "page": page,
                    "chunk": position,
                    "char_start": start,
                    "char_end": end,
                    "imported_at": created_at.isoformat(),
                }
            rows.append(
                ExportRow(
                    record_id,
                    row[1],
                    row[2],
                    meta,
                    label,
                    split,
                    annotations.get(record_id, []) if annotations is not None else None,
                    predictions.get(record_id, []) if predictions is not None else None,
                    provenance,
                )
            )
        return rows

    def _batches(self, plan: SplitPlan | None, tick: Callable[[int], None]) -> Iterator[list[ExportRow]]:
        for batch in self._raw_batches(plan):
            rows = self._to_rows(batch)
            self.report.skipped += batch.expected - len(rows)
            tick(len(rows))
            if rows:
                yield rows

    def chunks(self, *, progress: Progress | None = None) -> Iterator[bytes]:
        """The file's bytes, batch by batch. `progress(done=, total=)` is called about once a
        second (a job's report: it may raise to cancel)."""
        return _without_cycle_collection(self._chunks(progress=progress))

    def _chunks(self, *, progress: Progress | None) -> Iterator[bytes]:
        started = time.perf_counter()
        report = self.report
        total: int | None = None
        last = [0.0]

        def heartbeat() -> None:
            now = time.perf_counter()
            if progress is not None and now - last[0] >= REPORT_EVERY_SECONDS:
                last[0] = now
                progress(done=0, total=total)

        plan = None
        if self.options.split is not None:
            plan = self._plan(heartbeat)
            total = len(plan.ids)
        elif progress is not None:
            total = self.count()
        if progress is not None:
            progress(done=0, total=total)
        counts: dict[str, int] = dict.fromkeys(plan.counts(), 0) if plan is not None else {}

        def tick(rows: int) -> None:
            report.rows += rows
            now = time.perf_counter()
            if progress is not None and now - last[0] >= REPORT_EVERY_SECONDS:
                last[0] = now
                progress(done=report.rows, total=max(total or 0, report.rows))

        def counted(batches: Iterator[list[ExportRow]]) -> Iterator[list[ExportRow]]:
            for batch in batches:
                if plan is not None:
                    for row in batch:
                        counts[row.split] += 1
                yield batch

        stats = WriteStats()
        layout = self._layout(plan)
        for chunk in self.format.write(counted(self._batches(plan, tick)), layout, stats):
            if chunk:
                yield chunk
        report.splits = counts
        report.truncated_cells = stats.truncated_cells
        report.seconds = round(time.perf_counter() - started, 3)
        if progress is not None:
            progress(done=report.rows, total=report.rows)


def _without_cycle_collection(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, with the objects that existed before the export left out of Python's cyclic
    garbage collection until it ends (gc.freeze / gc.unfreeze). A batch's thousands of objects
    outlive the collector's young generations and soon trigger full collections, and each would
    rescan every long-lived object of the process (Django, the app): a third of a million-record
    export went there. Objects made meanwhile are collected as usual.

    A process that froze its start-up objects already (config/wsgi.py does) keeps them frozen:
    only a freeze made here is undone here."""
    if gc.get_freeze_count():
        yield from chunks
        return
    gc.freeze()
    try:
        yield from chunks
    finally:
        gc.unfreeze()


def prepare_export(*, dataset: Dataset, options: ExportOptions) -> PreparedExport:
    """Check the options against the dataset (ExportError if they make no export)."""
    return PreparedExport(dataset=dataset, options=options)


def export_records(
    *, dataset: Dataset, options: ExportOptions, out: BinaryIO, progress: Progress | None = None
) -> ExportReport:
    """Write the export to the binary file `out`, streaming (the "hf" format writes a ZIP).
    `progress(done=, total=)` is called about once a second and may raise to stop the export."""
    prepared = prepare_export(dataset=dataset, options=options)
    for chunk in prepared.chunks(progress=progress):
        out.write(chunk)
    return prepared.report


# --- As a job -----------------------------------------------------------------------------------


def start_export(*, dataset: Dataset, options: ExportOptions, user) -> Job:
    """Queue the export as a job (kind "export"); its file is written under
    DATA_DIR/exports/<job id>/ and offered by the download view to its creator."""
    prepare_export(dataset=dataset, options=options)  # bad options fail now, in the request
    params = {"dataset_id": dataset.pk, "options": options.to_params()}
    return start_job(kind="export", params=params, user=user)


def _plain_name(name) -> bool:
    return isinstance(name, str) and bool(name) and name == os.path.basename(name) and not name.startswith(".")


def export_file(job: Job) -> Path | None:
    """The finished file of an export job, or None (not an export, not finished, or gone). The
    name comes from the job's own result, never from a request, and must be a plain file name."""
    if job.kind != "export" or job.status != Job.Status.SUCCEEDED:
        return None
    name = (job.result or {}).get("file")
    if not _plain_name(name):
        return None
    root = exports_dir().resolve()
    path = (root / str(job.pk) / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@register("export")
def run_export(job: Job) -> None:
    dataset = Dataset.objects.get(pk=job.params["dataset_id"])
    prepared = prepare_export(dataset=dataset, options=ExportOptions.from_params(job.params["options"]))
    folder = exports_dir() / str(job.pk)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():  # an earlier attempt's file
        old.unlink()
    partial = folder / f".{prepared.filename}.part"
    try:
        with partial.open("wb") as out:
            for chunk in prepared.chunks(progress=job.report):
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(folder / prepared.filename)
    report = prepared.report
    result = report.as_dict() | {
        "file": prepared.filename,
        "size": (folder / prepared.filename).stat().st_size,
        "download_url": reverse("admin:labeling_export_download", args=[job.pk]),
    }
    Job.objects.filter(pk=job.pk).update(result=result)
    job.add_log(f"exported {report.summary()}")
    logger.info("export job %s: %s in %.1f s", job.pk, report.summary(), report.seconds)
