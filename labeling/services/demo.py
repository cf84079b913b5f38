"""The demo dataset: 4,000 WordNet 3.0 noun glosses labeled with their semantic class.

Source: Princeton WordNet 3.0 (Debian package wordnet-base), WordNet 3.0 licence (permissive,
see labeling/demo/LICENSE-WordNet.txt). How the file was made: labeling/demo/build_wordnet_demo.py.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from corpus.models import Dataset, Membership, Record
from corpus.text import content_hash
from labeling.models import Annotation, Label, LabelSchema

DEMO_FILE = Path(__file__).resolve().parent.parent / "demo" / "wordnet_semantic_classes.csv"
DEMO_NAME = "WordNet noun classes (demo)"
# One record in three arrives with WordNet's own label as an imported annotation; the rest is
# left for people to label.
IMPORTED_EVERY = 3

LABELS = [
    # name, hotkey, colour, description
    ("animal", "1", "#f97316", "Animals: mammals, birds, fish, insects and other creatures."),
    ("artifact", "2", "#6366f1", "Things made by people: tools, devices, buildings, clothing, vehicles."),
    ("body", "3", "#ec4899", "Parts of the body and bodily structures."),
    ("food", "4", "#eab308", "Foods and drinks, dishes and ingredients."),
    ("location", "5", "#14b8a6", "Places: regions, countries, cities, spatial positions."),
    ("person", "6", "#8b5cf6", "People: roles, occupations, named and kinds of persons."),
    ("plant", "7", "#22c55e", "Plants, trees, flowers, fungi and their parts."),
    ("substance", "8", "#64748b", "Substances and materials: chemicals, minerals, fluids."),
]

INSTRUCTIONS = """\
Read the dictionary entry and choose **what kind of thing** the word names.

- Pick the class of the *thing itself*: "a dish made of rice" is **food**, "a pot for rice" is **artifact**.
- Plant parts used as food (fruit, nuts) are **food** when the gloss talks about eating them, otherwise **plant**.
- Use *unsure* when the gloss fits two classes equally well.
"""


@dataclass(frozen=True)
class DemoResult:
    dataset: Dataset
    created: bool
    records: int
    imported_annotations: int


@transaction.atomic
def load_demo_dataset(*, members=()) -> DemoResult:
    """Create the demo dataset with its schema, records and imported labels; if it exists
    already, leave it as it is. `members` are added to it either way."""
    dataset, created = Dataset.objects.get_or_create(
        name=DEMO_NAME,
        defaults={
            "description": (
                "Noun definitions from Princeton WordNet 3.0, each labeled with the semantic class "
                "WordNet's lexicographers gave it. WordNet 3.0 Copyright 2006 by Princeton University, "
                "used under the WordNet 3.0 licence."
            ),
            "instructions": INSTRUCTIONS,
        },
    )
    for user in members:
        Membership.objects.get_or_create(dataset=dataset, user=user)
    if not created:
        return DemoResult(dataset=dataset, created=False, records=dataset.records.count(), imported_annotations=0)

    schema = LabelSchema.objects.create(dataset=dataset, name="Semantic class", kind=LabelSchema.Kind.SINGLE)
    labels = {
        name: Label.objects.create(
            schema=schema, name=name, hotkey=hotkey, color=color, description=description, order=order
        )
        for order, (name, hotkey, color, description) in enumerate(LABELS)
    }
    with DEMO_FILE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    records = Record.objects.bulk_create(
        Record(
            dataset=dataset,
            text=row["text"],
            external_id=row["id"],
            content_hash=content_hash(row["text"]),
            meta={"source": "WordNet 3.0", "wordnet_class": f"noun.{row['label']}"},
        )
        for row in rows
    )
    imported = Annotation.objects.bulk_create(
        Annotation(record=record, schema=schema, source=Annotation.Source.IMPORTED)
        for index, record in enumerate(records)
        if index % IMPORTED_EVERY == 0
    )
    label_of = {record.pk: labels[row["label"]] for record, row in zip(records, rows, strict=True)}
    Annotation.labels.through.objects.bulk_create(
        Annotation.labels.through(annotation_id=annotation.pk, label_id=label_of[annotation.record_id].pk)
        for annotation in imported
    )
    return DemoResult(dataset=dataset, created=True, records=len(records), imported_annotations=len(imported))
