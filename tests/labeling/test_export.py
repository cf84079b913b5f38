"""Exporting a dataset: every format imports again unchanged through Tally's own importers, the
labels are the final ones (or the imported ones while nothing is decided), the filters select
what they say, splits keep duplicates together, and records are read in batches."""

import csv
import gc
import io
import json
import zipfile
from datetime import date, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.formats.writers import FORMATS
from corpus.models import Record
from corpus.text import content_hash
from labeling.models import Annotation, LabelSchema, Prediction, RecordState
from labeling.services import export as export_service
from labeling.services import splits
from labeling.services.export import ExportError, ExportOptions, export_records, parse_split
from labeling.services.import_labeled import import_labeled
from labeling.services.queue import prepare_queue
from labeling.services.review import set_final_labels
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    DocumentFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
    UserFactory,
)

SOURCE_ROWS = [
    {"id": "h-1", "text": "The room was spotless.", "label": "positive", "hotel": "Seaview"},
    {"id": "h-2", "text": 'Noisy at night, "thin walls".\nNever again.', "label": "negative", "hotel": "Dune"},
    {"id": "h-3", "text": "=1+1 is what the bill said", "label": "negative", "hotel": "Seaview"},
    {"id": "h-4", "text": "Breakfast: 10/10", "hotel": "Lagoon"},
    {"id": "h-5", "text": "Friendly staff, slow lifts.", "label": "positive", "hotel": "Dune"},
]


def imported_dataset(rows=SOURCE_ROWS, **options):
    dataset = DatasetFactory(**options)
    data = "\n".join(json.dumps(row) for row in rows).encode()
    result = import_labeled(dataset=dataset, source=io.BytesIO(data), filename="hotels.jsonl")
    assert result.ok, result.errors
    return dataset


def export(dataset, **options) -> tuple[bytes, object]:
    out = io.BytesIO()
    report = export_records(dataset=dataset, options=ExportOptions(**options), out=out)
    return out.getvalue(), report


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def snapshot(dataset) -> dict[str, tuple]:
    """external id -> (text, meta, label names) as stored, labels from the imported annotations."""
    labels = {}
    for annotation in Annotation.objects.filter(record__dataset=dataset).prefetch_related("labels"):
        labels[annotation.record_id] = sorted(label.name for label in annotation.labels.all())
    return {
        record.external_id: (record.text, record.meta, labels.get(record.pk))
        for record in Record.objects.filter(dataset=dataset)
    }


def reimport(data: bytes, filename: str, **options):
    copy = DatasetFactory()
    result = import_labeled(dataset=copy, source=io.BytesIO(data), filename=filename, **options)
    assert result.ok, result.errors
    return copy


# --- Round trips through Tally's importers -------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "doccano", "labelstudio", "argilla"])
def test_a_json_export_imports_again_unchanged(db, fmt):
    dataset = imported_dataset()

    data, report = export(dataset, fmt=fmt)

    copy = reimport(data, f"export.{FORMATS[fmt].extension}")
    assert snapshot(copy) == snapshot(dataset)
    assert report.rows == len(SOURCE_ROWS)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_table_export_without_escaping_imports_again_unchanged(db, fmt):
    dataset = imported_dataset()

    data, _ = export(dataset, fmt=fmt, escape_formulas=False)

    copy = reimport(data, f"export.{fmt}")
    assert snapshot(copy) == snapshot(dataset)


def test_a_prodigy_export_imports_again_with_the_same_texts_ids_and_labels(db):
    dataset = imported_dataset()

    data, _ = export(dataset, fmt="prodigy")

    copy = reimport(data, "export.jsonl", fmt="prodigy")
    # Prodigy's reader adds each task's answer to meta; texts, ids and labels are as they were.
    assert {key: (text, labels) for key, (text, _, labels) in snapshot(copy).items()} == {
        key: (text, labels) for key, (text, _, labels) in snapshot(dataset).items()
    }


