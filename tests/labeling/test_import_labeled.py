"""Importing other tools' exports: records, their labels as imported annotations and their
predictions, all in one transaction."""

import io
import json
from pathlib import Path

import pytest

from corpus.models import Record
from labeling.models import Annotation, Label, LabelSchema, Prediction
from labeling.services.import_labeled import import_labeled
from tests.factories import DatasetFactory, LabelFactory, LabelSchemaFactory

SAMPLES = Path(__file__).parent.parent / "corpus" / "samples"


def import_sample(dataset, name: str, **options):
    with (SAMPLES / name).open("rb") as source:
        return import_labeled(dataset=dataset, source=source, filename=name, **options)


def labels_by_id(dataset) -> dict[str, list[str]]:
    """external id -> sorted label names of the record's imported annotation."""
    found = {}
    for annotation in Annotation.objects.filter(record__dataset=dataset).select_related("record"):
        assert annotation.source == Annotation.Source.IMPORTED
        assert annotation.annotator is None
        found[annotation.record.external_id] = sorted(annotation.labels.values_list("name", flat=True))
    return found


def texts_by_id(dataset) -> dict[str, str]:
    return dict(Record.objects.filter(dataset=dataset).values_list("external_id", "text"))


def test_doccano_export_arrives_with_its_labels(db):
    dataset = DatasetFactory()
    lines = [json.loads(line) for line in (SAMPLES / "doccano.jsonl").read_text().splitlines()]

    result = import_sample(dataset, "doccano.jsonl")

    assert result.ok, result.errors
    assert result.shape == "doccano"
    assert texts_by_id(dataset) == {str(line["id"]): line["text"] for line in lines}
    assert labels_by_id(dataset) == {str(line["id"]): sorted(line["label"]) for line in lines if line["label"]}
    assert result.annotations == 4
    schema = LabelSchema.objects.get(dataset=dataset)
    assert schema.kind == LabelSchema.Kind.MULTI  # a row carries two labels
    assert sorted(schema.labels.values_list("name", flat=True)) == ["account", "billing", "complaint"]
    assert result.labels_added == ["account", "billing", "complaint"]


def test_label_studio_tasks_arrive_with_annotations_and_predictions(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "labelstudio.json")

    assert result.ok, result.errors
    assert result.shape == "labelstudio"
    assert texts_by_id(dataset) == {
        "1": "The hotel room was spotless.",
        "2": 'Noisy at night, "thin walls".',
        "3": "Breakfast: 10/10\nPool: closed",
    }
    # The cancelled annotation of task 2 does not count; task 3 has none.
    assert labels_by_id(dataset) == {"1": ["positive"], "2": ["negative"]}
    predictions = {
        (p.record.external_id, p.label.name, p.score, p.model_version, p.source)
        for p in Prediction.objects.filter(record__dataset=dataset).select_related("record", "label")
    }
    assert predictions == {
        ("1", "positive", 0.93, "sentiment-v2", "imported"),
        ("2", "neutral", 0.61, "sentiment-v2", "imported"),
    }
    assert Record.objects.get(dataset=dataset, external_id="1").meta == {"hotel": "Seaview"}


def test_argilla_records_arrive_with_submitted_responses_and_suggestions(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "argilla.jsonl", label_field="topic")

    assert result.ok, result.errors
    assert result.shape == "argilla"
    assert texts_by_id(dataset) == {
        "arg-1": "Can I pay with PayPal?",
        "arg-2": "My parcel is lost 😟",
        "arg-3": "=cmd|' /C calc'!A0",
    }
    # arg-2's response was discarded: no annotation.
    assert labels_by_id(dataset) == {"arg-1": ["payment"], "arg-3": ["other"]}
    assert sorted(
        Prediction.objects.filter(record__dataset=dataset).values_list("record__external_id", "label__name", "score")
    ) == [("arg-1", "payment", 0.88), ("arg-2", "shipping", 0.71)]
    assert Record.objects.get(dataset=dataset, external_id="arg-1").meta == {"channel": "chat"}


def test_prodigy_answers_become_labels_only_when_accepted(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "prodigy.jsonl")

    assert result.ok, result.errors
    assert result.shape == "prodigy"
    assert texts_by_id(dataset) == {
        "p1": "Apple unveils a new laptop.",
        "p2": "The striker scored twice.",
        "p3": "Parliament passed the budget.",
        "p4": "Unclear headline…",
    }
    assert labels_by_id(dataset) == {"p1": ["TECH"], "p3": ["POLITICS"]}
    assert Record.objects.get(dataset=dataset, external_id="p2").meta == {
        "id": "p2",
        "source": "news",
        "answer": "reject",
    }


def test_hugging_face_class_indexes_are_named_by_label_names(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "huggingface.jsonl", label_names=("neg", "pos"))

    assert result.ok, result.errors
    assert result.shape == "huggingface"
    annotations = {
        a.record.text: [label.name for label in a.labels.all()]
        for a in Annotation.objects.filter(record__dataset=dataset).select_related("record")
    }
    assert annotations == {
        "a gripping, beautifully shot film": ["pos"],
        "two hours I will never get back": ["neg"],
        "the plot <em>twists</em> are predictable": ["neg"],
        '"Best of the year" — and I agree': ["pos"],
    }


