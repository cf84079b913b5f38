"""CSV and TSV: the dialect sniffed from the first kilobytes, UTF-8 with or without a BOM (another
encoding only when named), quoted fields with embedded newlines, CRLF line ends."""

import codecs
import csv
import io
from collections.abc import Iterator

from corpus.formats.base import BadRow, FormatError
from corpus.formats.source import head_of

UTF8_BOM = codecs.BOM_UTF8
DELIMITERS = ",;\t|"


def sniff_delimiter(head: bytes, *, encoding: str, default: str) -> str:
    """The delimiter of the first complete lines. The sniffer is trusted for the delimiter only:
    its guesses of quoting are unreliable, and CSV files quote with " almost always."""
    sample = head.decode(encoding, errors="ignore")
    cut = sample.rfind("\n")
    if cut > 0:
        sample = sample[:cut]  # the last line may be cut in the middle of a field
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return default


class DelimitedReader:
    """Rows of a CSV or TSV file as dicts keyed by the header. Numbers are sheet rows: the header is
    row 1, the first data row is row 2 (as a spreadsheet shows them)."""

    unit = "row"

    def __init__(
        self, stream: io.BufferedReader, *, delimiter: str | None, encoding: str | None, max_field_chars: int
    ) -> None:
        self._stream = stream
        self._encoding = encoding or "utf-8"
        head = head_of(stream)
        if not head.strip():
            raise FormatError("the file is empty")
        if head.startswith(UTF8_BOM) and self._encoding.replace("_", "-").lower() in {"utf-8", "utf8", "utf-8-sig"}:
            stream.read(len(UTF8_BOM))
            head = head[len(UTF8_BOM) :]
        self.delimiter = delimiter or sniff_delimiter(head, encoding=self._encoding, default=",")
        # Our own size check names the field; the csv module's guard only stops runaway quotes.
        csv.field_size_limit(max(max_field_chars * 4, csv.field_size_limit()))
        self._line = 0
        self._rows = csv.reader(self._decoded_lines(), delimiter=self.delimiter, quotechar='"', doublequote=True)
        header = self._next_row(1)
        if header is None:
            raise FormatError("the file is empty")
        self.columns = [name.strip() for name in header]
        if any(not name for name in self.columns):
            position = next(i for i, name in enumerate(self.columns) if not name) + 1
            raise FormatError(f"column {position} of the header has no name", location="row 1")
        duplicates = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if duplicates:
            raise FormatError(f"the header names {', '.join(duplicates)} more than once", location="row 1")

    def _decoded_lines(self) -> Iterator[str]:
        encoding = self._encoding
        if not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
            # Byte lines decoded one by one: a decoding error names its exact line.
            for raw in self._stream:
                self._line += 1
                try:
                    yield raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise FormatError(
                        f"this is not {encoding} text (byte {exc.start + 1} of the line); "
                        "name the file's encoding if it has another one",
                        location=f"line {self._line}",
                    ) from None
        else:
            # Encodings whose newline is not the byte \n (UTF-16, UTF-32) need a text wrapper.
            text = io.TextIOWrapper(self._stream, encoding=encoding, newline="")
            try:
                for line in text:
                    self._line += 1
                    yield line
            except UnicodeDecodeError:
                raise FormatError(f"this is not {encoding} text", location=f"near line {self._line + 1}") from None

    def _next_row(self, number: int) -> list[str] | None:
        try:
            while True:
                row = next(self._rows)
                if row:  # a blank line is no row
                    return row
        except StopIteration:
            return None
        except csv.Error as exc:
            raise FormatError(f"unreadable CSV: {exc}", location=f"row {number} (line {self._line})") from None

    def location(self, number: int) -> str:
        return f"row {number}"

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]:
        columns = self.columns
        width = len(columns)
        number = 1
        while True:
            number += 1
            row = self._next_row(number)
            if row is None:
                return
            if len(row) != width:
                yield number, BadRow("", f"the row has {len(row)} fields, the header has {width}")
                continue
            yield number, dict(zip(columns, row, strict=True))