def test_a_hugging_face_export_imports_again_split_by_split(db):
    dataset = imported_dataset()

    data, report = export(dataset, fmt="hf", split=(60, 20, 20))

    archive = zipfile.ZipFile(io.BytesIO(data))
    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["label_names"] == ["negative", "positive"]  # the label set's order (the import added them so)
    assert metadata["splits"] == report.splits
    merged = {}
    for split in ("train", "validation", "test"):
        if report.splits[split]:  # a split of a 5-record dataset may be empty (its file too)
            merged |= snapshot(reimport(archive.read(f"{split}.jsonl"), f"{split}.jsonl"))
    assert merged == snapshot(dataset)


def test_a_label_studio_export_carries_predictions_that_import_again(db):
    dataset = imported_dataset()
    schema = LabelSchema.objects.get(dataset=dataset)
    record = Record.objects.get(dataset=dataset, external_id="h-4")
    PredictionFactory(record=record, schema=schema, label=schema.labels.get(name="positive"), score=0.83)

    data, _ = export(dataset, fmt="labelstudio", predictions=True)

    copy = reimport(data, "tasks.json")
    predictions = Prediction.objects.filter(record__dataset=copy).select_related("record", "label")
    assert [(p.record.external_id, p.label.name, p.score, p.model_version) for p in predictions] == [
        ("h-4", "positive", 0.83, "test-model v1")
    ]


# --- Which labels ----------------------------------------------------------------------------


def reviewed(dataset, external_id: str, label_name: str):
    schema = LabelSchema.objects.get(dataset=dataset)
    prepare_queue(schema=schema)
    record = Record.objects.get(dataset=dataset, external_id=external_id)
    set_final_labels(
        schema=schema, record_ids=[record.pk], label_ids=[schema.labels.get(name=label_name).pk], user=None
    )
    return record


def test_a_final_label_wins_over_the_imported_one(db):
    dataset = imported_dataset()
    reviewed(dataset, "h-1", "negative")

    data, _ = export(dataset, fmt="jsonl")

    labels = {row["id"]: row["label"] for row in jsonl(data)}
    assert labels == {"h-1": "negative", "h-2": "negative", "h-3": "negative", "h-4": None, "h-5": "positive"}


def test_every_annotation_is_listed_with_its_author_when_asked(db):
    dataset = imported_dataset()
    schema = LabelSchema.objects.get(dataset=dataset)
    record = Record.objects.get(dataset=dataset, external_id="h-4")
    alice = UserFactory(username="alice")
    AnnotationFactory(record=record, schema=schema, annotator=alice, labels=[schema.labels.get(name="positive")])

    data, _ = export(dataset, fmt="jsonl", annotations="all", record_ids=[record.pk])

    (row,) = jsonl(data)
    assert [(a["annotator"], a["source"], a["labels"]) for a in row["annotations"]] == [
        ("alice", "human", ["positive"])
    ]


def test_final_labels_only_leaves_annotations_out(db):
    dataset = imported_dataset()

    data, _ = export(dataset, fmt="jsonl")

    assert all("annotations" not in row and "predictions" not in row for row in jsonl(data))


def test_provenance_names_the_document_page_and_chunk(db):
    dataset = DatasetFactory()
    document = DocumentFactory(dataset=dataset, original_name="report.pdf")
    RecordFactory(dataset=dataset, text="Chunk two of the report.", document=document, position=1, page=3,
                  char_start=100, char_end=124)  # fmt: skip

    data, _ = export(dataset, fmt="jsonl", provenance=True)

    (row,) = jsonl(data)
    assert {key: row["provenance"][key] for key in ("document", "page", "chunk", "char_start", "char_end")} == {
        "document": "report.pdf",
        "page": 3,
        "chunk": 1,
        "char_start": 100,
        "char_end": 124,
    }


def test_a_dataset_without_label_sets_exports_its_texts(db):
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset, text="Just text", external_id="t1", meta={"k": "v"})

    data, _ = export(dataset, fmt="jsonl")

    assert jsonl(data) == [{"id": "t1", "text": "Just text", "label": None, "k": "v"}]


