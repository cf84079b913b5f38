"""Importing table and JSON files into a dataset: every text and id arrives exactly, once."""

import csv
import io
import json
from pathlib import Path

import pytest

from corpus.models import Record
from corpus.services.ingest import import_records
from corpus.text import content_hash
from tests.factories import DatasetFactory, RecordFactory

SAMPLES = Path(__file__).parent / "samples"

REVIEWS = [
    ("r1", 'The battery lasts two days, which is "fine" for me.', {"lang": "en", "stars": "5"}),
    ("r2", "Shipping took three weeks.\nSecond line of the same review.", {"lang": "en", "stars": "2"}),
    ("r3", '=HYPERLINK("http://evil.example","click")', {"lang": "en", "stars": "1"}),
    ("r4", "<script>alert('x')</script> looks like HTML but is a review", {"lang": "en", "stars": "3"}),
    ("r5", "Très bien, livraison rapide — merci ! 👍", {"lang": "fr", "stars": "5"}),
    ("r6", "Qualität: gut; Preis: zu hoch", {"lang": "de", "stars": "3"}),
    ("r7", "+1 would buy again, 100% recommended", {"lang": "en", "stars": "4"}),
    ("r8", 'Commas, commas, and "quotes" in one field', {"lang": "en", "stars": "4"}),
]


def import_sample(dataset, name: str, **options):
    with (SAMPLES / name).open("rb") as source:
        return import_records(dataset=dataset, source=source, filename=name, user=None, **options)


def stored(dataset) -> list[tuple[str, str, dict]]:
    return list(Record.objects.filter(dataset=dataset).order_by("id").values_list("external_id", "text", "meta"))


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv", "reviews_semicolon_bom.csv"])
def test_delimited_sample_arrives_exactly_in_file_order(db, name):
    # Given a CSV (CRLF, quoted newlines), a TSV and a semicolon CSV with a BOM
    dataset = DatasetFactory()

    # When it is imported
    result = import_sample(dataset, name)

    # Then every id, text and other column arrived as written, in the file's order
    assert result.ok, result.errors
    assert (result.read, result.inserted, result.duplicates) == (8, 8, 0)
    assert stored(dataset) == [(id_, text, meta) for id_, text, meta in REVIEWS]


def test_csv_column_mapping_is_reported(db):
    result = import_sample(DatasetFactory(), "reviews.csv")

    assert result.container == "csv"
    assert result.mapping == {
        "shape": "plain",
        "text": "text",
        "id": "id",
        "label": None,
        "predictions": None,
        "meta": ["lang", "stars"],
    }


def test_jsonl_sample_arrives_exactly(db):
    dataset = DatasetFactory()
    lines = [json.loads(line) for line in (SAMPLES / "reviews.jsonl").read_text().splitlines() if line.strip()]

    result = import_sample(dataset, "reviews.jsonl")

    assert result.ok, result.errors
    assert result.read == 6
    expected = [(str(row.pop("id")), row.pop("text"), row) for row in lines]
    assert stored(dataset) == expected


def test_json_array_sample_arrives_exactly(db):
    dataset = DatasetFactory()
    items = json.loads((SAMPLES / "reviews.json").read_text())

    result = import_sample(dataset, "reviews.json")

    assert result.ok, result.errors
    assert result.container == "json"
    assert stored(dataset) == [(item["id"], item["text"], {"meta_source": item["meta_source"]}) for item in items]


def test_xlsx_sample_arrives_exactly(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "reviews.xlsx")

    assert result.ok, result.errors
    assert stored(dataset) == [
        ("x1", "Solid build quality.\nWould recommend.", {"lang": "en", "stars": 5, "reviewed": "2024-03-01T00:00:00"}),
        ("2", "=SUM(1,2) typed as text", {"lang": "en", "stars": 2, "reviewed": None}),
        ("x3", '<div onclick="steal()">hello</div>', {"lang": "en", "stars": 3, "reviewed": None}),
        ("x4", "Ünïcödé ✓ 漢字", {"lang": "de", "stars": 4, "reviewed": None}),
    ]


