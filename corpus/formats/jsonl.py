"""JSON Lines: one JSON object per line. A bad line is reported and reading goes on, so one
upload shows every bad line of the file."""

import codecs
import io
import json
from collections.abc import Iterator

from corpus.formats.base import BadRow, FormatError
from corpus.formats.source import head_of


class JsonLinesReader:
    unit = "line"
    columns = None

    def __init__(self, stream: io.BufferedReader, *, encoding: str | None) -> None:
        self._stream = stream
        self._encoding = encoding or "utf-8"
        if not head_of(stream).strip():
            raise FormatError("the file is empty")

    def location(self, number: int) -> str:
        return f"line {number}"

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]:
        loads = json.loads
        encoding = self._encoding
        for number, raw in enumerate(self._stream, 1):
            try:
                line = (raw[len(codecs.BOM_UTF8) :] if number == 1 and raw.startswith(codecs.BOM_UTF8) else raw).decode(
                    encoding
                )
            except UnicodeDecodeError as exc:
                yield number, BadRow("", f"this is not {encoding} text (byte {exc.start + 1} of the line)")
                continue
            if not line.strip():
                continue
            try:
                row = loads(line.rstrip())
            except json.JSONDecodeError as exc:
                yield number, BadRow("", f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            if type(row) is not dict:
                yield number, BadRow("", f"the line is a JSON {type(row).__name__}, not an object")
                continue
            yield number, row