# --- Spreadsheets --------------------------------------------------------------------------------


def test_csv_export_escapes_formulas_and_leaves_the_stored_text_alone(db):
    dataset = imported_dataset()

    data, _ = export(dataset, fmt="csv")

    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert {row["id"]: row["text"] for row in rows}["h-3"] == "'=1+1 is what the bill said"
    assert Record.objects.get(dataset=dataset, external_id="h-3").text == "=1+1 is what the bill said"


def test_xlsx_export_escapes_formulas(db):
    import openpyxl

    dataset = imported_dataset()

    data, _ = export(dataset, fmt="xlsx")

    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    texts = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert texts["h-3"] == "'=1+1 is what the bill said"


# --- Filters -------------------------------------------------------------------------------------


def exported_ids(dataset, **options) -> list[str]:
    data, _ = export(dataset, fmt="jsonl", **options)
    return sorted(row["id"] for row in jsonl(data))


def test_status_filter_takes_only_records_in_those_statuses(db):
    dataset = imported_dataset()
    reviewed(dataset, "h-2", "negative")

    assert exported_ids(dataset, statuses=["reviewed", "gold"]) == ["h-2"]
    assert exported_ids(dataset, statuses=["unlabeled"]) == ["h-1", "h-3", "h-4", "h-5"]


def test_label_filter_takes_only_records_with_those_labels(db):
    dataset = imported_dataset()
    negative = LabelSchema.objects.get(dataset=dataset).labels.get(name="negative")

    assert exported_ids(dataset, label_ids=[negative.pk]) == ["h-2", "h-3"]


def agreement_dataset():
    """a: two annotators agree; b: two disagree; c: two of three agree; d: one annotator."""
    dataset = DatasetFactory()
    schema = LabelSchemaFactory(dataset=dataset)
    yes, no = LabelFactory(schema=schema, name="yes"), LabelFactory(schema=schema, name="no")
    people = [UserFactory() for _ in range(3)]
    answers = {"a": [yes, yes], "b": [yes, no], "c": [yes, yes, no], "d": [no]}
    for name, labels in answers.items():
        record = RecordFactory(dataset=dataset, external_id=name, text=f"record {name}")
        for person, label in zip(people, labels, strict=False):
            AnnotationFactory(record=record, schema=schema, annotator=person, labels=[label])
    return dataset, people


def test_minimum_agreement_takes_records_whose_annotator_pairs_agree_enough(db):
    dataset, _ = agreement_dataset()

    assert exported_ids(dataset, min_agreement=0.5) == ["a"]  # c: 1 of 3 pairs agree
    assert exported_ids(dataset, min_agreement=0.3) == ["a", "c"]
    assert exported_ids(dataset, min_agreement=0) == ["a", "b", "c"]  # d has no pair to agree


def test_annotator_filter_takes_records_that_person_annotated(db):
    dataset, people = agreement_dataset()

    assert exported_ids(dataset, annotator_ids=[people[2].pk]) == ["c"]


def test_date_range_takes_records_annotated_within_it(db):
    dataset, _ = agreement_dataset()
    Annotation.objects.filter(record__external_id="b").update(created_at=timezone.now() - timedelta(days=10))
    today = timezone.localdate()

    assert exported_ids(dataset, date_from=today) == ["a", "c", "d"]
    assert exported_ids(dataset, date_to=today - timedelta(days=5)) == ["b"]
    assert exported_ids(dataset, date_from=today - timedelta(days=10), date_to=today - timedelta(days=10)) == ["b"]


def test_a_selection_exports_only_the_selected_records_of_the_dataset(db):
    dataset = imported_dataset()
    other = RecordFactory()  # another dataset's record: never exported from this one
    chosen = Record.objects.get(dataset=dataset, external_id="h-2")

    assert exported_ids(dataset, record_ids=[chosen.pk, other.pk]) == ["h-2"]


# --- Splits --------------------------------------------------------------------------------------


