"""Documents become a Document and its chunk records, with pages and character offsets."""

import io
import itertools
import zipfile
from pathlib import Path

import pytest

from corpus.models import Document, Record
from corpus.services.chunking import chunk_text
from corpus.services.documents import import_documents
from tests.factories import DatasetFactory, RecordFactory

SAMPLES = Path(__file__).parent / "samples"


def import_sample(dataset, name: str, **options):
    with (SAMPLES / name).open("rb") as source:
        return import_documents(dataset=dataset, source=source, filename=name, **options)


def chunks_of(document) -> list[tuple]:
    return list(document.records.order_by("position").values_list("position", "page", "char_start", "char_end", "text"))


def test_markdown_document_is_kept_and_split_into_paragraph_chunks(db):
    dataset = DatasetFactory()
    source_text = (SAMPLES / "policy.md").read_text()

    result = import_sample(dataset, "policy.md", chunk_size=200, chunk_overlap=0)

    assert result.ok, result.errors
    document = Document.objects.get(dataset=dataset)
    assert (document.kind, document.original_name, document.pages) == ("md", "policy.md", None)
    assert document.file.read() == (SAMPLES / "policy.md").read_bytes()
    assert len(document.sha256) == 64
    chunks = chunks_of(document)
    assert [position for position, *_ in chunks] == list(range(1, len(chunks) + 1))
    for _, page, start, end, text in chunks:
        assert page is None
        assert source_text[start:end] == text
        assert len(text) <= 200
    # Whole paragraphs are packed while they fit.
    assert chunks[0][4] == (
        "# Returns policy\n\nYou may return any item within **30 days** of delivery. "
        "Items must be unused and in their original packaging.\n\n## Refunds"
    )
    assert result.inserted == len(chunks) and result.documents == 1


def test_pdf_chunks_keep_their_page(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "birds.pdf")

    assert result.ok, result.errors
    document = Document.objects.get(dataset=dataset)
    assert (document.kind, document.pages) == ("pdf", 2)
    assert [(page, text) for _, page, _, _, text in chunks_of(document)] == [
        (1, "Field guide to garden birds.\nThe robin sings all year round."),
        (2, "Page two: the wren is small but loud.\nIt nests in hedges."),
    ]


def test_html_keeps_text_and_drops_scripts_and_styles(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "article.html")

    assert result.ok, result.errors
    text = "\n\n".join(Record.objects.filter(dataset=dataset).order_by("position").values_list("text", flat=True))
    assert "Imports are now ten times faster." in text
    assert "Text with <angle brackets> stays text." in text
    assert "tracking" not in text and "alert" not in text and "font-family" not in text
    assert "Enable JavaScript" not in text


def test_docx_paragraphs_and_tables_become_text(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "report.docx")

    assert result.ok, result.errors
    document = Document.objects.get(dataset=dataset)
    assert document.kind == "docx"
    text = " ".join(Record.objects.filter(document=document).values_list("text", flat=True))
    assert "Revenue grew 12% on the previous quarter" in text
    assert "Customers cited “fast uploads” most often." in text
    assert "EMEA | 14%" in text


def test_txt_with_crlf_is_imported(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "notes.txt", chunk_size=60, chunk_overlap=0)

    assert result.ok, result.errors
    assert list(Record.objects.filter(dataset=dataset).order_by("position").values_list("text", flat=True)) == [
        "Meeting notes, 3 March\r\n\r\nAttendees: Ana, Bo, Chen.",
        "Decision: ship the import feature first; documents follow.",
    ]


def test_zip_of_documents_imports_each_document(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "documents.zip")

    assert result.ok, result.errors
    assert sorted(Document.objects.filter(dataset=dataset).values_list("original_name", flat=True)) == [
        "birds.pdf",
        "notes.txt",
        "policy.md",
    ]
    assert result.documents == 3


