"""Importing a file into a dataset: a reader yields rows -> each row is validated and hashed ->
rows stream through PostgreSQL COPY into a staging table -> INSERT ... SELECT adds the new ones
to corpus_record, batch by batch in file order, so progress (and a cancel) reaches the writing
too. All in one transaction: any error or cancel and nothing of the file is written.

Dedupe lives in SQL, not in Python memory, so a million-row file costs the same flat memory as a
small one: duplicates within the file are dropped with a window over the staging table, and rows
already in the dataset by ON CONFLICT on the (dataset, content_hash) constraint.
"""

import itertools
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from corpus.formats import JSON, JSONL, detect_container, open_reader
from corpus.formats.base import BadRow, FormatError, RowError
from corpus.formats.shapes import (
    HUGGINGFACE,
    PARSERS,
    PLAIN,
    SHAPES,
    Mapping,
    ParsedRow,
    RowProblem,
    default_mapping,
    detect_shape,
    meta_json,
)
from corpus.formats.source import head_of, open_buffered
from corpus.formats.zipguard import ZipLimits
from corpus.models import Dataset
from corpus.text import content_hash

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 100
COPY_BATCH_ROWS = 2_000
# Staged rows per INSERT into corpus_record: a second or two of index upkeep each, so the progress
# bar moves and a cancel is seen within seconds; a statement per batch costs nothing measurable.
WRITE_BATCH_ROWS = 20_000
EMPTY_TEXT_HASH = content_hash("")

READING, WRITING = "reading", "writing"


class Progress(Protocol):
    """How far an import is, in two phases. READING: `done` bytes of the file read, of `total`
    (None when the size is unknown, a pipe). WRITING: `done` of the `total` staged rows written
    into the dataset (inserted or skipped as duplicates); the last call, done == total, comes when
    everything is written, just before the commit. It may raise (JobCancelled) to stop the
    import: the transaction rolls back and nothing of the file stays."""

    def __call__(self, *, phase: str, done: int, total: int | None) -> None: ...


def import_limits() -> dict:
    return {
        "max_upload_bytes": getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", 2 << 30),
        "max_field_chars": getattr(settings, "IMPORT_MAX_FIELD_CHARS", 1_000_000),
        "zip_limits": ZipLimits(
            max_members=getattr(settings, "IMPORT_ZIP_MAX_MEMBERS", 10_000),
            max_total_bytes=getattr(settings, "IMPORT_ZIP_MAX_BYTES", 1 << 30),
            max_ratio=getattr(settings, "IMPORT_ZIP_MAX_RATIO", 100),
        ),
    }


@dataclass
class ImportResult:
    """What an import did, or why it wrote nothing."""

    filename: str
    container: str = ""
    shape: str = ""
    mapping: dict = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)  # a table's header, or the first JSON row's keys
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    annotations: int = 0
    predictions: int = 0
    labels_added: list[str] = field(default_factory=list)
    rows_with_labels_ignored: int = 0
    documents: int = 0  # documents imported (document uploads)
    documents_duplicates: int = 0  # documents already in the dataset, skipped

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, location: str, field_name: str, message: str, *, file: str | None = None) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(file or self.filename, location, field_name, message))

    def as_dict(self) -> dict:
        return {
            "filename": self.filename,
            "format": self.container,
            "shape": self.shape,
            "mapping": self.mapping,
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "error_count": self.error_count,
            "errors": [str(error) for error in self.errors],
            "annotations": self.annotations,
            "predictions": self.predictions,
            "labels_added": self.labels_added,
            "documents": self.documents,
            "documents_duplicates": self.documents_duplicates,
        }


@dataclass
class StagedImport:
    """The rows of one file, validated and waiting in a temporary table of the open transaction:
    what a LabelWriter reads to attach labels and predictions to the records."""

    cursor: object  # a Django cursor inside the import's transaction
    table: str
    dataset: Dataset
    mapping: Mapping
    result: ImportResult
    location: Callable[[int], str]
    rows_with_labels: int = 0
    rows_with_predictions: int = 0


