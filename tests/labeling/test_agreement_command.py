"""`manage.py agreement DATASET [--schema NAME] [--json]`: the agreement report on the command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import RecordState
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    LabelFactory,
    LabelSchemaFactory,
    RecordFactory,
    UserFactory,
)


def run(*args) -> str:
    out = io.StringIO()
    call_command("agreement", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def dataset(db):
    """Reviews: two annotators agree on one record and disagree on another (Sentiment), and a
    second schema (Urgency) nobody labeled twice."""
    dataset = DatasetFactory(name="Reviews")
    sentiment = LabelSchemaFactory(dataset=dataset, name="Sentiment")
    positive = LabelFactory(schema=sentiment, name="positive", order=0)
    negative = LabelFactory(schema=sentiment, name="negative", order=1)
    alice, bob = UserFactory(username="alice", role="Annotator"), UserFactory(username="bob", role="Annotator")
    agreed, disputed = RecordFactory.create_batch(2, dataset=dataset)
    for record, by_alice, by_bob in [(agreed, positive, positive), (disputed, positive, negative)]:
        AnnotationFactory(record=record, schema=sentiment, annotator=alice, labels=[by_alice], seconds_spent=12)
        AnnotationFactory(record=record, schema=sentiment, annotator=bob, labels=[by_bob], seconds_spent=6)
    urgency = LabelSchemaFactory(dataset=dataset, name="Urgency")
    AnnotationFactory(record=agreed, schema=urgency, annotator=alice, labels=[LabelFactory(schema=urgency)])
    return dataset


def test_prints_each_schema_with_its_figures_per_label_annotator_and_pair(dataset):
    output = run("Reviews")

    assert "Reviews · Sentiment (one label)" in output
    assert "2 coders, 2 records labeled by two or more; imported labels not counted" in output
    assert "percent agreement 50.0%" in output
    assert "alice / bob" in output
    # alice: 2 items, median 12.0 s, 300 items an hour.
    assert any(
        line.split()[:2] == ["alice", "2"] and line.split()[-2:] == ["12.0", "300"] for line in output.splitlines()
    )
    assert "Reviews · Urgency (one label)" in output
    assert "1 coder, 0 records labeled by two or more" in output


def test_prints_annotators_labels_against_final_labels_once_records_have_them(dataset):
    sentiment = dataset.label_schemas.get(name="Sentiment")
    state = RecordState.objects.create(record=dataset.records.first(), schema=sentiment, status="reviewed")
    state.final_labels.set([sentiment.labels.get(name="positive")])

    output = run("Reviews", "--schema", "Sentiment")

    # The first record both said positive; its final label is positive.
    assert "annotators' label (rows) against the final label (columns)" in output
    rows = [line.split() for line in output.splitlines()]
    assert ["positive", "negative"] in rows
    assert ["positive", "2", "0"] in rows


def test_schema_option_reports_only_that_schema(dataset):
    output = run("Reviews", "--schema", "Urgency")

    assert "Urgency" in output
    assert "Sentiment" not in output


def test_dataset_may_be_named_by_id(dataset):
    assert "Reviews · Sentiment" in run(str(dataset.pk), "--schema", "Sentiment")


def test_json_output_carries_the_report(dataset):
    document = json.loads(run("Reviews", "--schema", "Sentiment", "--json"))

    assert document["dataset"] == "Reviews"
    (report,) = document["schemas"]
    assert report["schema"] == "Sentiment"
    assert report["items"] == 2
    assert report["percent_agreement"] == 0.5
    # alice [p, p] vs bob [p, n]: p_o 1/2, p_e 1/2 -> kappa 0.
    assert report["pairs"] == [
        {"first": "alice", "second": "bob", "items": 2, "cohen_kappa": 0.0, "percent_agreement": 0.5}
    ]
    assert [row["annotator"] for row in report["annotators"]] == ["alice", "bob"]
    assert report["confusion"] == {"labels": ["positive", "negative"], "counts": [[0, 0], [0, 0]]}


def test_unknown_dataset_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no dataset named or numbered “Nope”"):
        run("Nope")


def test_unknown_schema_is_a_clear_error_listing_the_known_ones(dataset):
    with pytest.raises(
        CommandError, match=r"dataset 'Reviews' has no label schema 'Topic' \(it has: 'Sentiment', 'Urgency'\)"
    ):
        run("Reviews", "--schema", "Topic")


def test_dataset_without_schemas_is_a_clear_error(db):
    DatasetFactory(name="Empty")

    with pytest.raises(CommandError, match="dataset 'Empty' has no label schemas"):
        run("Empty")
