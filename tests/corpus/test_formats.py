"""Readers: format detection, dialects, encodings and streaming of each container."""

import io
import json

import pytest

from corpus.formats import FormatError, detect_container
from corpus.formats.base import BadRow
from corpus.formats.delimited import DelimitedReader
from corpus.formats.json_array import JsonArrayReader
from corpus.formats.jsonl import JsonLinesReader
from corpus.formats.shapes import detect_shape
from corpus.formats.source import open_buffered


def rows_of(reader) -> list:
    return list(reader)


def delimited(data: bytes, **options) -> DelimitedReader:
    return DelimitedReader(
        open_buffered(io.BytesIO(data)),
        delimiter=options.get("delimiter"),
        encoding=options.get("encoding"),
        max_field_chars=1000,
    )


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("data.csv", b"id,text\n", "csv"),
        ("data.tsv", b"id\ttext\n", "tsv"),
        ("data.jsonl", b'{"text": "a"}\n', "jsonl"),
        ("data.json", b'{"text": "a"}\n{"text": "b"}\n', "jsonl"),  # JSON Lines under .json
        ("data.jsonl", b'[{"text": "a"}]', "json"),  # an array under .jsonl
        ("export", b'\xef\xbb\xbf  [{"text": "a"}]', "json"),
        ("sheet.bin", b"PK\x03\x04....", "xlsx"),
        ("notes", b"text\nhello\n", "csv"),
    ],
)
def test_container_is_detected_from_content_and_extension(filename, head, expected):
    assert detect_container(filename=filename, head=head) == expected


def test_named_format_wins_over_detection():
    assert detect_container(filename="data.csv", head=b"id,text\n", fmt="tsv") == "tsv"


def test_unknown_named_format_is_refused():
    with pytest.raises(FormatError, match="unknown format “yaml”"):
        detect_container(filename="x", head=b"", fmt="yaml")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed(delimiter):
    data = delimiter.join(["id", "text", "lang"]).encode() + b"\n" + delimiter.join(["1", "Hello there", "en"]).encode()

    reader = delimited(data + b"\n")

    assert reader.delimiter == delimiter
    assert rows_of(reader) == [(2, {"id": "1", "text": "Hello there", "lang": "en"})]


def test_csv_quoted_newlines_keep_sheet_row_numbers():
    data = b'id,text\r\n1,"two\r\nlines"\r\n2,plain\r\n'

    assert rows_of(delimited(data)) == [(2, {"id": "1", "text": "two\r\nlines"}), (3, {"id": "2", "text": "plain"})]


def test_utf8_bom_is_not_part_of_the_first_column_name():
    assert delimited(b"\xef\xbb\xbfid,text\n1,x\n").columns == ["id", "text"]


def test_duplicate_header_names_are_refused():
    with pytest.raises(FormatError, match="the header names text more than once"):
        delimited(b"text,text\na,b\n")


def test_short_row_is_a_bad_row_not_a_shifted_one():
    assert rows_of(delimited(b"id,text\n1\n")) == [(2, BadRow("", "the row has 1 fields, the header has 2"))]


def test_jsonl_bad_lines_are_reported_and_reading_goes_on():
    data = b'{"text": "a"}\n[1, 2]\nnot json\n\n{"text": "b"}\n'

    rows = rows_of(JsonLinesReader(open_buffered(io.BytesIO(data)), encoding=None))

    assert rows[0] == (1, {"text": "a"})
    assert rows[1] == (2, BadRow("", "the line is a JSON list, not an object"))
    assert rows[2][0] == 3 and rows[2][1].message.startswith("invalid JSON")
    assert rows[3] == (5, {"text": "b"})


def test_json_array_is_streamed_across_read_boundaries(monkeypatch):
    # Given items that straddle the reader's chunk boundary many times
    monkeypatch.setattr("corpus.formats.json_array.CHUNK_CHARS", 7)
    items = [{"text": f"item {n}", "tags": ["a", {"deep": n}]} for n in range(50)]
    data = json.dumps(items, indent=2).encode()

    rows = rows_of(JsonArrayReader(open_buffered(io.BytesIO(data)), encoding=None, max_item_chars=10_000))

    assert rows == [(n + 1, item) for n, item in enumerate(items)]


def test_json_array_item_that_is_not_an_object_is_a_bad_row():
    rows = rows_of(
        JsonArrayReader(open_buffered(io.BytesIO(b'[{"text": "a"}, "b"]')), encoding=None, max_item_chars=100)
    )

    assert rows[1] == (2, BadRow("", "the item is a JSON str, not an object"))


def test_json_object_that_is_not_an_array_is_refused():
    reader = JsonArrayReader(open_buffered(io.BytesIO(b'{"rows": []}')), encoding=None, max_item_chars=100)

    with pytest.raises(FormatError, match="expected a JSON array"):
        rows_of(reader)


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        ({"data": {"text": "x"}, "annotations": []}, "labelstudio"),
        ({"fields": {"text": "x"}, "responses": []}, "argilla"),
        ({"text": "x", "label": "A", "answer": "accept"}, "prodigy"),
        ({"text": "x", "label": 1}, "huggingface"),
        ({"text": "x", "label_text": "pos"}, "huggingface"),
        ({"text": "x", "label": ["A"]}, "doccano"),
        ({"text": "x", "label": "A"}, "plain"),
    ],
)
def test_tool_shape_is_detected_from_the_first_row(row, shape):
    assert detect_shape(row) == shape