class LabelWriter(Protocol):
    """Writes the labels and predictions a file carries (the labeling app implements it)."""

    def check(self, staged: StagedImport) -> None:
        """Report problems with staged.result.add_error before any record is written."""

    def write(self, staged: StagedImport) -> None:
        """Write annotations and predictions for the staged rows, now that records exist."""


_label_writer_factory: Callable[..., LabelWriter] | None = None


def register_label_writer(factory: Callable[..., LabelWriter]) -> None:
    """The labeling app registers how labels in a file are written (corpus knows no labeling)."""
    global _label_writer_factory  # noqa: PLW0603
    _label_writer_factory = factory


def label_writer_for(**options) -> LabelWriter | None:
    return _label_writer_factory(**options) if _label_writer_factory else None


class Rollback(Exception):
    pass


class Staging:
    COLUMNS = "source_row, text, content_hash, external_id, meta, labels, predictions"
    CHUNK_COLUMNS = (
        "source_row, text, content_hash, external_id, meta, document_id, position, page, char_start, char_end"
    )

    def __init__(self, cursor) -> None:
        self.cursor = cursor
        self.table = f"import_staging_{secrets.token_hex(6)}"
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE {self.table} (
                source_row integer NOT NULL,
                text text NOT NULL,
                content_hash char(64) NOT NULL,
                external_id text NOT NULL,
                meta jsonb NOT NULL,
                labels jsonb,
                predictions jsonb,
                document_id bigint,
                position integer,
                page integer,
                char_start integer,
                char_end integer
            ) ON COMMIT DROP
            """
        )

    def drop(self) -> None:
        self.cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


def copy_text(value: str) -> str:
    """A value in COPY's text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _json_list(values, field_name: str) -> str:
    text = meta_json(values)  # type: ignore[arg-type]
    if "\\u0000" in text:
        raise RowProblem(field_name, "contains a NUL byte")
    return copy_text(text)


def refuse_oversized(source: BinaryIO, max_bytes: int) -> int | None:
    """Refuse an upload over the limit before reading it, when its size is known; return that
    size (what the progress of reading counts up to), or None for a pipe."""
    try:
        position = source.tell()
        size = source.seek(0, 2) - position
        source.seek(position)
    except (AttributeError, OSError, ValueError):
        return None  # a pipe: the counting stream stops at the limit instead
    if size > max_bytes:
        raise FormatError(f"the file is {size:,} bytes; the upload limit is {max_bytes:,} bytes")
    return size


