"""Limits on ZIP archives (XLSX, DOCX and ZIPs of documents) checked from the central directory
before anything is inflated: member count, total uncompressed size and compression ratio."""

import zipfile
from dataclasses import dataclass

from corpus.formats.base import FormatError


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 10_000
    max_total_bytes: int = 1 << 30  # 1 GiB uncompressed
    max_ratio: int = 100  # uncompressed / compressed, per member and overall


def check_archive(archive: zipfile.ZipFile, *, limits: ZipLimits) -> None:
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise FormatError(f"the archive has {len(members):,} members; the limit is {limits.max_members:,}")
    total = sum(member.file_size for member in members)
    if total > limits.max_total_bytes:
        raise FormatError(
            f"the archive would unpack to {total:,} bytes; the limit is {limits.max_total_bytes:,} (a ZIP bomb?)"
        )
    compressed = sum(member.compress_size for member in members)
    for member in members:
        if member.file_size > 1 << 20 and member.file_size > limits.max_ratio * max(member.compress_size, 1):
            raise FormatError(
                f"“{member.filename}” is compressed {member.file_size // max(member.compress_size, 1):,} to 1; "
                f"the limit is {limits.max_ratio} to 1 (a ZIP bomb?)"
            )
    if total > 1 << 20 and total > limits.max_ratio * max(compressed, 1):
        raise FormatError(f"the archive is compressed more than {limits.max_ratio} to 1 (a ZIP bomb?)")
