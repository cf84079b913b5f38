"""Documents as text: TXT and Markdown as written, HTML without markup, scripts or styles, PDF from
its text layer (page by page), DOCX paragraphs and tables. One extractor per kind; each gets the
file's bytes and returns its pages of text."""

import codecs
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from corpus.formats.base import FormatError
from corpus.formats.zipguard import ZipLimits, check_archive

KINDS = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
KINDS |= {".pdf": "pdf", ".docx": "docx"}


@dataclass(frozen=True)
class ExtractedText:
    kind: str
    pages: list[str]  # one entry per page for PDF; one entry for everything else
    page_count: int | None  # pages of a PDF or (as last saved) a DOCX
    paged: bool  # whether chunks carry a page number


def kind_of(filename: str) -> str | None:
    return KINDS.get(PurePath(filename).suffix.lower())


def extract_text(*, data: bytes, filename: str, encoding: str | None, zip_limits: ZipLimits) -> ExtractedText:
    kind = kind_of(filename)
    if kind is None:
        raise FormatError(f"not a document Tally reads (TXT, MD, HTML, PDF, DOCX): “{PurePath(filename).suffix}”")
    if kind in {"txt", "md"}:
        return ExtractedText(kind, [_decode(data, encoding)], None, paged=False)
    if kind == "html":
        return ExtractedText(kind, [html_to_text(data, encoding)], None, paged=False)
    if kind == "pdf":
        return _pdf(data)
    return _docx(data, zip_limits)


def _decode(data: bytes, encoding: str | None) -> str:
    if data.startswith(codecs.BOM_UTF8) and not encoding:
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(
            f"this is not {encoding or 'UTF-8'} text; name the file's encoding", location=f"line {line}"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FormatError("contains a NUL byte (a binary file?)", location=f"line {line}")
    return text


_BLOCKS = [
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
    "table", "td", "th", "tr", "ul", "title",
]  # fmt: skip
_INLINE_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def html_to_text(data: bytes, encoding: str | None) -> str:
    """The text a reader sees: scripts, styles and templates dropped, blocks as paragraphs."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser", from_encoding=encoding)
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "svg", "nav", "head"]):
        if tag.name == "head" and tag.title is not None:
            title = tag.title.extract()
            tag.replace_with(title)
            continue
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = soup.get_text()
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _pdf(data: bytes) -> ExtractedText:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FormatError("the PDF is encrypted with a password")
        pages = []
        for number, page in enumerate(reader.pages, 1):
            try:
                pages.append((page.extract_text() or "").replace("\x00", ""))
            except (PyPdfError, ValueError, KeyError, TypeError) as exc:
                raise FormatError(
                    f"the page cannot be read ({exc.__class__.__name__})", location=f"page {number}"
                ) from None
    except FormatError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormatError(f"this is not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    if not pages:
        raise FormatError("the PDF has no pages")
    if not any(page.strip() for page in pages):
        raise FormatError(
            f"the PDF has {len(pages)} page(s) but no text layer (a scan?); run OCR on it first and upload the result"
        )
    return ExtractedText("pdf", pages, len(pages), paged=True)


_DOCX_PAGES = re.compile(rb"<Pages>(\d+)</Pages>")


def _docx(data: bytes, zip_limits: ZipLimits) -> ExtractedText:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_archive(archive, limits=zip_limits)
            if "word/document.xml" not in archive.namelist():
                raise FormatError("this is a ZIP file but not a Word document")
            app = archive.read("docProps/app.xml") if "docProps/app.xml" in archive.namelist() else b""
        document = docx.Document(io.BytesIO(data))
    except FormatError:
        raise
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise FormatError(f"this is not a readable DOCX file ({exc.__class__.__name__})") from None
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    text = "\n\n".join(part.strip() for part in parts if part.strip())
    if "\x00" in text:
        raise FormatError("contains a NUL byte")
    pages = _DOCX_PAGES.search(app)
    return ExtractedText("docx", [text], int(pages.group(1)) if pages else None, paged=False)
