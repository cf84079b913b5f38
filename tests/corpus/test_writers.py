"""The streaming writers: what each format writes is what the readers of corpus/formats read back
(texts, ids, labels, meta, predictions), and cells a spreadsheet would run are escaped."""

import csv
import io
import json
import zipfile

import openpyxl
import pytest

from corpus.formats.writers import FORMATS, ExportLayout, ExportRow, WriteStats, csv_field, loads
from corpus.formats.xlsx import XlsxReader
from corpus.formats.zipguard import ZipLimits
from corpus.services.ingest import read_rows

LAYOUT = ExportLayout(label_names=("negative", "positive"), meta_columns=("hotel", "stars"))
ROWS = [
    ExportRow(1, "r-1", "The room was spotless.", {"hotel": "Seaview", "stars": 4}, ["positive"]),
    ExportRow(2, "r-2", 'Noisy at night, "thin walls".\nNever again.', {"hotel": "Dune"}, ["negative"]),
    ExportRow(3, "", "Breakfast: 10/10", {}, None),
]


def write(fmt: str, rows=ROWS, layout=LAYOUT, batches: int = 2) -> bytes:
    stats = WriteStats()
    chunks = [rows[i::batches] for i in range(batches)]  # several batches, as the service sends them
    ordered = [sorted(chunk, key=lambda row: row.record_id) for chunk in chunks if chunk]
    return b"".join(FORMATS[fmt].write(iter(ordered), layout, stats))


def read_back(data: bytes, filename: str, fmt: str | None = None) -> list:
    _, _, _, rows = read_rows(source=io.BytesIO(data), filename=filename, fmt=fmt)
    parsed = [row for _, row in rows]
    assert all(hasattr(row, "text") for row in parsed), parsed
    return parsed


def as_dicts(parsed) -> list[dict]:
    return sorted(
        ({"id": row.external_id, "text": row.text, "labels": row.labels, "meta": row.meta} for row in parsed),
        key=lambda item: item["text"],
    )


EXPECTED = sorted(
    (
        {
            "id": "r-1",
            "text": "The room was spotless.",
            "labels": ["positive"],
            "meta": {"hotel": "Seaview", "stars": 4},
        },
        {
            "id": "r-2",
            "text": 'Noisy at night, "thin walls".\nNever again.',
            "labels": ["negative"],
            "meta": {"hotel": "Dune"},
        },
        {"id": "", "text": "Breakfast: 10/10", "labels": None, "meta": {}},
    ),
    key=lambda item: item["text"],
)


@pytest.mark.parametrize("fmt", ["jsonl", "doccano", "labelstudio", "argilla"])
def test_json_formats_read_back_with_the_same_texts_ids_labels_and_meta(fmt):
    data = write(fmt)

    parsed = read_back(data, f"export.{FORMATS[fmt].extension}")

    assert as_dicts(parsed) == EXPECTED


def test_prodigy_reads_back_with_the_same_texts_ids_and_labels():
    data = write("prodigy")

    parsed = read_back(data, "export.jsonl", fmt="prodigy")

    # Prodigy's reader adds the task's answer to meta; everything else is as written.
    assert [
        {**item, "meta": {k: v for k, v in item["meta"].items() if k != "answer"}} for item in as_dicts(parsed)
    ] == EXPECTED


