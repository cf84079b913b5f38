"""XLSX, streamed with openpyxl's read-only mode: the first sheet, its first row as the header.
The archive is checked before openpyxl opens it, so a decompression bomb is refused unread."""

import datetime
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from corpus.formats.base import BadRow, FormatError
from corpus.formats.zipguard import ZipLimits, check_archive


def _cell_text(value) -> str | int | float | bool | None:
    if isinstance(value, str) and "_x" in value:
        # OOXML writes control characters (a carriage return, a tab...) as _xHHHH_ and openpyxl
        # hands them over as written; Excel shows, and the writer meant, the character.
        from openpyxl.utils.escape import unescape

        return unescape(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class XlsxReader:
    unit = "row"

    def __init__(self, source: BinaryIO, *, limits: ZipLimits) -> None:
        import openpyxl  # imported here: only XLSX uploads pay for it

        try:
            with zipfile.ZipFile(source) as archive:
                check_archive(archive, limits=limits)
                if "xl/workbook.xml" not in archive.namelist():
                    raise FormatError("this is a ZIP file but not an XLSX workbook")
            source.seek(0)
            self._workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
        except FormatError:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise FormatError(f"this is not a readable XLSX file ({exc.__class__.__name__})") from None
        sheet = self._workbook.worksheets[0]
        self._rows = sheet.iter_rows(values_only=True)
        header = next(self._rows, None)
        if header is None or all(value is None for value in header):
            raise FormatError("the file is empty")
        while header and header[-1] is None:
            header = header[:-1]
        self.columns = [str(value).strip() if value is not None else "" for value in header]
        if any(not name for name in self.columns):
            position = next(i for i, name in enumerate(self.columns) if not name) + 1
            raise FormatError(f"column {position} of the header has no name", location="row 1")
        duplicates = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if duplicates:
            raise FormatError(f"the header names {', '.join(duplicates)} more than once", location="row 1")

    def location(self, number: int) -> str:
        return f"row {number}"

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]:
        columns = self.columns
        width = len(columns)
        try:
            for number, values in enumerate(self._rows, 2):
                if all(value is None for value in values):
                    continue
                if len(values) > width and any(value is not None for value in values[width:]):
                    yield number, BadRow("", f"the row has values beyond the {width} named columns")
                    continue
                yield number, {name: _cell_text(value) for name, value in zip(columns, values[:width], strict=False)}
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise FormatError(f"this XLSX file is corrupt ({exc.__class__.__name__})") from None
        finally:
            self._workbook.close()
