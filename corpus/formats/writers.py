"""Streaming writers: export rows in, bytes out, one batch at a time, so a million records cost
the memory of one batch. Each writer is a generator over batches of `ExportRow` that yields the
file's bytes as they are ready; what it writes is what the readers of this package read back
(a Tally export imports again unchanged: same texts, ids, labels and meta).

Formats:
- csv, xlsx: one row per record, one column per meta key; cells a spreadsheet would run as a
  formula are escaped unless `escape_formulas` is off (machine use: then they round-trip exactly).
  A multi-label cell holds a JSON list of names. CSV for spreadsheets (escaping on) starts with a
  UTF-8 byte order mark so Excel reads it as UTF-8. XLSX rows go to disk as they come (XlsxWriter's
  constant-memory mode); the archive is assembled at the end, then streamed.
- jsonl: {"id", "text", "label", meta keys...}; a multi-label "label" is a list.
- hf: a ZIP with one JSON Lines file per split (train.jsonl, validation.jsonl, test.jsonl) of
  {"id", "text", "label" (class index, -1 for none), "label_text", meta keys...} and metadata.json
  with the label names; `datasets.load_dataset("json", data_files=...)` reads the files.
- doccano: JSON Lines {"id", "text", "label": [names], meta keys...} (text classification).
- labelstudio: a JSON array of tasks {"id", "data": {"text", meta...}, "annotations", "predictions"};
  labeling config: <Text name="text" value="$text"/><Choices name="label" toName="text">.
- argilla: JSON Lines of feedback records {"external_id", "fields": {"text"}, "metadata",
  "responses", "suggestions"} for a dataset with a text field "text" and a question "label".
- prodigy: JSON Lines of choice tasks {"id", "text", "options", "accept", "answer", "meta"}.

Meta keys that would collide with a key the format uses itself ("id", "text", "label", ...) are
written as "meta.<key>".
"""

import codecs
import contextlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from corpus.formats.spreadsheet import FORMULA_TRIGGERS, escape_formula

# Split names as Hugging Face names them.
TRAIN, VALIDATION, TEST = "train", "validation", "test"
XLSX_MAX_ROWS = 1_048_576  # per sheet, the header included (XlsxWriter cuts cells at 32,767 characters)


@dataclass(slots=True)
class ExportRow:
    record_id: int
    external_id: str
    text: str
    meta: dict
    labels: list[str] | None  # None: no label; [] (multi-label): decided that none applies
    split: str | None = None
    # {"annotator": name or None (imported), "source", "labels", "unsure", "comment", "seconds_spent", "created_at"}
    annotations: list[dict] | None = None
    predictions: list[dict] | None = None  # {"label", "score", "model_version"}
    provenance: dict | None = None  # {"tally_id", "document", "page", "chunk", "char_start", "char_end", ...}


@dataclass(frozen=True)
class ExportLayout:
    """What every row of one export carries, decided before the first row is written."""

    label_names: tuple[str, ...] = ()  # the label set's labels in its order (class indexes, options)
    multi_label: bool = False
    question: str = "label"  # Label Studio's control tag and Argilla's question
    meta_columns: tuple[str, ...] = ()  # tables: one column per meta key
    provenance_columns: tuple[str, ...] = ()  # tables: one column per provenance key
    split: bool = False
    split_names: tuple[str, ...] = (TRAIN,)  # hf: the files, in the order rows arrive
    annotations: bool = False
    predictions: bool = False
    provenance: bool = False
    escape_formulas: bool = True
    metadata: dict = field(default_factory=dict)  # hf: more of metadata.json


@dataclass
class WriteStats:
    """What a writer had to say about the file beyond its rows."""

    truncated_cells: int = 0  # xlsx: texts cut at the cell limit


Batches = Iterable[list[ExportRow]]


# --- JSON -------------------------------------------------------------------------------------

