"""The demo dataset `make run` loads: real WordNet text, its schema and some imported labels."""

import csv

from corpus.models import Record
from labeling.models import Annotation, Label
from labeling.services.demo import DEMO_FILE, IMPORTED_EVERY, load_demo_dataset
from tests.factories import UserFactory


def test_demo_loads_every_row_with_its_label_as_an_imported_annotation(db):
    admin = UserFactory(is_superuser=True)
    with DEMO_FILE.open(newline="", encoding="utf-8") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}

    result = load_demo_dataset(members=[admin])

    records = Record.objects.filter(dataset=result.dataset)
    assert result.created and result.records == len(rows) == records.count() == 4000
    assert {r.external_id: r.text for r in records} == {key: row["text"] for key, row in rows.items()}
    assert set(Label.objects.filter(schema__dataset=result.dataset).values_list("hotkey", flat=True)) == set("12345678")
    imported = Annotation.objects.filter(record__dataset=result.dataset)
    assert imported.count() == result.imported_annotations == -(-len(rows) // IMPORTED_EVERY)
    assert not imported.filter(annotator__isnull=False).exists()  # never passed off as a person's
    for annotation in imported.select_related("record").prefetch_related("labels")[:200]:
        assert [label.name for label in annotation.labels.all()] == [rows[annotation.record.external_id]["label"]]
    assert list(result.dataset.members.all()) == [admin]


def test_loading_the_demo_twice_changes_nothing(db):
    load_demo_dataset()

    again = load_demo_dataset()

    assert not again.created
    assert Record.objects.count() == 4000
