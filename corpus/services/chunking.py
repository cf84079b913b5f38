"""Splitting a document's text into records: paragraph-aware chunks of at most `size` characters of
new text, each starting with up to `overlap` characters of the previous one, and each an exact
slice text[char_start:char_end] of its page, so a screen can show where it came from."""

import re
from dataclasses import dataclass

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", re.DOTALL)
# Sentence ends in Latin and CJK punctuation, with closing quotes or brackets after them.
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+")  # noqa: RUF001


@dataclass(frozen=True)
class Chunk:
    text: str
    char_start: int
    char_end: int


def _units(text: str, size: int) -> list[tuple[int, int]]:
    """Spans of paragraphs; a paragraph longer than `size` is cut after a sentence, else at a space,
    else (one endless word) at `size`."""
    units = []
    for match in _PARAGRAPH.finditer(text):
        start, end = match.span()
        while end - start > size:
            window = text[start : start + size]
            cuts = [m.end() for m in _SENTENCE_END.finditer(window)]
            cut = cuts[-1] if cuts and cuts[-1] > size // 3 else window.rfind(" ") + 1
            if cut <= size // 3:
                cut = size
            piece_end = start + cut
            units.append((start, start + len(text[start:piece_end].rstrip())))
            start = piece_end
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            units.append((start, end))
    return units


def chunk_text(text: str, *, size: int = 1000, overlap: int = 100) -> list[Chunk]:
    if size < 50:
        raise ValueError("chunks of fewer than 50 characters make no useful records")
    if not 0 <= overlap < size:
        raise ValueError("the overlap must be at least 0 and smaller than the chunk size")
    chunks: list[Chunk] = []
    units = _units(text, size)
    index = 0
    while index < len(units):
        first_start = units[index][0]
        end = units[index][1]
        index += 1
        # Whole paragraphs while they fit.
        while index < len(units) and units[index][1] - first_start <= size:
            end = units[index][1]
            index += 1
        start = first_start
        if chunks and overlap:
            # Reach back into the previous chunk, to the start of a word.
            back = max(first_start - overlap, chunks[-1].char_start + 1)
            while back < first_start and not (text[back - 1].isspace() and not text[back].isspace()):
                back += 1
            start = back
        chunks.append(Chunk(text[start:end], start, end))
    return chunks
