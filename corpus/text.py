"""What "the same text" means in Tally: the normalization behind content hashes and dedupe."""

import hashlib
import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Unicode NFC with runs of whitespace collapsed to one space and the ends stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def content_hash(text: str) -> str:
    """sha256 (hex) of the normalized text: equal for texts that differ only in spacing or
    Unicode composition, so such rows count as duplicates."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