def test_hugging_face_index_without_label_names_is_an_error(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "huggingface.jsonl")

    assert str(result.errors[0]) == (
        "huggingface.jsonl, line 1, field “label”: class index 1 but no label names were given"
    )
    assert not Record.objects.filter(dataset=dataset).exists()


def test_hugging_face_csv_uses_label_text(db):
    dataset = DatasetFactory()

    result = import_sample(dataset, "huggingface.csv")

    assert result.ok, result.errors
    assert result.shape == "huggingface"
    assert sorted(Annotation.objects.filter(record__dataset=dataset).values_list("record__text", "labels__name")) == [
        ("a warm, funny story", "pos"),
        ("dull and long", "neg"),
    ]
    assert Record.objects.get(dataset=dataset, text="dull and long").meta == {}


def test_labels_missing_from_the_schema_are_reported_when_asked(db):
    dataset = DatasetFactory()
    schema = LabelSchemaFactory(dataset=dataset, kind=LabelSchema.Kind.MULTI)
    LabelFactory(schema=schema, name="billing")

    result = import_sample(dataset, "doccano.jsonl", add_missing_labels=False)

    assert [str(error) for error in result.errors] == [
        f"doccano.jsonl, line {n}, field “label”: the label “{name}” is not in the schema “{schema.name}”"
        for n, name in [(1, "complaint"), (2, "account"), (4, "complaint")]
    ]
    assert not Record.objects.filter(dataset=dataset).exists()
    assert list(schema.labels.values_list("name", flat=True)) == ["billing"]


def test_two_labels_for_a_single_label_schema_is_an_error(db):
    dataset = DatasetFactory()
    LabelSchemaFactory(dataset=dataset, name="Topic", kind=LabelSchema.Kind.SINGLE)

    result = import_sample(dataset, "doccano.jsonl")

    assert (
        str(result.errors[0])
        == "doccano.jsonl, line 1, field “label”: the schema “Topic” takes one label; the row has 2"
    )
    assert not Record.objects.filter(dataset=dataset).exists()
    assert not Label.objects.filter(schema__dataset=dataset).exists()


def test_several_schemas_need_a_choice(db):
    dataset = DatasetFactory()
    LabelSchemaFactory(dataset=dataset, name="Topic")
    chosen = LabelSchemaFactory(dataset=dataset, name="Urgency", kind=LabelSchema.Kind.MULTI)

    refused = import_sample(dataset, "doccano.jsonl")
    accepted = import_sample(dataset, "doccano.jsonl", schema=chosen)

    assert "several label schemas (Topic, Urgency)" in str(refused.errors[0])
    assert accepted.ok and accepted.annotations == 4
    assert set(Annotation.objects.filter(record__dataset=dataset).values_list("schema", flat=True)) == {chosen.pk}


def test_reimporting_a_labeled_file_keeps_one_imported_annotation_per_record(db):
    dataset = DatasetFactory()
    import_sample(dataset, "doccano.jsonl")

    second = import_sample(dataset, "doccano.jsonl")

    assert second.ok
    assert (second.inserted, second.duplicates, second.annotations) == (0, 5, 0)
    assert Annotation.objects.filter(record__dataset=dataset).count() == 4


def test_labels_attach_to_records_already_in_the_dataset(db):
    # Given the texts imported without labels first
    dataset = DatasetFactory()
    unlabeled = "\n".join(json.dumps({"text": t}) for t in ["The refund never arrived.", "Other"]).encode()
    import_labeled(dataset=dataset, source=io.BytesIO(unlabeled), filename="plain.jsonl")

    result = import_sample(dataset, "doccano.jsonl")

    assert result.ok
    record = Record.objects.get(dataset=dataset, text="The refund never arrived.")
    assert sorted(record.annotations.get().labels.values_list("name", flat=True)) == ["billing", "complaint"]


def test_prediction_score_outside_0_1_names_the_field(db):
    task = {"id": 1, "data": {"text": "x"}, "predictions": [{"score": 7, "result": [{"value": {"choices": ["a"]}}]}]}

    result = import_labeled(dataset=DatasetFactory(), source=io.BytesIO(json.dumps([task]).encode()), filename="t.json")

    assert str(result.errors[0]) == "t.json, item 1, field “predictions[0].score”: the score 7 is not between 0 and 1"


@pytest.mark.parametrize("fmt", ["doccano", "prodigy"])
def test_shape_can_be_named(db, fmt):
    data = b'{"text": "named", "label": ["x"], "answer": "accept"}\n'

    result = import_labeled(dataset=DatasetFactory(), source=io.BytesIO(data), filename="f.jsonl", fmt=fmt)

    assert result.ok and result.shape == fmt
