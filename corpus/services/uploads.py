"""Uploaded files kept between the preview and the import: under MEDIA_ROOT/uploads/<user id>/,
named by a random token, so one person can never open another's upload by guessing a name.

An upload is removed when its import ends; one left at the preview (the person walked away) is
removed after IMPORT_UPLOAD_KEEP_HOURS, at the next upload or by `manage.py clean_uploads`."""

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

_TOKEN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class StoredUpload:
    token: str
    path: Path
    filename: str  # the name the person's file had (shown, never used as a path)
    size: int
    dataset_id: int


def _folder(user_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads" / str(int(user_id))


def store_upload(*, file: UploadedFile, user, dataset_id: int) -> StoredUpload:
    """Copy the upload to the user's folder in chunks (never whole in memory)."""
    discard_stale_uploads(older_than_hours=settings.IMPORT_UPLOAD_KEEP_HOURS)
    folder = _folder(user.pk)
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = folder / token
    with path.open("wb") as target:
        for chunk in file.chunks():
            target.write(chunk)
    filename = Path(file.name or "upload").name[:255]
    (folder / f"{token}.json").write_text(
        json.dumps({"filename": filename, "size": path.stat().st_size, "dataset_id": dataset_id})
    )
    return StoredUpload(token, path, filename, path.stat().st_size, dataset_id)


def find_upload(*, token: str, user_id: int, dataset_id: int) -> StoredUpload | None:
    """The user's upload for this dataset, or None (someone else's token finds nothing)."""
    if not token or len(token) > 64 or not set(token) <= _TOKEN_CHARS:
        return None
    folder = _folder(user_id)
    path, info_path = folder / token, folder / f"{token}.json"
    if not path.is_file() or not info_path.is_file():
        return None
    info = json.loads(info_path.read_text())
    if info["dataset_id"] != dataset_id:
        return None
    return StoredUpload(token, path, info["filename"], info["size"], dataset_id)


def discard_upload(upload: StoredUpload) -> None:
    upload.path.unlink(missing_ok=True)
    upload.path.with_name(f"{upload.token}.json").unlink(missing_ok=True)


def discard_stale_uploads(*, older_than_hours: float) -> int:
    """Remove uploads nobody imported within `older_than_hours`; returns how many files went.
    A background import older than that whose worker never ran finds its file gone and says so."""
    root = Path(settings.MEDIA_ROOT) / "uploads"
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_hours * 3600
    removed = 0
    for path in root.glob("*/*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile by its import or another cleanup
            continue
    return removed
