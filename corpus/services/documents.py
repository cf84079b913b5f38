"""Importing documents (TXT, MD, HTML, PDF, DOCX, or a ZIP of them): each becomes a Document (the
file kept, its sha256 and page count) and its Records, one per paragraph-aware chunk, with page
and character offsets. All documents of one upload land together or not at all."""

import hashlib
import logging
import zipfile
from collections.abc import Iterator
from pathlib import PurePath
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction

from corpus.formats.base import FormatError
from corpus.formats.documents import extract_text, kind_of
from corpus.formats.shapes import PLAIN, Mapping
from corpus.formats.zipguard import check_archive
from corpus.models import Dataset, Document
from corpus.services.chunking import chunk_text
from corpus.services.ingest import (
    EMPTY_TEXT_HASH,
    ImportResult,
    Rollback,
    StagedImport,
    Staging,
    copy_text,
    import_limits,
    refuse_oversized,
    write_records,
)
from corpus.text import content_hash

logger = logging.getLogger(__name__)


def is_document(filename: str) -> bool:
    return PurePath(filename).suffix.lower() == ".zip" or kind_of(filename) is not None


def list_documents(*, source: BinaryIO, filename: str) -> list[tuple[str, str | None, int]]:
    """(name, kind, size) of the documents an upload holds, for the preview; nothing is unpacked."""
    if PurePath(filename).suffix.lower() != ".zip":
        return [(filename, kind_of(filename), source.seek(0, 2))]
    try:
        with zipfile.ZipFile(source) as archive:
            return [
                (member.filename, kind_of(member.filename), member.file_size)
                for member in archive.infolist()[:1000]
                if not member.is_dir() and not member.filename.startswith("__MACOSX/")
            ]
    except zipfile.BadZipFile:
        return []


def chunk_settings() -> tuple[int, int]:
    return getattr(settings, "IMPORT_CHUNK_SIZE", 1000), getattr(settings, "IMPORT_CHUNK_OVERLAP", 100)


def _members(source: BinaryIO, filename: str, result: ImportResult) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each document: the file itself, or each document in the ZIP."""
    limits = import_limits()
    if PurePath(filename).suffix.lower() != ".zip":
        data = source.read(limits["max_upload_bytes"] + 1)
        if len(data) > limits["max_upload_bytes"]:
            raise FormatError(f"the file is larger than the upload limit of {limits['max_upload_bytes']:,} bytes")
        yield filename, data
        return
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise FormatError("this is not a readable ZIP file") from None
    with archive:
        check_archive(archive, limits=limits["zip_limits"])
        for member in archive.infolist():
            name = member.filename
            if member.is_dir() or name.startswith("__MACOSX/") or PurePath(name).name.startswith("."):
                continue
            if kind_of(name) is None:
                result.add_error(
                    "file", "", "not a document Tally reads (TXT, MD, HTML, PDF, DOCX)", file=f"{filename}/{name}"
                )
                continue
            try:
                yield f"{filename}/{name}", archive.read(member)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                result.add_error("file", "", f"cannot be unpacked ({exc})", file=f"{filename}/{name}")


def _keep_document(*, dataset, name: str, data: bytes, sha256: str, extracted, user) -> Document:
    """The Document row and its file (written to storage now; deleted again if the import fails)."""
    document = Document(
        dataset=dataset,
        original_name=PurePath(name).name[:255],
        sha256=sha256,
        kind=extracted.kind,
        size_bytes=len(data),
        pages=extracted.page_count,
        uploaded_by=user if user is not None and user.pk else None,
    )
    document.file.save(PurePath(name).name, ContentFile(data), save=False)
    document.save()
    return document


def _chunk_lines(document: Document, extracted, *, first_row: int, size: int, overlap: int) -> list[str]:
    """COPY lines of the document's chunks: position in the document, page, character offsets."""
    lines = []
    for page_number, page_text in enumerate(extracted.pages, 1):
        page = str(page_number) if extracted.paged else "\\N"
        for chunk in chunk_text(page_text, size=size, overlap=overlap):
            digest = content_hash(chunk.text)
            if digest == EMPTY_TEXT_HASH:
                continue
            position = len(lines) + 1
            lines.append(
                f"{first_row + len(lines)}\t{copy_text(chunk.text)}\t{digest}\t\t{{}}\t{document.pk}\t{position}"
                f"\t{page}\t{chunk.char_start}\t{chunk.char_end}\n"
            )
    return lines


def _undo_files(saved: list[str], result: ImportResult) -> None:
    """The rows were rolled back; the files written meanwhile must go too."""
    for name in saved:
        default_storage.delete(name)
    result.read = result.inserted = result.duplicates = result.documents = result.documents_duplicates = 0


def import_documents(
    *,
    dataset: Dataset,
    source: BinaryIO,
    filename: str,
    user=None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Import one document or a ZIP of documents into `dataset`, all or nothing. A document already
    in the dataset (same sha256) is skipped and counted."""
    default_size, default_overlap = chunk_settings()
    size = chunk_size or default_size
    overlap = default_overlap if chunk_overlap is None else chunk_overlap
    result = ImportResult(filename=filename, container=PurePath(filename).suffix.lower().lstrip("."), shape="document")
    limits = import_limits()
    saved: list[str] = []
    try:
        refuse_oversized(source, limits["max_upload_bytes"])
        with transaction.atomic(), connection.cursor() as cursor:
            staging = Staging(cursor)
            staged = StagedImport(
                cursor=cursor,
                table=staging.table,
                dataset=dataset,
                mapping=Mapping(PLAIN, "text"),
                result=result,
                location=lambda number: f"chunk {number}",
            )
            seen: set[str] = set()
            for name, data in _members(source, filename, result):
                try:
                    extracted = extract_text(
                        data=data, filename=name, encoding=encoding, zip_limits=limits["zip_limits"]
                    )
                except FormatError as exc:
                    result.add_error(exc.location, exc.field, exc.message, file=name)
                    continue
                if not result.ok:
                    continue  # keep checking the other documents, write nothing more
                sha256 = hashlib.sha256(data).hexdigest()
                if sha256 in seen or Document.objects.filter(dataset=dataset, sha256=sha256).exists():
                    result.documents_duplicates += 1
                    continue
                seen.add(sha256)
                document = _keep_document(
                    dataset=dataset, name=name, data=data, sha256=sha256, extracted=extracted, user=user
                )
                saved.append(document.file.name)
                result.documents += 1
                lines = _chunk_lines(document, extracted, first_row=result.read + 1, size=size, overlap=overlap)
                if not lines:
                    result.add_error("file", "", "the document has no text", file=name)
                    continue
                with cursor.cursor.copy(f"COPY {staging.table} ({Staging.CHUNK_COLUMNS}) FROM STDIN") as copy:
                    copy.write("".join(lines).encode())
                result.read += len(lines)
            if result.ok and not result.documents and not result.documents_duplicates:
                result.add_error("file", "", "the archive holds no documents")
            if not result.ok:
                raise Rollback
            write_records(staged, label_writer=None)
            cursor.execute(f"DROP TABLE IF EXISTS {staging.table}")
    except FormatError as exc:
        result.add_error(exc.location, exc.field, exc.message)
    except Rollback:
        pass
    if not result.ok:
        _undo_files(saved, result)
    logger.info(
        "documents %s into dataset %s: %s documents, %s chunks inserted, %s errors",
        filename,
        dataset.pk,
        result.documents,
        result.inserted,
        result.error_count,
    )
    return result
