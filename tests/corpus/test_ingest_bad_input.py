"""Bad input: a clear message naming file, row (or line) and field, and nothing of the file written."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.models import Record
from corpus.services.ingest import import_records, preview_file
from tests.factories import DatasetFactory, RecordFactory

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def dataset(db):
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset, text="Was here before the import")
    return dataset


def run(dataset, data: bytes, filename: str, **options):
    return import_records(dataset=dataset, source=io.BytesIO(data), filename=filename, user=None, **options)


def assert_nothing_written(dataset):
    assert list(Record.objects.filter(dataset=dataset).values_list("text", flat=True)) == ["Was here before the import"]


def only_error(result):
    assert not result.ok
    assert result.inserted == 0
    return str(result.errors[0])


def test_invalid_json_line_is_named_and_nothing_is_written(dataset):
    data = b'{"text": "good one"}\n{"text": "truncated\n{"text": "another good one"}\n'

    result = run(dataset, data, "tickets.jsonl")

    assert result.error_count == 1
    assert only_error(result).startswith("tickets.jsonl, line 2: invalid JSON")
    assert_nothing_written(dataset)


def test_truncated_json_array_is_named(dataset):
    result = run(dataset, b'[{"text": "one"}, {"text": "tw', "tickets.json")

    assert only_error(result).startswith("tickets.json, item 2, line 1: invalid JSON")
    assert_nothing_written(dataset)


def test_file_not_in_the_claimed_encoding_names_the_line(dataset):
    data = "text\nfine\ncaf\u00e9 in latin-1\n".encode("latin-1")

    result = run(dataset, data, "latin.csv")

    assert "latin.csv, line 3" in only_error(result)
    assert "not utf-8 text" in only_error(result)
    assert_nothing_written(dataset)


def test_missing_text_column_names_the_columns(dataset):
    result = run(dataset, b"title,body_html\nA,B\n", "pages.csv")

    message = only_error(result)
    assert message.startswith("pages.csv, row 1: no text field found")
    assert "title, body_html" in message
    assert_nothing_written(dataset)


def test_chosen_text_column_that_does_not_exist_is_named(dataset):
    result = run(dataset, b"text,other\nA,B\n", "pages.csv", text_field="content")

    assert only_error(result) == (
        "pages.csv, row 1, field “content”: there is no text column “content”; the columns are: text, other"
    )


def test_missing_text_field_in_one_json_line_names_line_and_field(dataset):
    result = run(dataset, b'{"text": "ok"}\n{"txt": "typo"}\n', "a.jsonl")

    assert only_error(result) == "a.jsonl, line 2, field “text”: missing"
    assert_nothing_written(dataset)


def test_empty_file_is_an_error(dataset):
    result = run(dataset, b"", "empty.csv")

    assert only_error(result) == "empty.csv, file: the file is empty"
    assert_nothing_written(dataset)


def test_header_without_rows_is_an_error(dataset):
    result = run(dataset, b"id,text\r\n", "header.csv")

    assert only_error(result) == "header.csv, file: the file has a header but no rows"


def test_empty_json_array_is_an_error(dataset):
    result = run(dataset, b"[]", "none.json")

    assert only_error(result) == "none.json, file: the file has no rows"


def test_empty_text_names_row_and_field(dataset):
    result = run(dataset, b'text,id\nfine,1\n"   ",2\n', "blank.csv")

    assert only_error(result) == "blank.csv, row 3, field “text”: the text is empty"
    assert_nothing_written(dataset)


def test_field_over_the_size_limit_names_row_and_field(dataset, settings):
    settings.IMPORT_MAX_FIELD_CHARS = 50
    data = b"text\nshort\n" + b"x" * 51 + b"\n"

    result = run(dataset, data, "big.csv")

    assert only_error(result) == "big.csv, row 3, field “text”: the text is 51 characters; the limit is 50"
    assert_nothing_written(dataset)


def test_nul_byte_in_text_names_row_and_field(dataset):
    result = run(dataset, b"id,text\n1,ok\n2,bad\x00byte\n", "nul.csv")

    assert only_error(result) == "nul.csv, row 3, field “text”: contains a NUL byte"
    assert_nothing_written(dataset)


def test_nul_byte_in_another_column_names_that_column(dataset):
    result = run(dataset, b'{"text": "ok", "note": "a\\u0000b"}\n', "nul.jsonl")

    assert only_error(result) == "nul.jsonl, line 1, field “note”: contains a NUL byte"


def test_upload_over_the_size_limit_is_refused_before_reading(dataset, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100

    result = run(dataset, b"text\n" + b"a line of text\n" * 20, "huge.csv")

    assert only_error(result) == "huge.csv, file: the file is 305 bytes; the upload limit is 100 bytes"
    assert_nothing_written(dataset)


def test_stream_over_the_size_limit_stops_while_reading(dataset, settings):
    # A source whose size is unknown up front (a pipe) is cut off at the limit.
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self._data.readinto(buffer)

        def seekable(self):
            return False

        def tell(self):
            raise OSError("not seekable")

    settings.IMPORT_MAX_UPLOAD_BYTES = 70_000
    data = b"text\n" + b"".join(b"line %d\n" % i for i in range(20_000))

    result = import_records(dataset=dataset, source=Pipe(data), filename="pipe.csv")

    assert "larger than the upload limit of 70,000 bytes" in only_error(result)
    assert_nothing_written(dataset)


def test_corrupt_xlsx_is_an_error(dataset):
    data = (SAMPLES / "reviews.xlsx").read_bytes()[:900]

    result = run(dataset, data, "broken.xlsx")

    assert only_error(result).startswith("broken.xlsx, file: this is not a readable XLSX file")
    assert_nothing_written(dataset)


def test_xlsx_decompression_bomb_is_refused_unread(dataset):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 << 20))

    result = run(dataset, buffer.getvalue(), "bomb.xlsx")

    assert "(a ZIP bomb?)" in only_error(result)
    assert_nothing_written(dataset)


def test_row_with_too_many_fields_names_the_row(dataset):
    result = run(dataset, b"text,id\nok,1\nnot,2,extra\n", "wide.csv")

    assert only_error(result) == "wide.csv, row 3: the row has 3 fields, the header has 2"


def test_external_id_used_twice_for_different_texts_is_an_error(dataset):
    result = run(dataset, b"id,text\n7,first\n7,second\n", "ids.csv")

    assert only_error(result) == "ids.csv, row 3, field “id”: the id “7” is already used by row 2 for another text"
    assert_nothing_written(dataset)


def test_external_id_of_another_text_in_the_dataset_is_an_error(dataset):
    existing = RecordFactory(dataset=dataset, text="Older text", external_id="A-1")

    result = run(dataset, b"id,text\nA-1,newer text\n", "ids.csv")

    assert only_error(result) == (
        f"ids.csv, row 2, field “id”: the id “A-1” already names another text in the dataset (record #{existing.pk})"
    )


def test_every_error_is_counted_but_only_100_are_listed(dataset):
    data = b"text\n" + b'""\n' * 250

    result = run(dataset, data, "blanks.csv")

    assert result.error_count == 250
    assert len(result.errors) == 100
    assert str(result.errors[-1]) == "blanks.csv, row 101, field “text”: the text is empty"
    assert_nothing_written(dataset)


def test_a_good_row_after_a_bad_one_is_not_written_either(dataset):
    result = run(dataset, b'{"text": ""}\n{"text": "good"}\n', "mixed.jsonl")

    assert result.error_count == 1
    assert_nothing_written(dataset)


def test_formula_and_html_texts_are_stored_exactly_as_given(dataset):
    texts = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@import", "<script>alert(1)</script>", "&amp; &lt;"]
    lines = [json.dumps({"text": text}) for text in texts]

    result = run(dataset, "\n".join(lines).encode(), "risky.jsonl")

    assert result.ok, result.errors
    assert list(Record.objects.filter(dataset=dataset).order_by("id").values_list("text", flat=True))[1:] == texts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1))
def test_any_unicode_text_comes_back_exactly_through_csv(db, text):
    # Given any text (newlines, quotes, tabs, backslashes, emoji) that is not blank
    if not text.strip():
        return
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["text"], [text]])
    dataset = DatasetFactory()

    result = import_records(dataset=dataset, source=io.BytesIO(buffer.getvalue().encode()), filename="any.csv")

    assert result.ok, result.errors
    assert Record.objects.get(dataset=dataset).text == text


def test_the_preview_marks_the_rows_the_import_would_refuse(db):
    source = b"id,text\na1,Fine.\na2,\na3,   \na4,Fine too.\n"

    preview = preview_file(source=io.BytesIO(source), filename="mixed.csv")

    assert [(row.location, row.problem and str(row.problem)) for row in preview.rows] == [
        ("row 2", None),
        ("row 3", "mixed.csv, row 3, field “text”: the text is empty"),
        ("row 4", "mixed.csv, row 4, field “text”: the text is empty"),
        ("row 5", None),
    ]