def test_same_document_twice_is_skipped_and_counted(db):
    dataset = DatasetFactory()
    import_sample(dataset, "policy.md")

    again = import_sample(dataset, "policy.md")

    assert again.ok
    assert (again.documents, again.documents_duplicates, again.inserted) == (0, 1, 0)
    assert Document.objects.filter(dataset=dataset).count() == 1


def test_pdf_without_text_layer_is_a_clear_error_and_nothing_is_kept(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    dataset = DatasetFactory()

    result = import_sample(dataset, "scanned.pdf")

    assert str(result.errors[0]) == (
        "scanned.pdf, file: the PDF has 2 page(s) but no text layer (a scan?); "
        "run OCR on it first and upload the result"
    )
    assert not Document.objects.exists()
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


def test_one_bad_document_in_a_zip_writes_none_of_them(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    dataset = DatasetFactory()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(SAMPLES / "notes.txt", "notes.txt")
        archive.write(SAMPLES / "scanned.pdf", "scans/scanned.pdf")
        archive.writestr("image.png", b"\x89PNG")

    result = import_documents(dataset=dataset, source=buffer, filename="batch.zip")

    assert [str(error) for error in result.errors] == [
        "batch.zip/scans/scanned.pdf, file: the PDF has 2 page(s) but no text layer (a scan?); "
        "run OCR on it first and upload the result",
        "batch.zip/image.png, file: not a document Tally reads (TXT, MD, HTML, PDF, DOCX)",
    ]
    assert not Document.objects.exists() and not Record.objects.filter(dataset=dataset).exists()
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


def test_zip_bomb_is_refused_before_unpacking(db):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.txt", b"a" * (60 << 20))

    result = import_documents(dataset=DatasetFactory(), source=buffer, filename="bomb.zip")

    assert "(a ZIP bomb?)" in str(result.errors[0])
    assert not Document.objects.exists()


def test_zip_with_too_many_members_is_refused(db, settings):
    settings.IMPORT_ZIP_MAX_MEMBERS = 3
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(4):
            archive.writestr(f"n{n}.txt", f"note {n}")

    result = import_documents(dataset=DatasetFactory(), source=buffer, filename="many.zip")

    assert str(result.errors[0]) == "many.zip, file: the archive has 4 members; the limit is 3"


def test_corrupt_docx_is_an_error(db):
    result = import_documents(dataset=DatasetFactory(), source=io.BytesIO(b"PK\x03\x04broken"), filename="x.docx")

    assert str(result.errors[0]).startswith("x.docx, file: this is not a readable DOCX file")


def test_text_file_in_another_encoding_names_the_line(db):
    data = "first line\nsecond line: caf\u00e9\n".encode("latin-1")

    result = import_documents(dataset=DatasetFactory(), source=io.BytesIO(data), filename="old.txt")

    assert str(result.errors[0]) == "old.txt, line 2: this is not UTF-8 text; name the file's encoding"


def test_chunk_identical_to_an_existing_record_is_counted_as_duplicate(db):
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset, text="Decision: ship the import feature first; documents follow.")

    result = import_sample(dataset, "notes.txt", chunk_size=60, chunk_overlap=0)

    assert (result.inserted, result.duplicates) == (1, 1)


def test_chunks_overlap_by_whole_words_and_slice_the_text_exactly():
    text = " ".join(f"word{n}" for n in range(400))

    chunks = chunk_text(text, size=100, overlap=30)

    for previous, chunk in itertools.pairwise(chunks):
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.char_start < previous.char_end  # they overlap
        assert previous.char_end - chunk.char_start <= 30
        assert chunk.text.startswith("word")  # never half a word
    assert all(len(chunk.text) <= 130 for chunk in chunks)
    assert chunks[-1].char_end == len(text)


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (100, 100), (100, -1)])
def test_chunk_settings_out_of_range_are_refused(size, overlap):
    with pytest.raises(ValueError):
        chunk_text("text", size=size, overlap=overlap)