_dumps_std = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value) -> bytes:
    """Compact UTF-8 JSON. orjson for speed; the standard library for what orjson refuses
    (integers beyond 64 bits in someone's meta)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _dumps_std(value).encode()


# orjson reads integers beyond 64 bits as floats (rounded): such texts go to the standard library.
_LONG_NUMBER = re.compile(r"\d{19}")


def loads(text: str):
    """JSON text as Python values, exactly (orjson for speed, the standard library for long
    numbers)."""
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    return orjson.loads(text)


def _reserved(layout: ExportLayout, own: Iterable[str]) -> frozenset[str]:
    keys = set(own)
    if layout.split:
        keys.add("split")
    if layout.annotations:
        keys.add("annotations")
    if layout.predictions:
        keys.add("predictions")
    if layout.provenance:
        keys.add("provenance")
    return frozenset(keys)


def _merge_meta(target: dict, meta: dict, reserved: frozenset[str]) -> None:
    if reserved.isdisjoint(meta):
        target.update(meta)  # the usual case, in C
        return
    for key, value in meta.items():
        target[f"meta.{key}" if key in reserved else key] = value


def _label_value(labels: list[str] | None, layout: ExportLayout):
    """A name for a single-label set, a list of names for a multi-label one; None for no label."""
    if labels is None:
        return None
    if layout.multi_label:
        return labels
    if len(labels) == 1:
        return labels[0]
    return labels or None  # a single-label record with several final labels (set by hand) keeps them all


def _extras(obj: dict, row: ExportRow, layout: ExportLayout) -> None:
    if layout.annotations:
        obj["annotations"] = row.annotations or []
    if layout.predictions:
        obj["predictions"] = row.predictions or []
    if layout.provenance:
        obj["provenance"] = row.provenance


def _json_lines(batches: Batches, to_object: Callable[[ExportRow], dict]) -> Iterator[bytes]:
    for batch in batches:
        yield b"".join([dumps(to_object(row)) + b"\n" for row in batch])


def write_jsonl(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    reserved = _reserved(layout, ("id", "text", "label"))

    def to_object(row: ExportRow) -> dict:
        obj = {"id": row.external_id, "text": row.text, "label": _label_value(row.labels, layout)}
        if layout.split:
            obj["split"] = row.split
        if row.meta:
            _merge_meta(obj, row.meta, reserved)
        if layout.annotations or layout.predictions or layout.provenance:
            _extras(obj, row, layout)
        return obj

    return _json_lines(batches, to_object)


def write_doccano(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    reserved = _reserved(layout, ("id", "text", "label", "labels"))

    def to_object(row: ExportRow) -> dict:
        obj = {"id": row.external_id, "text": row.text, "label": row.labels or []}
        if layout.split:
            obj["split"] = row.split
        _merge_meta(obj, row.meta, reserved)
        _extras(obj, row, layout)
        return obj

    return _json_lines(batches, to_object)


def _tool_meta(row: ExportRow, layout: ExportLayout) -> dict:
    """What the tool formats keep beside a record's own meta: its split and provenance."""
    extra = {}
    if layout.split:
        extra["split"] = row.split
    if layout.provenance:
        extra["provenance"] = row.provenance
    return extra


def _grouped_predictions(predictions: list[dict] | None) -> dict[str, list[dict]]:
    by_version: dict[str, list[dict]] = {}
    for prediction in predictions or []:
        by_version.setdefault(prediction["model_version"], []).append(prediction)
    return by_version


