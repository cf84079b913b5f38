"""File formats: one module per format, each a reader that yields rows as a stream.

A format has two parts: the container (CSV, TSV, JSON Lines, JSON array, XLSX) says how rows are
written down; the shape (plain, doccano, Label Studio, Argilla, Prodigy, Hugging Face) says what
a row means. Both are detected from the file and can be named instead.
"""

import io
from pathlib import PurePath
from typing import BinaryIO

from corpus.formats.base import BadRow, FormatError, Reader, RowError
from corpus.formats.delimited import DelimitedReader
from corpus.formats.json_array import JsonArrayReader
from corpus.formats.jsonl import JsonLinesReader
from corpus.formats.shapes import SHAPES
from corpus.formats.source import head_of
from corpus.formats.zipguard import ZipLimits

CSV, TSV, JSONL, JSON, XLSX = "csv", "tsv", "jsonl", "json", "xlsx"
CONTAINERS = [CSV, TSV, JSONL, JSON, XLSX]
FORMAT_CHOICES = CONTAINERS + [shape for shape in SHAPES if shape != "plain"]

_EXTENSIONS = {
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".json": JSON,
    ".xlsx": XLSX,
}

__all__ = [
    "CONTAINERS",
    "FORMAT_CHOICES",
    "BadRow",
    "FormatError",
    "Reader",
    "RowError",
    "detect_container",
    "open_reader",
]


def detect_container(*, filename: str, head: bytes, fmt: str | None = None) -> str:
    """The container named by `fmt`, else by the file's first bytes and its extension."""
    if fmt in CONTAINERS:
        return fmt
    # A shape may be named without a container ("plain" included: rows as they are, never read
    # as another tool's export because of their keys); the container is then detected.
    if fmt and fmt not in FORMAT_CHOICES and fmt not in SHAPES:
        raise FormatError(f"unknown format “{fmt}”; known: {', '.join(FORMAT_CHOICES)}")
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    extension = _EXTENSIONS.get(PurePath(filename).suffix.lower())
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if extension in {JSON, JSONL} or (extension is None and first in {b"[", b"{"}):
        # Tools write JSON Lines under .json and arrays under .jsonl: the first character decides.
        return JSON if first == b"[" else JSONL
    if extension == XLSX:
        raise FormatError("this is not a readable XLSX file (it is not a ZIP archive)")
    return extension or CSV


def open_reader(
    container: str,
    *,
    stream: io.BufferedReader,
    raw: BinaryIO,
    encoding: str | None,
    max_field_chars: int,
    zip_limits: ZipLimits,
) -> Reader:
    if container in {CSV, TSV}:
        return DelimitedReader(
            stream,
            delimiter="\t" if container == TSV else None,
            encoding=encoding,
            max_field_chars=max_field_chars,
        )
    if container == JSONL:
        return JsonLinesReader(stream, encoding=encoding)
    if container == JSON:
        return JsonArrayReader(stream, encoding=encoding, max_item_chars=max_field_chars * 4)
    if container == XLSX:
        from corpus.formats.xlsx import XlsxReader

        if not head_of(stream):
            raise FormatError("the file is empty")
        # openpyxl seeks; the raw file is read from the start (the upload limit was checked on size).
        raw.seek(0)
        return XlsxReader(raw, limits=zip_limits)
    raise FormatError(f"unknown format “{container}”")