def many_records(dataset, n: int, *, labels=None):
    schema = LabelSchemaFactory(dataset=dataset)
    names = labels or ["positive", "negative"]
    label_objects = [LabelFactory(schema=schema, name=name) for name in names]
    records = [RecordFactory(dataset=dataset, text=f"review number {i}", external_id=f"r{i}") for i in range(n)]
    for i, record in enumerate(records):
        Annotation.objects.create(record=record, schema=schema, source="imported").labels.set(
            [label_objects[i % len(label_objects)]]
        )
    return schema, records


def splits_of(data: bytes) -> dict[str, str]:
    return {row["id"]: row["split"] for row in jsonl(data)}


def test_the_same_seed_exports_the_same_split(db):
    dataset = DatasetFactory()
    many_records(dataset, 60)

    first, _ = export(dataset, fmt="jsonl", split=(80, 10, 10), seed=3)
    second, _ = export(dataset, fmt="jsonl", split=(80, 10, 10), seed=3)
    third, _ = export(dataset, fmt="jsonl", split=(80, 10, 10), seed=4)

    assert splits_of(first) == splits_of(second)
    assert splits_of(first) != splits_of(third)


def test_the_report_counts_rows_per_split_stratified_by_label(db):
    dataset = DatasetFactory()
    many_records(dataset, 100)

    data, report = export(dataset, fmt="jsonl", split=(80, 10, 10))

    assert report.splits == {"train": 80, "validation": 10, "test": 10}
    rows = jsonl(data)
    for label in ("positive", "negative"):
        counted = {
            split: sum(1 for r in rows if r["label"] == label and r["split"] == split) for split in report.splits
        }
        assert counted == {"train": 40, "validation": 5, "test": 5}


def test_texts_equal_but_for_case_and_punctuation_share_a_split(db):
    dataset = DatasetFactory()
    many_records(dataset, 40)
    RecordFactory(dataset=dataset, text="Great food, friendly staff!", external_id="twin-1")
    RecordFactory(dataset=dataset, text="great food friendly staff", external_id="twin-2")

    for seed in range(8):
        data, report = export(dataset, fmt="jsonl", split=(50, 25, 25), seed=seed)
        splits = splits_of(data)
        assert splits["twin-1"] == splits["twin-2"]
    assert report.groups["exact"] == 1


def test_the_chunks_of_a_document_share_a_split(db):
    dataset = DatasetFactory()
    many_records(dataset, 30)
    document = DocumentFactory(dataset=dataset)
    for position in range(6):
        RecordFactory(dataset=dataset, document=document, position=position, external_id=f"chunk-{position}")

    for seed in range(5):
        data, report = export(dataset, fmt="jsonl", split=(34, 33, 33), seed=seed)
        splits = splits_of(data)
        assert len({splits[f"chunk-{position}"] for position in range(6)}) == 1
    assert report.groups["document"] == 1


def embed(record, vector, model="test-model"):
    Record.objects.filter(pk=record.pk).update(
        embedding=list(vector), embedding_model=model, embedding_hash=record.content_hash
    )


def test_near_duplicates_share_a_split_when_the_records_have_embeddings(db):
    dataset = DatasetFactory()
    _, records = many_records(dataset, 40)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 384)).astype(np.float32)
    vectors[7] = vectors[3] + rng.normal(scale=0.01, size=384)  # record 7 says what record 3 says
    for record, vector in zip(records, vectors, strict=True):
        embed(record, vector / np.linalg.norm(vector))

    for seed in range(6):
        data, report = export(dataset, fmt="jsonl", split=(50, 25, 25), seed=seed, near_duplicate_threshold=0.95)
        splits = splits_of(data)
        assert splits["r3"] == splits["r7"]
    assert report.groups["near"] == 1
    assert report.near_duplicates["model"] == "test-model"
    assert report.near_duplicates["records_checked"] == 40


