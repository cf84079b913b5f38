"""Predictions of external models: bulk upsert by (record, label, model version), all or nothing."""

from labeling.models import LabelSchema, Prediction
from tests.api.conftest import make_caller
from tests.factories import LabelFactory, LabelSchemaFactory, PredictionFactory, RecordFactory


def setup(caller, kind=LabelSchema.Kind.MULTI):
    schema = LabelSchemaFactory(dataset=caller.persona.dataset, kind=kind)
    labels = [LabelFactory(schema=schema, name=name) for name in ("positive", "negative")]
    records = RecordFactory.create_batch(2, dataset=caller.persona.dataset)
    return schema, labels, records


def test_predictions_are_created_then_updated_by_record_label_and_version(db):
    caller = make_caller("ml_engineer")
    schema, (positive, negative), (first, second) = setup(caller)
    body = {
        "label_set_id": schema.pk,
        "predictions": [
            {"record_id": first.pk, "label": "positive", "score": 0.9, "model_version": "bert v1"},
            {"record_id": second.pk, "label": negative.pk, "score": 0.2, "model_version": "bert v1"},
        ],
    }
    assert caller.post("/predictions", body).json() == {"created": 2, "updated": 0}

    body["predictions"][0]["score"] = 0.4
    response = caller.post("/predictions", body)

    assert response.json() == {"created": 0, "updated": 2}
    stored = set(Prediction.objects.values_list("record_id", "label_id", "score", "model_version", "source"))
    assert stored == {
        (first.pk, positive.pk, 0.4, "bert v1", Prediction.Source.IMPORTED),
        (second.pk, negative.pk, 0.2, "bert v1", Prediction.Source.IMPORTED),
    }


def test_a_new_label_replaces_the_versions_prediction_in_a_single_label_set(db):
    caller = make_caller("ml_engineer")
    schema, (positive, negative), (record, _) = setup(caller, kind=LabelSchema.Kind.SINGLE)
    PredictionFactory(record=record, schema=schema, label=positive, model_version="bert v1", score=0.7)

    response = caller.post(
        "/predictions",
        {
            "label_set_id": schema.pk,
            "predictions": [{"record_id": record.pk, "label": "negative", "score": 0.6, "model_version": "bert v1"}],
        },
    )

    assert response.json() == {"created": 0, "updated": 1}
    assert list(Prediction.objects.values_list("label_id", flat=True)) == [negative.pk]


def test_bad_items_store_nothing_and_are_named(db):
    caller = make_caller("ml_engineer")
    schema, _, (record, _) = setup(caller)
    theirs = RecordFactory(dataset=caller.persona.other_dataset)
    body = {
        "label_set_id": schema.pk,
        "predictions": [
            {"record_id": record.pk, "label": "positive", "score": 0.9, "model_version": "m"},
            {"record_id": theirs.pk, "label": "positive", "score": 0.9, "model_version": "m"},
            {"record_id": record.pk, "label": "joyful", "score": 0.9, "model_version": "m"},
            {"record_id": record.pk, "label": "positive", "score": 0.1, "model_version": "m"},
        ],
    }

    response = caller.post("/predictions", body)

    assert response.status_code == 400
    assert [(error["index"], error["field"]) for error in response.json()["errors"]] == [
        (1, "record_id"),
        (2, "label"),
        (3, "label"),
    ]
    assert theirs.text not in response.content.decode()
    assert not Prediction.objects.exists()


def test_scores_outside_0_to_1_are_a_422(db):
    caller = make_caller("ml_engineer")
    schema, _, (record, _) = setup(caller)

    response = caller.post(
        "/predictions",
        {
            "label_set_id": schema.pk,
            "predictions": [{"record_id": record.pk, "label": "positive", "score": 1.5, "model_version": "m"}],
        },
    )

    assert response.status_code == 422
    assert "score" in response.content.decode()


def test_versions_named_like_tallys_own_classifiers_are_refused(db):
    caller = make_caller("ml_engineer")
    schema, _, (record, _) = setup(caller)

    response = caller.post(
        "/predictions",
        {
            "label_set_id": schema.pk,
            "predictions": [{"record_id": record.pk, "label": "positive", "model_version": "tally trained v3"}],
        },
    )

    assert response.status_code == 422
    assert not Prediction.objects.exists()
