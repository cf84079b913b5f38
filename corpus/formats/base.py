"""What every reader shares: the rows it yields and the ways a file can be wrong."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem, placed so a person can find it: file, row (or line, item, page), field."""

    file: str
    location: str  # "row 3", "line 7", "item 4, line 12", "page 2", or "file"
    field: str
    message: str

    def __str__(self) -> str:
        field = f", field “{self.field}”" if self.field else ""
        return f"{self.file}, {self.location}{field}: {self.message}"


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row the reader could not parse but could step over (e.g. one invalid JSON line): it is
    reported, and reading goes on so the report can list every bad row of the file."""

    field: str
    message: str


class FormatError(Exception):
    """The file cannot be read any further (not the encoding claimed, not a valid XLSX, a
    header without the text column...)."""

    def __init__(
        self, message: str, *, location: str = "file", field: str = "", columns: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.field = field
        self.columns = columns or []  # the file's columns, when known: the page offers them to pick from


class Reader(Protocol):
    """Yields (number, row) pairs: the 1-based number of the row in the file's own unit (row of
    a sheet counting the header as row 1, line of a JSONL file, item of a JSON array), and the
    row as a dict, or a BadRow."""

    unit: str
    columns: list[str] | None  # known up front for tables; None for JSON

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]: ...

    def location(self, number: int) -> str: ...