def test_named_encoding_is_used(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "cp1252.csv", encoding="cp1252")

    assert result.ok, result.errors
    assert [text for _, text, _ in stored(dataset)] == ["Café crème — 5 €", "Naïve “smart quotes”"]


def test_content_hash_is_stored_for_each_record(db):
    dataset = DatasetFactory()

    import_sample(dataset, "reviews.csv")

    for record in Record.objects.filter(dataset=dataset):
        assert record.content_hash == content_hash(record.text)


def test_duplicates_within_the_file_are_counted_not_inserted(db):
    # Given a file whose rows 3 and 4 repeat row 2 up to spacing and Unicode composition
    dataset = DatasetFactory()
    data = "text\nSame text here\nSame  text here \nSame text here\nCafe\u0301\nCafé\n".encode()

    result = import_records(dataset=dataset, source=io.BytesIO(data), filename="dupes.csv", user=None)

    assert (result.read, result.inserted, result.duplicates) == (5, 2, 3)
    assert [text for _, text, _ in stored(dataset)] == ["Same text here", "Cafe\u0301"]


def test_rows_already_in_the_dataset_are_counted_as_duplicates(db):
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset, text="Already here")
    data = b"text\nAlready here\nNew one\n"

    result = import_records(dataset=dataset, source=io.BytesIO(data), filename="again.csv", user=None)

    assert (result.inserted, result.duplicates) == (1, 1)
    assert Record.objects.filter(dataset=dataset).count() == 2


def test_importing_the_same_file_twice_inserts_nothing_the_second_time(db):
    dataset = DatasetFactory()
    import_sample(dataset, "reviews.csv")

    second = import_sample(dataset, "reviews.csv")

    assert second.ok
    assert (second.inserted, second.duplicates) == (0, 8)


def test_same_text_in_another_dataset_is_not_a_duplicate(db):
    other = DatasetFactory()
    import_sample(other, "reviews.csv")

    result = import_sample(DatasetFactory(), "reviews.csv")

    assert result.inserted == 8


def test_text_field_can_be_chosen(db):
    dataset = DatasetFactory()
    data = b"body_text,ref\nChosen column,7\n"

    result = import_records(
        dataset=dataset, source=io.BytesIO(data), filename="x.csv", user=None, text_field="body_text", id_field="ref"
    )

    assert result.ok, result.errors
    assert stored(dataset) == [("7", "Chosen column", {})]


def test_format_can_be_named_instead_of_detected(db):
    # A JSON Lines file under a .txt name: detection by extension would call it CSV.
    dataset = DatasetFactory()

    result = import_records(
        dataset=dataset, source=io.BytesIO(b'{"text": "named format"}\n'), filename="export.txt", fmt="jsonl"
    )

    assert result.ok, result.errors
    assert stored(dataset) == [("", "named format", {})]


def test_labels_in_a_plain_file_stay_in_meta_without_a_label_writer(db):
    dataset = DatasetFactory()

    result = import_records(dataset=dataset, source=io.BytesIO(b"text,label\nnice,pos\n"), filename="l.csv")

    assert result.ok
    assert stored(dataset) == [("", "nice", {"label": "pos"})]


def test_csv_round_trip_of_awkward_texts(db):
    # Given texts with every CSV hazard, written by the csv module
    texts = ['a "quoted" word', "line\nbreak", "cr\rlf\r\n", "tab\there", "back\\slash", ",leading comma", "\u00a0nbsp"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text"])
    writer.writerows([t] for t in texts)
    dataset = DatasetFactory()

    result = import_records(dataset=dataset, source=io.BytesIO(buffer.getvalue().encode()), filename="hazards.csv")

    assert result.ok, result.errors
    assert [text for _, text, _ in stored(dataset)] == texts
