"""Uploaded files kept between the preview and the import: under MEDIA_ROOT/uploads/<user id>/,
named by a random token, so one person can never open another's upload by guessing a name."""

import json
import secrets
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
