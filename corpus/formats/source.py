"""The uploaded bytes as a stream: counted (for the progress bar) and capped (for the upload
limit) while they are read, never held whole in memory."""

import io
from collections.abc import Callable
from typing import BinaryIO

from corpus.formats.base import FormatError

BUFFER_SIZE = 1 << 16  # also what the CSV dialect sniffer and the format detector see


class CountedSource(io.RawIOBase):
    """A raw stream over `source` that counts the bytes read and stops at `max_bytes`."""

    def __init__(
        self, source: BinaryIO, *, max_bytes: int | None = None, on_read: Callable[[int], None] | None = None
    ) -> None:
        self._source = source
        self._max_bytes = max_bytes
        self._on_read = on_read
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self.bytes_read += count
        if self._max_bytes is not None and self.bytes_read > self._max_bytes:
            raise FormatError(f"the file is larger than the upload limit of {self._max_bytes:,} bytes")
        if self._on_read is not None and count:
            self._on_read(self.bytes_read)
        return count


def open_buffered(
    source: BinaryIO, *, max_bytes: int | None = None, on_read: Callable[[int], None] | None = None
) -> io.BufferedReader:
    return io.BufferedReader(CountedSource(source, max_bytes=max_bytes, on_read=on_read), buffer_size=BUFFER_SIZE)


def head_of(stream: io.BufferedReader, size: int = BUFFER_SIZE) -> bytes:
    """The first bytes of the stream without consuming them."""
    return stream.peek(size)[:size]