def read_rows(
    *,
    source: BinaryIO,
    filename: str,
    fmt: str | None = None,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    label_names: tuple[str, ...] = (),
    encoding: str | None = None,
    with_labels: bool = True,
    progress: Progress | None = None,
) -> tuple[ImportResult, Mapping, Callable[[int], str], Iterator[tuple[int, ParsedRow | RowProblem]]]:
    """Open the file, detect container, shape and mapping, and return the parsed rows as a stream.
    Raises FormatError when the file cannot be read at all."""
    limits = import_limits()
    size = refuse_oversized(source, limits["max_upload_bytes"])
    on_read = None if progress is None else lambda done: progress(phase=READING, done=done, total=size)
    stream = open_buffered(source, max_bytes=limits["max_upload_bytes"], on_read=on_read)
    head = head_of(stream)
    container = detect_container(filename=filename, head=head, fmt=fmt)
    reader = open_reader(
        container,
        stream=stream,
        raw=source,
        encoding=encoding,
        max_field_chars=limits["max_field_chars"],
        zip_limits=limits["zip_limits"],
    )
    rows = iter(reader)
    result = ImportResult(filename=filename, container=container)

    # The shape and default mapping come from the first readable row (a table's header decides
    # for tables); bad rows before it are kept to be reported in order.
    pending: list[tuple[int, dict | BadRow]] = []
    first: dict | None = None
    for number, row in rows:
        pending.append((number, row))
        if type(row) is dict:
            first = row
            break
    keys = reader.columns if reader.columns is not None else list(first or {})
    shape = fmt if fmt in SHAPES else (detect_shape(first) if first and container in {JSON, JSONL} else PLAIN)
    if shape == PLAIN and reader.columns is not None and "label_text" in reader.columns:
        shape = HUGGINGFACE
    mapping = default_mapping(
        shape=shape,
        keys=keys,
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        label_names=label_names,
    )
    if not with_labels and shape == PLAIN and mapping.label_field and not label_field:
        # Nobody can write labels: the label column stays in meta rather than vanishing.
        mapping = Mapping(PLAIN, mapping.text_field, mapping.id_field, "")
    if not mapping.text_field and first is None and reader.columns is None:
        # No readable row at all: the rows' own errors (or "no rows") say more than a mapping.
        mapping = Mapping(shape, "text", mapping.id_field, mapping.label_field, label_names)
    if not mapping.text_field:
        raise FormatError(
            "no text field found (looked for: text, content, sentence, body); name the one to use"
            + (f"; the columns are: {', '.join(keys)}" if keys else ""),
            location="row 1" if reader.columns is not None else "file",
            columns=keys,
        )
    if reader.columns is not None:
        for role, name in (("text", mapping.text_field), ("id", mapping.id_field), ("label", mapping.label_field)):
            if name and name not in reader.columns:
                raise FormatError(
                    f"there is no {role} column “{name}”; the columns are: {', '.join(reader.columns)}",
                    location="row 1",
                    field=name,
                    columns=reader.columns,
                )
    result.shape = shape
    result.columns = list(keys)
    result.mapping = mapping.describe() | {
        "meta": [key for key in keys if key not in {mapping.text_field, mapping.id_field, mapping.label_field}]
        if shape == PLAIN
        else []
    }
    return result, mapping, reader.location, _parse(itertools.chain(pending, rows), mapping)


def _parse(rows, mapping: Mapping) -> Iterator[tuple[int, ParsedRow | RowProblem]]:
    parse = PARSERS[mapping.shape]
    for number, row in rows:
        if type(row) is not dict:
            yield number, RowProblem(row.field, row.message)
            continue
        try:
            yield number, parse(row, mapping)
        except RowProblem as problem:
            yield number, problem


@dataclass(frozen=True)
class PreviewRow:
    location: str
    row: ParsedRow | None
    problem: RowError | None


@dataclass
class Preview:
    """The first rows of a file as they would be imported, and the mapping that reads them."""

    result: ImportResult
    rows: list[PreviewRow]


def preview_file(*, source: BinaryIO, filename: str, limit: int = 10, **options) -> Preview:
    """Read only the first `limit` rows: what the upload page shows before anything is written.
    `options` are those of import_records (fmt, text_field, id_field, label_field, ...)."""
    try:
        result, mapping, location, rows = read_rows(source=source, filename=filename, **options)
    except FormatError as exc:
        result = ImportResult(filename=filename, columns=list(exc.columns))
        result.add_error(exc.location, exc.field, exc.message)
        return Preview(result, [])
    max_chars = import_limits()["max_field_chars"]
    shown = []
    try:
        for number, row in itertools.islice(rows, limit):
            problem = row if type(row) is RowProblem else _problem_of(row, mapping, max_chars)
            if problem is not None:
                error = RowError(filename, location(number), problem.field, problem.message)
                shown.append(PreviewRow(location(number), None, error))
            else:
                shown.append(PreviewRow(location(number), row, None))
    except FormatError as exc:
        result.add_error(exc.location, exc.field, exc.message)
    return Preview(result, shown)