def test_hugging_face_layout_is_a_zip_of_split_files_with_label_names():
    rows = [
        ExportRow(1, "a", "first", {}, ["positive"], split="train"),
        ExportRow(2, "b", "second", {}, ["negative"], split="test"),
    ]
    layout = ExportLayout(label_names=("negative", "positive"), split=True, split_names=("train", "validation", "test"))

    data = write("hf", rows=rows, layout=layout, batches=1)

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["metadata.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["label_names"] == ["negative", "positive"]
    assert metadata["splits"] == {"train": 1, "validation": 0, "test": 1}
    train = [json.loads(line) for line in archive.read("train.jsonl").splitlines()]
    assert train == [{"id": "a", "text": "first", "label": 1, "label_text": "positive"}]
    parsed = read_back(archive.read("test.jsonl"), "test.jsonl")
    assert [(row.external_id, row.text, row.labels) for row in parsed] == [("b", "second", ["negative"])]


def test_label_studio_predictions_read_back_with_scores_and_versions():
    rows = [
        ExportRow(
            1,
            "r-1",
            "Great pool.",
            {},
            ["positive"],
            predictions=[
                {"label": "positive", "score": 0.9, "model_version": "v2"},
                {"label": "negative", "score": 0.4, "model_version": "v1"},
            ],
        )
    ]

    data = write("labelstudio", rows=rows, layout=ExportLayout(predictions=True), batches=1)

    (parsed,) = read_back(data, "tasks.json")
    assert sorted(parsed.predictions, key=lambda p: p["model_version"]) == [
        {"label": "negative", "score": 0.4, "model_version": "v1"},
        {"label": "positive", "score": 0.9, "model_version": "v2"},
    ]


def test_argilla_suggestions_read_back_with_scores_and_agents():
    rows = [
        ExportRow(
            1, "r-1", "Great pool.", {}, None, predictions=[{"label": "positive", "score": 0.7, "model_version": "m"}]
        )
    ]

    data = write("argilla", rows=rows, layout=ExportLayout(predictions=True), batches=1)

    (parsed,) = read_back(data, "records.jsonl")
    assert parsed.predictions == [{"label": "positive", "score": 0.7, "model_version": "m"}]
    assert parsed.labels is None


def test_multi_label_jsonl_writes_a_list_of_names():
    rows = [ExportRow(1, "x", "Late and rude.", {}, ["delivery", "staff"])]

    data = write("jsonl", rows=rows, layout=ExportLayout(multi_label=True), batches=1)

    assert json.loads(data)["label"] == ["delivery", "staff"]
    (parsed,) = read_back(data, "export.jsonl")
    assert parsed.labels == ["delivery", "staff"]


def test_meta_key_that_names_a_field_of_the_format_is_prefixed():
    rows = [ExportRow(1, "x", "Some text", {"text": "a shadow", "label": "old"}, ["positive"])]

    data = write("jsonl", rows=rows, batches=1)

    assert json.loads(data) == {
        "id": "x",
        "text": "Some text",
        "label": "positive",
        "meta.text": "a shadow",
        "meta.label": "old",
    }


def test_meta_values_beyond_64_bit_integers_are_written_all_the_same():
    rows = [ExportRow(1, "x", "Big", {"n": 2**70}, None)]

    data = write("jsonl", rows=rows, batches=1)

    assert json.loads(data)["n"] == 2**70


FORMULAS = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tindented", "\rreturn"]


def formula_rows() -> list[ExportRow]:
    return [ExportRow(i, f"id-{i}", text, {"note": text}, ["=cmd"]) for i, text in enumerate(FORMULAS, 1)]


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped():
    layout = ExportLayout(meta_columns=("note",))

    data = write("csv", rows=formula_rows(), layout=layout, batches=1)

    table = read_csv(data)
    assert [row["text"] for row in table] == ["'" + text for text in FORMULAS]
    assert [row["note"] for row in table] == ["'" + text for text in FORMULAS]
    assert {row["label"] for row in table} == {"'=cmd"}
    assert data.startswith(b"\xef\xbb\xbf")  # for spreadsheets: Excel reads it as UTF-8


def test_csv_without_escaping_keeps_every_cell_exactly():
    layout = ExportLayout(meta_columns=("note",), escape_formulas=False)

    data = write("csv", rows=formula_rows(), layout=layout, batches=1)

    table = read_csv(data)
    assert [row["text"] for row in table] == FORMULAS
    assert [row["note"] for row in table] == FORMULAS
    assert not data.startswith(b"\xef\xbb\xbf")


def read_xlsx(data: bytes) -> tuple[list[str], list[dict]]:
    """The sheet as the importer reads it: header and rows."""
    reader = XlsxReader(io.BytesIO(data), limits=ZipLimits())
    return reader.columns, [row for _, row in reader]


def cell_types(data: bytes) -> set[str]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))  # not read-only: cell types are visible
    return {cell.data_type for row in workbook.worksheets[0].iter_rows(min_row=2) for cell in row if cell.value}