def test_near_duplicates_are_reported_unchecked_without_embeddings(db):
    dataset = DatasetFactory()
    many_records(dataset, 10)

    _, report = export(dataset, fmt="jsonl", split=(80, 10, 10), near_duplicate_threshold=0.9)

    assert report.near_duplicates["skipped"] == "the records have no embeddings"
    assert report.rows == 10


def test_records_deleted_between_planning_and_writing_are_left_out_and_counted(db, monkeypatch):
    dataset = DatasetFactory()
    _, records = many_records(dataset, 20)
    planned = export_service.assign_splits

    def plan_then_delete(**kwargs):
        plan = planned(**kwargs)
        Record.objects.filter(pk=records[5].pk).delete()
        return plan

    monkeypatch.setattr(export_service, "assign_splits", plan_then_delete)

    data, report = export(dataset, fmt="jsonl", split=(80, 10, 10))

    assert report.skipped == 1
    assert report.rows == 19 == len(jsonl(data))


# --- Streaming -----------------------------------------------------------------------------------


def test_records_are_read_in_keyset_batches_never_all_at_once(db, monkeypatch):
    dataset = DatasetFactory()
    for i in range(35):
        RecordFactory(dataset=dataset, text=f"text {i}")
    monkeypatch.setattr(export_service, "BATCH_SIZE", 10)

    with CaptureQueriesContext(connection) as queries:
        data, _ = export(dataset, fmt="jsonl")

    reads = [q["sql"] for q in queries.captured_queries if "r.text" in q["sql"] and "FROM corpus_record r" in q["sql"]]
    assert len(reads) == 4  # 10 + 10 + 10 + 5
    assert all("LIMIT 10" in sql for sql in reads)
    assert len(jsonl(data)) == 35


def test_progress_is_reported_with_the_total(db):
    dataset = DatasetFactory()
    for i in range(5):
        RecordFactory(dataset=dataset, text=f"text {i}")
    calls = []

    export_records(dataset=dataset, options=ExportOptions(), out=io.BytesIO(), progress=lambda **kw: calls.append(kw))

    assert calls[0] == {"done": 0, "total": 5}
    assert calls[-1] == {"done": 5, "total": 5}


# --- Options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"fmt": "parquet"}, "fmt"),
        ({"annotations": "some"}, "annotations"),
        ({"statuses": ["done"]}, "statuses"),
        ({"min_agreement": 1.5}, "min_agreement"),
        ({"split": (80, -10, 30)}, "split"),
        ({"split": (0, 0, 0)}, "split"),
        ({"near_duplicate_threshold": 0.9}, "near_duplicate_threshold"),
        ({"date_from": date(2025, 2, 1), "date_to": date(2025, 1, 1)}, "date_to"),
    ],
)
def test_options_that_make_no_export_are_refused_with_the_option_named(db, options, field):
    dataset = imported_dataset()

    with pytest.raises(ExportError) as refused:
        export(dataset, **options)

    assert refused.value.field == field


def test_a_label_set_or_labels_of_another_dataset_are_refused(db):
    dataset = imported_dataset()
    elsewhere = LabelFactory()

    with pytest.raises(ExportError) as schema_refused:
        export(dataset, schema_id=elsewhere.schema_id)
    with pytest.raises(ExportError) as labels_refused:
        export(dataset, label_ids=[elsewhere.pk])

    assert schema_refused.value.field == "schema_id"
    assert labels_refused.value.field == "label_ids"


@pytest.mark.parametrize(
    ("text", "split"), [("80/10/10", (80, 10, 10)), ("80/20", (80, 0, 20)), ("70, 15, 15", (70, 15, 15)), ("", None)]
)
def test_splits_are_written_as_two_or_three_numbers(text, split):
    assert parse_split(text) == split


@pytest.mark.parametrize("text", ["80", "a/b/c", "0/0/0", "-1/50/51", "10/10/10/70"])
def test_other_split_texts_are_refused(text):
    with pytest.raises(ExportError):
        parse_split(text)


