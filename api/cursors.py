"""Opaque page cursors for keyset pagination by id: a page is "the next N with a larger id", so
records added while a client pages through appear once, at the end, and none is skipped."""

import base64
import binascii

from ninja.errors import HttpError

_MARK = "after:"


def cursor_after(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_MARK}{last_id}".encode()).decode().rstrip("=")


def id_after(cursor: str | None) -> int:
    """The id a cursor continues after (0 for the first page); 400 for anything we did not hand out."""
    if not cursor:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    number = decoded.removeprefix(_MARK)
    if (
        not decoded.startswith(_MARK)
        or not (number.isascii() and number.isdigit())
        or len(number) > 19
        or int(number) >= 2**63
    ):
        raise HttpError(400, "The cursor is not one this API handed out; start again without it.")
    return int(number)