def test_xlsx_cells_that_a_spreadsheet_would_run_are_escaped_and_stay_text():
    layout = ExportLayout(meta_columns=("note",))

    data = write("xlsx", rows=formula_rows(), layout=layout)

    header, rows = read_xlsx(data)
    assert header == ["id", "text", "label", "note"]
    assert sorted(row["text"] for row in rows) == sorted("'" + text for text in FORMULAS)
    assert sorted(row["note"] for row in rows) == sorted("'" + text for text in FORMULAS)
    assert {row["label"] for row in rows} == {"'=cmd"}
    assert cell_types(data) == {"s"}  # text, never a formula ("f")


def test_xlsx_without_escaping_keeps_every_cell_exactly_and_never_as_a_formula():
    layout = ExportLayout(meta_columns=("note",), escape_formulas=False)

    data = write("xlsx", rows=formula_rows(), layout=layout)

    _, rows = read_xlsx(data)
    assert sorted(row["text"] for row in rows) == sorted(FORMULAS)
    assert sorted(row["note"] for row in rows) == sorted(FORMULAS)
    assert cell_types(data) == {"s"}


def test_xlsx_reads_back_through_the_importer_with_numbers_as_numbers():
    data = write("xlsx", layout=ExportLayout(meta_columns=("hotel", "stars"), escape_formulas=False))

    parsed = read_back(data, "export.xlsx")

    by_text = {row.text: row for row in parsed}
    assert by_text["The room was spotless."].meta == {"hotel": "Seaview", "stars": 4}
    assert by_text["The room was spotless."].labels == ["positive"]


def test_xlsx_counts_texts_cut_at_the_cell_limit():
    rows = [ExportRow(1, "long", "x" * 40_000, {}, None)]
    stats = WriteStats()

    b"".join(FORMATS["xlsx"].write(iter([rows]), ExportLayout(), stats))

    assert stats.truncated_cells == 1


def test_writers_yield_a_chunk_per_batch_rather_than_one_file_at_the_end():
    batches = [[ExportRow(i, str(i), f"text {i}", {}, None)] for i in range(5)]

    chunks = list(FORMATS["jsonl"].write(iter(batches), ExportLayout(), WriteStats()))

    assert len(chunks) == 5


def test_xlsx_texts_with_windows_line_ends_read_back_unchanged():
    rows = [ExportRow(1, "crlf", "line one\r\nline two\x0bvertical tab", {}, None)]

    data = write("xlsx", rows=rows, layout=ExportLayout(escape_formulas=False), batches=1)

    _, table = read_xlsx(data)
    assert table[0]["text"] == "line one\r\nline two\x0bvertical tab"


TRICKY_CELLS = [
    "plain",
    "",
    None,
    'say "hi"',
    "a,b",
    "line\nbreak",
    "cr\rhere",
    " padded ",
    42,
    1.5,
    "ünï ✓",
    '"',
    ",,",
]


def test_csv_fields_are_written_as_the_csv_module_writes_them():
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerow(TRICKY_CELLS)

    assert ",".join(map(csv_field, TRICKY_CELLS)) + "\r\n" == expected.getvalue()


def test_meta_read_from_the_database_keeps_integers_beyond_64_bits_exact():
    assert loads('{"n": 1180591620717411303424, "x": 1.5, "s": "12345678901234567890"}') == {
        "n": 2**70,
        "x": 1.5,
        "s": "12345678901234567890",
    }