def test_options_survive_a_job_s_params(db):
    options = ExportOptions(
        fmt="csv", split=(80, 10, 10), date_from=date(2025, 1, 2), statuses=["gold"], record_ids=[1, 2]
    )

    again = ExportOptions.from_params(json.loads(json.dumps(options.to_params())))

    assert again == options


def test_a_record_with_no_state_counts_as_unlabeled(db):
    dataset = imported_dataset()
    assert not RecordState.objects.filter(record__dataset=dataset).exists()

    assert len(exported_ids(dataset, statuses=["unlabeled"])) == len(SOURCE_ROWS)


def test_the_same_texts_and_seed_split_the_same_way_in_another_dataset(db):
    # The order of a split follows the texts (their content hashes), never the record ids.
    first, second = DatasetFactory(), DatasetFactory()
    for i in range(40):
        RecordFactory(dataset=first, text=f"shared text {i}", external_id=f"t{i}")
    for i in reversed(range(40)):  # imported in the other order: other ids, other id order
        RecordFactory(dataset=second, text=f"shared text {i}", external_id=f"t{i}")

    one, _ = export(first, fmt="jsonl", split=(50, 25, 25), seed=9)
    two, _ = export(second, fmt="jsonl", split=(50, 25, 25), seed=9)

    assert splits_of(one) == splits_of(two)


def test_an_export_leaves_the_garbage_collector_as_it_found_it(db):
    dataset = imported_dataset()
    gc.unfreeze()

    export(dataset, fmt="jsonl")
    after_unfrozen = gc.get_freeze_count()
    gc.freeze()  # as config/wsgi.py does at start
    export(dataset, fmt="jsonl")
    after_frozen = gc.get_freeze_count()
    gc.unfreeze()

    assert after_unfrozen == 0
    assert after_frozen > 0  # the process's own freeze is never undone by an export


@pytest.mark.django_db(transaction=True)
def test_near_duplicates_are_searched_by_several_connections_outside_a_transaction(monkeypatch):
    # Committed data (no test transaction): the search runs in threads on connections of their own.
    monkeypatch.setattr(splits, "NEAR_WORKERS", 2)
    monkeypatch.setattr(splits, "NEAR_BATCH", 8)
    dataset = DatasetFactory()
    _, records = many_records(dataset, 40)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 384)).astype(np.float32)
    vectors[9] = vectors[2] + rng.normal(scale=0.01, size=384)
    for record, vector in zip(records, vectors, strict=True):
        embed(record, vector / np.linalg.norm(vector))

    data, report = export(dataset, fmt="jsonl", split=(50, 25, 25), near_duplicate_threshold=0.95)

    assert report.near_duplicates["records_checked"] == 40
    assert report.groups["near"] == 1
    assert splits_of(data)["r2"] == splits_of(data)["r9"]


# --- Any text survives import and export (property) ----------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(ANY_TEXT.filter(str.strip), min_size=1, max_size=4, unique_by=content_hash))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_any_unicode_text_comes_back_byte_for_byte_after_import_and_export(db, fmt, texts):
    # Given distinct texts of any kind (newlines, CR, quotes, tabs, backslashes, emoji, formula signs)
    rows = [{"id": f"r{n}", "text": text} for n, text in enumerate(texts)]
    source = "\n".join(json.dumps(row) for row in rows).encode()
    dataset = DatasetFactory()
    assert import_labeled(dataset=dataset, source=io.BytesIO(source), filename="any.jsonl").ok

    # When exported (tables without formula escaping: the data as stored) and read back
    data, report = export(dataset, fmt=fmt, escape_formulas=False)
    if fmt == "jsonl":
        exported = {row["id"]: row["text"] for row in jsonl(data)}
    else:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        exported = {row["id"]: row["text"] for row in reader}

    # Then every text is exactly what the file held, and the stored text too
    assert exported == {row["id"]: row["text"] for row in rows}
    assert set(Record.objects.filter(dataset=dataset).values_list("text", flat=True)) == set(texts)
    assert report.rows == len(texts)
