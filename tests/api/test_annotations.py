"""Annotations from external tools: stored as the token's owner through the annotate service,
conflicts as 409, bad labels as 400, and annotators never see anyone else's answers."""

from corpus.models import Dataset
from labeling.models import Annotation, LabelEvent, RecordState
from tests.api.conftest import caller_for, make_caller
from tests.conftest import make_persona
from tests.factories import AnnotationFactory, LabelFactory, LabelSchemaFactory, RecordFactory


def label_set(dataset, *names, kind="single"):
    schema = LabelSchemaFactory(dataset=dataset, kind=kind)
    return schema, [LabelFactory(schema=schema, name=name) for name in names]


def test_an_annotation_is_stored_as_the_tokens_owner_by_label_name(db):
    caller = make_caller("annotator")
    schema, (positive, _) = label_set(caller.persona.dataset, "positive", "negative")
    record = RecordFactory(dataset=caller.persona.dataset)

    response = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert response.status_code == 201, response.content
    annotation = Annotation.objects.get()
    assert annotation.annotator == caller.persona.user
    assert list(annotation.labels.all()) == [positive]
    assert LabelEvent.objects.filter(record=record, actor=caller.persona.user).exists()
    assert response.json()["labels"] == ["positive"]


def test_labels_may_be_named_by_id(db):
    caller = make_caller("reviewer")
    schema, labels = label_set(caller.persona.dataset, "a", "b", "c", kind="multi")
    record = RecordFactory(dataset=caller.persona.dataset)

    response = caller.post(
        "/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": [labels[0].pk, labels[2].pk]}
    )

    assert response.status_code == 201
    assert response.json()["labels"] == ["a", "c"]


def test_annotators_are_not_told_the_records_status_after_answering(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive")
    record = RecordFactory(dataset=caller.persona.dataset)

    body = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert body.json()["record_status"] is None


def test_reviewers_are_told_the_records_status_after_answering(db):
    caller = make_caller("reviewer")
    schema, _ = label_set(caller.persona.dataset, "positive")
    record = RecordFactory(dataset=caller.persona.dataset)

    body = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert body.json()["record_status"] == "labeled"


def test_a_label_outside_the_label_set_is_a_400_naming_it(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive")
    record = RecordFactory(dataset=caller.persona.dataset)

    response = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["happy"]})

    assert response.status_code == 400
    assert "happy" in response.json()["detail"]
    assert not Annotation.objects.exists()


def test_two_labels_in_a_single_label_set_is_a_400(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive", "negative")
    record = RecordFactory(dataset=caller.persona.dataset)

    response = caller.post(
        "/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive", "negative"]}
    )

    assert response.status_code == 400
    assert "exactly one" in response.json()["detail"]


def test_a_record_of_another_dataset_of_the_callers_is_a_400(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive")
    second = Dataset.objects.create(name="Second dataset")
    second.memberships.create(user=caller.persona.user)
    record = RecordFactory(dataset=second)

    response = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert response.status_code == 400
    assert "not in the dataset" in response.json()["detail"]


def test_a_record_that_has_all_its_annotations_is_a_409(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive")
    record = RecordFactory(dataset=caller.persona.dataset)
    other = caller_for(make_persona("reviewer"))
    caller.persona.dataset.memberships.create(user=other.persona.user)
    first = other.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})
    assert first.status_code == 201

    response = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert response.status_code == 409
    assert Annotation.objects.count() == 1


def test_a_reviewed_record_is_a_409(db):
    caller = make_caller("annotator")
    schema, _ = label_set(caller.persona.dataset, "positive")
    record = RecordFactory(dataset=caller.persona.dataset)
    RecordState.objects.create(record=record, schema=schema, status=RecordState.Status.REVIEWED)

    response = caller.post("/annotations", {"record_id": record.pk, "label_set_id": schema.pk, "labels": ["positive"]})

    assert response.status_code == 409
    assert "reviewer" in response.json()["detail"]


def test_annotators_list_only_their_own_annotations(db):
    caller = make_caller("annotator")
    schema, (positive,) = label_set(caller.persona.dataset, "positive")
    mine = AnnotationFactory(record__dataset=caller.persona.dataset, schema=schema, annotator=caller.persona.user)
    AnnotationFactory(record__dataset=caller.persona.dataset, schema=schema, labels=[positive])

    items = caller.get("/annotations", {"dataset": caller.persona.dataset.pk}).json()["items"]

    assert [item["id"] for item in items] == [mine.pk]


def test_reviewers_list_everyones_annotations_with_their_authors(db):
    caller = make_caller("reviewer")
    schema, _ = label_set(caller.persona.dataset, "positive")
    theirs = AnnotationFactory(record__dataset=caller.persona.dataset, schema=schema)

    items = caller.get("/annotations", {"label_set": schema.pk}).json()["items"]

    assert [(item["id"], item["annotator"]) for item in items] == [(theirs.pk, theirs.annotator.username)]