def write_labelstudio(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    question = layout.question
    reserved = frozenset({"text"})

    def result(names: list[str], score=None) -> dict:
        item = {"from_name": question, "to_name": "text", "type": "choices", "value": {"choices": names}}
        if score is not None:
            item["score"] = score
        return item

    def to_object(row: ExportRow) -> dict:
        data = {"text": row.text}
        _merge_meta(data, row.meta, reserved)
        task: dict = {"id": row.external_id} if row.external_id else {}
        task["data"] = data
        annotations = []
        if layout.annotations:
            for annotation in row.annotations or []:
                annotations.append(
                    {
                        "result": [result(annotation["labels"])] if annotation["labels"] else [],
                        "was_cancelled": False,
                        "ground_truth": False,
                        "lead_time": annotation.get("seconds_spent"),
                        "created_at": annotation.get("created_at"),
                        "tally_annotator": annotation.get("annotator"),
                        "tally_source": annotation.get("source"),
                    }
                )
        if row.labels:
            # The reader (and Label Studio) take the last annotation that was not cancelled: the final one.
            annotations.append({"result": [result(row.labels)], "was_cancelled": False, "ground_truth": True})
        task["annotations"] = annotations
        if layout.predictions:
            task["predictions"] = [
                {
                    "model_version": version,
                    "score": max((p["score"] for p in group if p["score"] is not None), default=None),
                    "result": [result([p["label"]], p["score"]) for p in group],
                }
                for version, group in _grouped_predictions(row.predictions).items()
            ]
        extra = _tool_meta(row, layout)
        if extra:
            task["meta"] = extra
        return task

    first = True
    yield b"["
    for batch in batches:
        parts = []
        for row in batch:
            parts.append((b"\n" if first else b",\n") + dumps(to_object(row)))
            first = False
        yield b"".join(parts)
    yield b"\n]\n"


def write_argilla(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    question = layout.question

    def value_of(names: list[str]):
        return names if layout.multi_label else (names[0] if len(names) == 1 else names)

    def to_object(row: ExportRow) -> dict:
        responses = []
        if row.labels is not None:
            # The reader takes the first submitted response: the final labels come first.
            responses.append({"values": {question: {"value": value_of(row.labels)}}, "status": "submitted"})
        if layout.annotations:
            for annotation in row.annotations or []:
                responses.append(
                    {
                        "values": {question: {"value": value_of(annotation["labels"])}},
                        "status": "submitted",
                        "user_id": annotation.get("annotator") or annotation.get("source"),
                    }
                )
        suggestions = []
        if layout.predictions:
            for version, group in _grouped_predictions(row.predictions).items():
                names = [p["label"] for p in group]
                scores = [p["score"] for p in group]
                single = len(group) == 1 and not layout.multi_label
                suggestions.append(
                    {
                        "question_name": question,
                        "value": names[0] if single else names,
                        "score": scores[0] if single else scores,
                        "agent": version,
                    }
                )
        return {
            "external_id": row.external_id,
            "fields": {"text": row.text},
            "metadata": {**row.meta, **_tool_meta(row, layout)},
            "responses": responses,
            "suggestions": suggestions,
        }

    return _json_lines(batches, to_object)


def write_prodigy(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    options = [{"id": name, "text": name} for name in layout.label_names]

    def to_object(row: ExportRow) -> dict:
        task = {"id": row.external_id, "text": row.text, "meta": {**row.meta, **_tool_meta(row, layout)}}
        if options:
            task["options"] = options
        if row.labels is not None:
            task["accept"] = row.labels
            task["answer"] = "accept"
        if layout.annotations:
            task["tally_annotations"] = row.annotations or []
        if layout.predictions:
            task["tally_predictions"] = row.predictions or []
        return task

    return _json_lines(batches, to_object)


# --- Hugging Face: a ZIP of one JSON Lines file per split ---------------------------------------


class _Drain(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out as they arrive: zipfile then
    writes data descriptors and never seeks back, so the archive streams."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def write_hf(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    """Rows must arrive grouped by split in the order of layout.split_names (the export service
    reads them split by split)."""
    index = {name: position for position, name in enumerate(layout.label_names)}
    reserved = _reserved(layout, ("id", "text", "label", "label_text"))

    def to_object(row: ExportRow) -> dict:
        names = row.labels
        if layout.multi_label:
            obj = {"id": row.external_id, "text": row.text, "label": [index.get(n, -1) for n in names or []]}
            obj["label_text"] = names
        else:
            name = names[0] if names else None
            obj = {"id": row.external_id, "text": row.text, "label": index.get(name, -1), "label_text": name}
        _merge_meta(obj, row.meta, reserved)
        _extras(obj, row, layout)
        return obj

    drain = _Drain()
    pending = list(layout.split_names)
    counts = {name: 0 for name in pending}
    with zipfile.ZipFile(drain, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        current, entry = None, None
        for batch in batches:
            for row in batch:
                split = row.split or TRAIN
                if split != current:
                    if entry is not None:
                        entry.close()
                    # Splits without rows still get their (empty) file.
                    while pending and pending[0] != split:
                        with archive.open(f"{pending.pop(0)}.jsonl", "w"):
                            pass
                    if not pending:
                        raise ValueError(f"rows of split {split!r} arrived out of order")
                    current = pending.pop(0)
                    entry = archive.open(f"{current}.jsonl", "w", force_zip64=True)
                entry.write(dumps(to_object(row)) + b"\n")
                counts[current] += 1
            yield drain.take()
        if entry is not None:
            entry.close()
        for name in pending:
            with archive.open(f"{name}.jsonl", "w"):
                pass
        metadata = {
            "label_names": list(layout.label_names),
            "multi_label": layout.multi_label,
            "splits": counts,
            "files": {name: f"{name}.jsonl" for name in layout.split_names},
            "features": {
                "id": "string",
                "text": "string",
                "label": "list of class indexes" if layout.multi_label else "class index (-1: no label)",
                "label_text": "list of label names" if layout.multi_label else "label name",
            },
            **layout.metadata,
        }
        archive.writestr("metadata.json", json.dumps(metadata, ensure_ascii=False, indent=2) + "\n")
    yield drain.take()


# --- Tables: CSV and XLSX -----------------------------------------------------------------------


def table_header(layout: ExportLayout) -> list[str]:
    own = ["id", "text", "label"] + (["split"] if layout.split else [])
    reserved = set(own) | {"annotations", "predictions", *layout.provenance_columns}
    header = own + [f"meta.{key}" if key in reserved else key for key in layout.meta_columns]
    if layout.annotations:
        header.append("annotations")
    if layout.predictions:
        header.append("predictions")
    header += list(layout.provenance_columns)
    return header


def _cell(value):
    """A meta or provenance value as a table cell: text and numbers as they are, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return dumps(value).decode()
    return value


def _row_cells(layout: ExportLayout) -> Callable[[ExportRow], list]:
    """A function giving a row's cells in table_header order (None for an empty cell); the
    layout's choices are made once here, not for each of a million rows."""
    multi, split, meta_columns = layout.multi_label, layout.split, layout.meta_columns
    annotations, predictions, provenance_columns = layout.annotations, layout.predictions, layout.provenance_columns

    def cells(row: ExportRow) -> list:
        labels = row.labels
        if labels is None:
            label = None
        elif len(labels) == 1 and not multi:
            label = labels[0]
        else:
            label = dumps(labels).decode()
        values = [row.external_id, row.text, label, row.split] if split else [row.external_id, row.text, label]
        if meta_columns:
            values += [v if v is None or v.__class__ is str else _cell(v) for v in map(row.meta.get, meta_columns)]
        if annotations:
            values.append(dumps(row.annotations or []).decode())
        if predictions:
            values.append(dumps(row.predictions or []).decode())
        if provenance_columns:
            values += [_cell(value) for value in map((row.provenance or {}).get, provenance_columns)]
        return values

    return cells


_TRIGGERS = frozenset(FORMULA_TRIGGERS)


def csv_field(value) -> str:
    """One CSV field as Python's csv module writes it (RFC 4180, minimal quoting, quotes
    doubled), built from str methods: the csv module's per-character loop was the costliest
    part of a million-row export."""
    if value is None:
        return ""
    if value.__class__ is not str:
        value = str(value)
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def csv_field_escaped(value) -> str:
    """csv_field of the cell with escape_formula applied first (written out: it runs for every
    cell of a million rows)."""
    if value is None:
        return ""
    if value.__class__ is not str:
        value = str(value)
    elif value[:1] in _TRIGGERS:
        value = "'" + value
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def write_csv(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    field = csv_field_escaped if layout.escape_formulas else csv_field
    header = ",".join(map(field, table_header(layout))) + "\r\n"
    yield (codecs.BOM_UTF8 if layout.escape_formulas else b"") + header.encode()
    cells = _row_cells(layout)
    for batch in batches:
        yield "".join([",".join(map(field, cells(row))) + "\r\n" for row in batch]).encode()


CHUNK_BYTES = 1 << 20


def _write_cell(sheet, row: int, column: int, value, *, escape: bool, stats: WriteStats) -> None:
    """Text as text (escaped when asked), numbers and booleans as such."""
    if isinstance(value, str):
        if sheet.write_string(row, column, escape_formula(value) if escape else value) == -2:
            stats.truncated_cells += 1
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value)
    else:
        sheet.write_string(row, column, str(value))


def write_xlsx(batches: Batches, layout: ExportLayout, stats: WriteStats) -> Iterator[bytes]:
    import xlsxwriter  # imported here: only XLSX exports pay for it

    escape = layout.escape_formulas
    header = table_header(layout)
    folder = tempfile.mkdtemp(prefix="tally-xlsx-")
    path = os.path.join(folder, "export.xlsx")
    try:
        workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,  # each row goes to a temporary file once the next begins
                "tmpdir": folder,
                # Text stays text: never turned into a formula, a link or a number on the way in.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet, row_number, sheets = None, XLSX_MAX_ROWS, 0
        cells = _row_cells(layout)

        def new_sheet():
            nonlocal sheets
            sheets += 1
            created = workbook.add_worksheet("records" if sheets == 1 else f"records {sheets}")
            for column, name in enumerate(header):
                created.write_string(0, column, escape_formula(name) if escape else name)
            return created

        for batch in batches:
            for row in batch:
                if row_number >= XLSX_MAX_ROWS:
                    sheet, row_number = new_sheet(), 1
                for column, value in enumerate(cells(row)):
                    if value is not None:
                        _write_cell(sheet, row_number, column, value, escape=escape, stats=stats)
                row_number += 1
            yield b""  # nothing to send yet; lets the caller report progress
        if sheet is None:
            new_sheet()
        workbook.close()
        with open(path, "rb") as finished:
            while chunk := finished.read(CHUNK_BYTES):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str
    content_type: str
    write: Callable[[Batches, ExportLayout, WriteStats], Iterator[bytes]]
    table: bool = False  # one column per meta key
    description: str = ""


FORMATS: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in [
        ExportFormat("csv", "csv", "text/csv; charset=utf-8", write_csv, table=True, description="CSV"),
        ExportFormat("jsonl", "jsonl", "application/x-ndjson", write_jsonl, description="JSON Lines"),
        ExportFormat(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            write_xlsx,
            table=True,
            description="Excel (XLSX)",
        ),
        ExportFormat(
            "hf", "zip", "application/zip", write_hf, description="Hugging Face (one JSON Lines file per split)"
        ),
        ExportFormat("doccano", "jsonl", "application/x-ndjson", write_doccano, description="doccano JSONL"),
        ExportFormat("labelstudio", "json", "application/json", write_labelstudio, description="Label Studio tasks"),
        ExportFormat("argilla", "jsonl", "application/x-ndjson", write_argilla, description="Argilla records"),
        ExportFormat("prodigy", "jsonl", "application/x-ndjson", write_prodigy, description="Prodigy JSONL"),
    ]
}