def import_records(
    *,
    dataset: Dataset,
    source: BinaryIO,
    filename: str,
    fmt: str | None = None,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    label_names: tuple[str, ...] = (),
    user=None,
    encoding: str | None = None,
    label_writer: LabelWriter | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read, validate and insert all rows of `source` into `dataset`, or none of them.

    The result counts rows read, inserted and skipped as duplicates; when anything is wrong it
    lists up to 100 errors (file, row or line, field, message) and their total, and nothing was
    written. Labels and predictions in the file are written by `label_writer` in the same
    transaction; without one they are left out (and counted). `progress` hears of the reading,
    then of the writing, and may stop the import by raising (see Progress)."""
    try:
        result, mapping, location, rows = read_rows(
            source=source,
            filename=filename,
            fmt=fmt,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            label_names=label_names,
            encoding=encoding,
            with_labels=label_writer is not None,
            progress=progress,
        )
    except FormatError as exc:
        result = ImportResult(filename=filename)
        result.add_error(exc.location, exc.field, exc.message)
        return result
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            staged = _stage_rows(cursor, dataset=dataset, mapping=mapping, result=result, location=location, rows=rows)
            if result.ok:
                write_records(staged, label_writer=label_writer, progress=progress)
            if not result.ok:
                raise Rollback
            cursor.execute(f"DROP TABLE IF EXISTS {staged.table}")
    except IntegrityError as exc:
        # Another import into the same dataset committed an overlapping id between our checks and
        # our insert: the database refused it, so nothing was written.
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or "a constraint"
        result.add_error(
            "file", "", f"the dataset changed while importing ({constraint}); nothing was written, try again"
        )
    except Rollback:
        pass
    if not result.ok:
        result.inserted = result.duplicates = result.annotations = result.predictions = 0
        result.labels_added = []
    logger.info(
        "import of %s into dataset %s: %s read, %s inserted, %s duplicates, %s errors",
        filename,
        dataset.pk,
        result.read,
        result.inserted,
        result.duplicates,
        result.error_count,
    )
    return result


def checked_fields(row: ParsedRow, mapping: Mapping, max_chars: int) -> tuple[str, str]:
    """The row's content hash and meta as JSON, or RowProblem naming the field the import would
    refuse. The upload page's preview asks too, so a row it shows as fine is one that imports."""
    text = row.text
    if len(text) > max_chars:
        raise RowProblem(mapping.text_field, f"the text is {len(text):,} characters; the limit is {max_chars:,}")
    if "\x00" in text:
        raise RowProblem(mapping.text_field, "contains a NUL byte")
    digest = content_hash(text)
    if digest == EMPTY_TEXT_HASH:
        raise RowProblem(mapping.text_field, "the text is empty")
    if "\x00" in row.external_id:
        raise RowProblem(mapping.id_field or "id", "contains a NUL byte")
    meta = meta_json(row.meta) if row.meta else "{}"
    if len(meta) > max_chars:
        raise RowProblem("meta", f"the other fields add up to {len(meta):,} characters; the limit is {max_chars:,}")
    if "\\u0000" in meta:  # JSON's spelling of NUL, which PostgreSQL's jsonb refuses
        raise RowProblem(next((k for k, v in row.meta.items() if "\x00" in str(v)), "meta"), "contains a NUL byte")
    return digest, meta


def _problem_of(row: ParsedRow, mapping: Mapping, max_chars: int) -> RowProblem | None:
    try:
        checked_fields(row, mapping, max_chars)
    except RowProblem as problem:
        return problem
    return None


def _copy_line(number: int, row: ParsedRow, staged: StagedImport, max_chars: int) -> str:
    """The row as a line of COPY text, or RowProblem naming the field that is wrong."""
    mapping = staged.mapping
    digest, meta = checked_fields(row, mapping, max_chars)
    text, external_id = row.text, row.external_id
    labels = predictions = "\\N"
    if row.labels is not None:
        labels = _json_list(row.labels, mapping.label_field or "label")
        staged.rows_with_labels += 1
    if row.predictions is not None:
        predictions = _json_list(row.predictions, "predictions")
        staged.rows_with_predictions += 1
    return (
        f"{number}\t{copy_text(text)}\t{digest}\t{copy_text(external_id)}\t{copy_text(meta)}\t{labels}\t{predictions}\n"
    )


def _stage_rows(cursor, *, dataset, mapping, result: ImportResult, location, rows) -> StagedImport:
    """Validate each row and COPY the good ones into the staging table. After the first error the
    file is still read to the end (to report every error) but nothing more is sent."""
    staging = Staging(cursor)
    staged = StagedImport(
        cursor=cursor, table=staging.table, dataset=dataset, mapping=mapping, result=result, location=location
    )
    max_chars = import_limits()["max_field_chars"]
    batch: list[str] = []
    read = 0
    try:
        # psycopg's own cursor: Django's wrapper has no copy().
        with cursor.cursor.copy(f"COPY {staging.table} ({Staging.COLUMNS}) FROM STDIN") as copy:
            for number, row in rows:
                read += 1
                try:
                    if type(row) is RowProblem:
                        raise row
                    line = _copy_line(number, row, staged, max_chars)
                except RowProblem as problem:
                    result.add_error(location(number), problem.field, problem.message)
                    continue
                if result.error_count:
                    continue
                batch.append(line)
                if len(batch) >= COPY_BATCH_ROWS:
                    copy.write("".join(batch).encode())
                    batch.clear()
            if batch and not result.error_count:
                copy.write("".join(batch).encode())
    except FormatError as exc:
        result.add_error(exc.location, exc.field, exc.message)
    result.read = read
    if result.ok and read == 0:
        no_rows = (
            "the file has a header but no rows" if result.container not in {JSON, JSONL} else "the file has no rows"
        )
        result.add_error("file", "", no_rows)
    return staged


def _report_conflicts(staged: StagedImport, *, field: str, message) -> None:
    """Add the rows the last query found as errors. Each row is (source row, external id, what it
    conflicts with, total count): up to the query's LIMIT are listed, the rest only counted."""
    found = staged.cursor.fetchall()
    for number, external_id, other, _total in found:
        staged.result.add_error(staged.location(number), field, message(external_id, other))
    if found:
        staged.result.error_count += found[0][3] - len(found)  # counted beyond the ones listed


def write_records(staged: StagedImport, *, label_writer: LabelWriter | None, progress: Progress | None = None) -> None:
    """Check the staged rows' ids (and labels), then add the new ones to the dataset in batches of
    file order, telling `progress` after each; labels last. Errors go to staged.result and stop
    before anything is written."""
    cursor, table, result = staged.cursor, staged.table, staged.result
    dataset_id = staged.dataset.pk
    id_field = staged.mapping.id_field or "id"
    cursor.execute(f"ANALYZE {table}")
    # The trigram index takes new rows into its pending list instead of merging each one into the
    # tree at once (the costliest part of the INSERT); autovacuum merges the list soon after.
    cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")
    # An external id names one text: two texts under one id (in the file, or against the
    # dataset) are errors, never a silent skip.
    cursor.execute(
        f"""
        SELECT source_row, external_id, first_row, count(*) OVER ()
          FROM (SELECT source_row, external_id, content_hash,
                       first_value(source_row) OVER same_id AS first_row,
                       first_value(content_hash) OVER same_id AS first_hash
                  FROM {table} WHERE external_id <> ''
                WINDOW same_id AS (PARTITION BY external_id ORDER BY source_row)) AS ids
         WHERE content_hash <> first_hash
         ORDER BY source_row LIMIT %s
        """,  # noqa: S608 (the table is our own generated name; values are parameters)
        [MAX_REPORTED_ERRORS],
    )
    _report_conflicts(
        staged,
        field=id_field,
        message=lambda external_id, first_row: (
            f"the id “{external_id}” is already used by {staged.location(first_row)} for another text"
        ),
    )
    cursor.execute(
        f"""
        SELECT s.source_row, s.external_id, r.id, count(*) OVER ()
          FROM {table} s JOIN corpus_record r
            ON r.dataset_id = %s AND r.external_id = s.external_id AND r.external_id <> ''
         WHERE s.external_id <> '' AND r.content_hash <> s.content_hash
         ORDER BY s.source_row LIMIT %s
        """,  # noqa: S608
        [dataset_id, MAX_REPORTED_ERRORS],
    )
    _report_conflicts(
        staged,
        field=id_field,
        message=lambda external_id, record_id: (
            f"the id “{external_id}” already names another text in the dataset (record #{record_id})"
        ),
    )
    if not result.ok:
        return
    with_labels = staged.rows_with_labels or staged.rows_with_predictions
    if label_writer is not None and with_labels:
        label_writer.check(staged)
        if not result.ok:
            return
    elif with_labels:
        result.rows_with_labels_ignored = max(staged.rows_with_labels, staged.rows_with_predictions)
    batches = _plan_batches(cursor, table)
    staged_rows = sum(rows for _first, _last, rows in batches)
    if progress is not None:
        progress(phase=WRITING, done=0, total=staged_rows)
    repeats = _mark_repeats(cursor, table)
    written = 0
    for first_row, last_row, rows in batches:
        result.inserted += _insert_batch(cursor, table, repeats, dataset_id=dataset_id, rows=(first_row, last_row))
        written += rows
        if progress is not None and written < staged_rows:  # the last word comes once labels are written too
            progress(phase=WRITING, done=written, total=staged_rows)
    cursor.execute(f"DROP TABLE {repeats}")
    result.duplicates = result.read - result.inserted
    if label_writer is not None and with_labels:
        label_writer.write(staged)
    if progress is not None:
        progress(phase=WRITING, done=staged_rows, total=staged_rows)


def _plan_batches(cursor, table: str) -> list[tuple[int, int, int]]:
    """The staged rows cut into batches of WRITE_BATCH_ROWS in file order: (first source row,
    last source row, rows) of each. Each batch then reads its range through an index."""
    cursor.execute(f"CREATE INDEX ON {table} (source_row)")
    cursor.execute(
        f"""
        SELECT min(source_row), max(source_row), count(*)
          FROM (SELECT source_row, (row_number() OVER (ORDER BY source_row) - 1) / %s AS batch
                  FROM {table}) AS numbered
         GROUP BY batch ORDER BY batch
        """,  # noqa: S608
        [WRITE_BATCH_ROWS],
    )
    return cursor.fetchall()


def _mark_repeats(cursor, table: str) -> str:
    """A temporary table of the staged rows whose text an earlier row of the file already has (the
    first of equal texts wins). They are left out of every batch rather than left to ON CONFLICT,
    which would also work but spend a record id on each: ids come out exactly as one INSERT of the
    whole file would give them."""
    repeats = f"{table}_repeats"
    cursor.execute(f"CREATE TEMPORARY TABLE {repeats} (source_row integer NOT NULL) ON COMMIT DROP")
    cursor.execute(
        f"""
        INSERT INTO {repeats}
        SELECT source_row
          FROM (SELECT source_row, row_number() OVER (PARTITION BY content_hash ORDER BY source_row) AS nth
                  FROM {table}) AS numbered
         WHERE nth > 1
        """  # noqa: S608
    )
    cursor.execute(f"CREATE INDEX ON {repeats} (source_row)")
    cursor.execute(f"ANALYZE {repeats}")
    return repeats


def _insert_batch(cursor, table: str, repeats: str, *, dataset_id: int, rows: tuple[int, int]) -> int:
    """Insert the staged rows numbered rows[0] to rows[1] that are new to the dataset; return how
    many. File order is kept: ids follow the rows."""
    cursor.execute(
        f"""
        INSERT INTO corpus_record (dataset_id, text, meta, external_id, content_hash, document_id, position,
                                   page, char_start, char_end, embedding_model, embedding_hash, created_at)
        SELECT %s, text, meta, external_id, content_hash, document_id, position, page, char_start, char_end,
               '', '', now()
          FROM {table} AS s
         WHERE source_row BETWEEN %s AND %s
           AND NOT EXISTS (SELECT FROM {repeats} AS r WHERE r.source_row = s.source_row)
         ORDER BY source_row
        ON CONFLICT (dataset_id, content_hash) DO NOTHING
        """,  # noqa: S608
        [dataset_id, *rows],
    )
    return cursor.rowcount
