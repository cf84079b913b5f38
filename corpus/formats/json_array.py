"""A JSON array of objects, parsed item by item as the bytes arrive: a big export never sits whole
in memory, only the item being read."""

import io
import json
from collections.abc import Iterator

from corpus.formats.base import BadRow, FormatError
from corpus.formats.source import head_of

CHUNK_CHARS = 1 << 16
_WHITESPACE = " \t\r\n"


class JsonArrayReader:
    unit = "item"
    columns = None

    def __init__(self, stream: io.BufferedReader, *, encoding: str | None, max_item_chars: int) -> None:
        if not head_of(stream).strip():
            raise FormatError("the file is empty")
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig" if not encoding else encoding)
        self._max_item_chars = max_item_chars
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line of self._pos, for messages

    def location(self, number: int) -> str:
        return f"item {number}"

    def _fill(self) -> bool:
        """Read more text into the buffer (dropping what was parsed); False at the end."""
        if self._eof:
            return False
        try:
            chunk = self._text.read(CHUNK_CHARS)
        except UnicodeDecodeError:
            raise FormatError(
                "this is not UTF-8 text; name the file's encoding", location=f"near line {self._line}"
            ) from None
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def _skip_whitespace(self) -> str:
        """The next significant character ('' at the end), not consumed."""
        while True:
            buffer, pos = self._buffer, self._pos
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                if buffer[pos] == "\n":
                    self._line += 1
                pos += 1
            self._pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if not self._fill():
                return ""

    def __iter__(self) -> Iterator[tuple[int, dict | BadRow]]:
        decoder = json.JSONDecoder()
        if self._skip_whitespace() != "[":
            raise FormatError("expected a JSON array ([ ... ]) or JSON Lines", location=f"line {self._line}")
        self._pos += 1
        number = 0
        while True:
            char = self._skip_whitespace()
            if char == "]":
                self._pos += 1
                if self._skip_whitespace():
                    raise FormatError("unexpected text after the end of the array", location=f"line {self._line}")
                return
            if not char:
                raise FormatError(
                    "the file ends before the array is closed (truncated?)", location=f"after item {number}"
                )
            if number:
                if char != ",":
                    raise FormatError(
                        f"expected “,” or “]” after item {number}", location=f"item {number + 1}, line {self._line}"
                    )
                self._pos += 1
                self._skip_whitespace()
            number += 1
            item = self._decode_item(decoder, number)
            if type(item) is not dict:
                yield number, BadRow("", f"the item is a JSON {type(item).__name__}, not an object")
            else:
                yield number, item

    def _decode_item(self, decoder: json.JSONDecoder, number: int):
        while True:
            try:
                item, end = decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                # Either the item is incomplete in the buffer (read more) or it is invalid.
                if len(self._buffer) - self._pos > self._max_item_chars:
                    raise FormatError(
                        f"the item is larger than {self._max_item_chars:,} characters", location=f"item {number}"
                    ) from None
                if self._fill():
                    continue
                raise FormatError(
                    f"invalid JSON: {exc.msg}",
                    location=f"item {number}, line {self._line + self._buffer.count(chr(10), self._pos, exc.pos)}",
                ) from None
            self._line += self._buffer.count("\n", self._pos, end)
            self._pos = end
            return item
