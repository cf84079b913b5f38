"""Classification: zero-shot from label descriptions, trained on human labels, applied by a job."""

import numpy as np
import pytest

from corpus.inference import configured_embedder
from corpus.services.embed import embed_dataset
from jobs.models import Job
from labeling.models import Annotation, ClassifierVersion, LabelSchema, Prediction, RecordState
from labeling.services.classify import (
    MIN_TRAINING_RECORDS,
    ClassifierError,
    LinearScorer,
    _fit,
    build_zero_shot,
    classify_records,
    labeled_records,
    score_vectors,
    start_classification,
    start_training,
    train_classifier,
    uncertainty_of,
)
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    LabelFactory,
    LabelSchemaFactory,
    RecordFactory,
    UserFactory,
)

SHIPPING_WORDS = ["late", "parcel", "courier", "delivery", "tracking", "shipped"]
QUALITY_WORDS = ["fabric", "stitching", "colour", "soft", "torn", "material"]


def shipping_text(n: int) -> str:
    return f"the {SHIPPING_WORDS[n % 6]} {SHIPPING_WORDS[(n + 1) % 6]} {SHIPPING_WORDS[(n + 3) % 6]} case {n}"


def quality_text(n: int) -> str:
    return f"the {QUALITY_WORDS[n % 6]} {QUALITY_WORDS[(n + 1) % 6]} {QUALITY_WORDS[(n + 3) % 6]} case {n}"


@pytest.fixture
def embedder():
    return configured_embedder()


@pytest.fixture
def schema(db):
    dataset = DatasetFactory()
    schema = LabelSchemaFactory(dataset=dataset, name="Topic")
    LabelFactory(schema=schema, name="Shipping", description="late parcel courier delivery tracking", order=0)
    LabelFactory(schema=schema, name="Quality", description="fabric stitching colour soft material", order=1)
    return schema


def label(schema: LabelSchema, name: str):
    return schema.labels.get(name=name)


def add_labeled_records(schema: LabelSchema, count: int, *, source=Annotation.Source.HUMAN) -> None:
    annotator = UserFactory(role="Annotator") if source == Annotation.Source.HUMAN else None
    for n in range(count):
        shipping = n % 2 == 0
        record = RecordFactory(dataset=schema.dataset, text=shipping_text(n) if shipping else quality_text(n))
        AnnotationFactory(
            record=record,
            schema=schema,
            annotator=annotator,
            source=source,
            labels=[label(schema, "Shipping" if shipping else "Quality")],
        )


def test_zero_shot_suggests_the_label_whose_description_shares_the_records_words(schema, embedder):
    # Given unlabeled records about shipping and about quality
    late = RecordFactory(dataset=schema.dataset, text="the courier was late, parcel lost")
    torn = RecordFactory(dataset=schema.dataset, text="torn fabric and bad stitching")
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    # When a zero-shot version classifies them
    classifier = build_zero_shot(schema=schema, embedder=embedder)
    classify_records(classifier=classifier)

    # Then each gets one suggestion, the matching label, with a score in [0, 1]
    assert classifier.kind == ClassifierVersion.Kind.ZERO_SHOT
    by_record = {p.record_id: p for p in Prediction.objects.filter(classifier=classifier)}
    assert by_record[late.pk].label.name == "Shipping"
    assert by_record[torn.pk].label.name == "Quality"
    assert all(0.5 < p.score <= 1 for p in by_record.values())


def test_zero_shot_needs_two_labels(db, embedder):
    schema = LabelSchemaFactory()
    LabelFactory(schema=schema, name="Only")

    with pytest.raises(ClassifierError, match="at least two labels"):
        build_zero_shot(schema=schema, embedder=embedder)


def test_classifying_twice_leaves_one_prediction_per_record(schema, embedder):
    RecordFactory.create_batch(7, dataset=schema.dataset)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)
    classifier = build_zero_shot(schema=schema, embedder=embedder)

    classify_records(classifier=classifier, batch_size=3)
    first = sorted(Prediction.objects.filter(classifier=classifier).values_list("record_id", "label_id", "score"))
    again = classify_records(classifier=classifier, batch_size=3)

    assert again.predictions == 7
    assert (
        sorted(Prediction.objects.filter(classifier=classifier).values_list("record_id", "label_id", "score")) == first
    )


def test_classifying_stores_each_records_uncertainty_for_the_queue(schema, embedder):
    RecordFactory.create_batch(5, dataset=schema.dataset)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)
    classifier = build_zero_shot(schema=schema, embedder=embedder)

    classify_records(classifier=classifier, batch_size=2)

    top = dict(Prediction.objects.filter(classifier=classifier).values_list("record_id", "score"))
    stored = dict(RecordState.objects.filter(schema=schema).values_list("record_id", "uncertainty"))
    assert stored == pytest.approx({record_id: 1 - score for record_id, score in top.items()})


def test_multi_label_uncertainty_follows_the_label_closest_to_even_odds():
    scores = np.array([[0.95, 0.02], [0.6, 0.1], [0.5, 0.99]])

    assert uncertainty_of(scores, multi=True) == pytest.approx([0.1, 0.8, 1.0])
    assert uncertainty_of(scores, multi=False) == pytest.approx([0.05, 0.4, 0.01])


def test_classifying_keeps_the_predictions_of_other_versions(schema, embedder):
    RecordFactory.create_batch(3, dataset=schema.dataset)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)
    older = build_zero_shot(schema=schema, embedder=embedder)
    classify_records(classifier=older)

    newer = build_zero_shot(schema=schema, embedder=embedder)
    classify_records(classifier=newer)

    assert newer.version == older.version + 1
    assert Prediction.objects.filter(classifier=older).count() == 3
    assert Prediction.objects.filter(classifier=newer).count() == 3


def test_records_without_a_vector_get_no_prediction(schema, embedder):
    RecordFactory(dataset=schema.dataset, text="never embedded")
    classifier = build_zero_shot(schema=schema, embedder=embedder)

    result = classify_records(classifier=classifier)

    assert result.classified == 0
    assert not Prediction.objects.exists()


def test_a_classifier_trained_on_human_labels_is_measured_on_held_out_records(schema, embedder):
    # Given 40 human-labeled, embedded records
    add_labeled_records(schema, 40)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    # When a classifier is trained
    classifier = train_classifier(schema=schema, embedder=embedder)

    # Then it is a new trained version with held-out metrics per label
    assert classifier.kind == ClassifierVersion.Kind.TRAINED
    assert classifier.trained_on == 40
    metrics = classifier.metrics
    assert metrics["records"] == 8  # 20% held out
    assert metrics["accuracy"] >= 0.85
    assert metrics["macro_f1"] >= 0.85
    assert [row["label"] for row in metrics["per_label"]] == ["Shipping", "Quality"]
    assert sum(row["support"] for row in metrics["per_label"]) == 8


def test_the_trained_classifier_predicts_unseen_records(schema, embedder):
    add_labeled_records(schema, 40)
    unseen = RecordFactory(dataset=schema.dataset, text="tracking says shipped but the courier is late")
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    classifier = train_classifier(schema=schema, embedder=embedder)
    classify_records(classifier=classifier)

    prediction = Prediction.objects.get(classifier=classifier, record=unseen)
    assert prediction.label.name == "Shipping"
    assert prediction.model_version == f"tally trained v{classifier.version}"


def test_training_with_too_few_labeled_records_is_refused_with_the_reason(schema, embedder):
    add_labeled_records(schema, MIN_TRAINING_RECORDS - 1)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    with pytest.raises(ClassifierError, match=f"{MIN_TRAINING_RECORDS - 1} labeled and embedded records"):
        train_classifier(schema=schema, embedder=embedder)
    assert not ClassifierVersion.objects.exists()


def test_imported_labels_count_only_when_asked(schema, embedder):
    add_labeled_records(schema, 30, source=Annotation.Source.IMPORTED)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    with pytest.raises(ClassifierError):
        train_classifier(schema=schema, embedder=embedder)
    classifier = train_classifier(schema=schema, embedder=embedder, include_imported=True)

    assert classifier.trained_on == 30


def test_a_multi_label_classifier_predicts_every_label_above_the_threshold(db, embedder):
    # Given a multi-label schema whose records are about shipping, quality, or both
    schema = LabelSchemaFactory(kind=LabelSchema.Kind.MULTI, name="Aspects")
    shipping = LabelFactory(schema=schema, name="Shipping")
    quality = LabelFactory(schema=schema, name="Quality")
    annotator = UserFactory(role="Annotator")
    for n in range(45):
        kind = n % 3
        text = {0: shipping_text(n), 1: quality_text(n), 2: shipping_text(n) + " " + quality_text(n + 1)}[kind]
        labels = {0: [shipping], 1: [quality], 2: [shipping, quality]}[kind]
        record = RecordFactory(dataset=schema.dataset, text=text)
        AnnotationFactory(record=record, schema=schema, annotator=annotator, labels=labels)
    both = RecordFactory(dataset=schema.dataset, text="late parcel courier with torn fabric and soft colour")
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    # When trained and applied
    classifier = train_classifier(schema=schema, embedder=embedder)
    classify_records(classifier=classifier)

    # Then the record about both gets both labels, each scored on its own
    predicted = Prediction.objects.filter(classifier=classifier, record=both)
    assert {p.label.name for p in predicted} == {"Shipping", "Quality"}
    assert all(p.score >= 0.5 for p in predicted)
    assert classifier.metrics["macro_f1"] >= 0.8


WEATHER_WORDS = ["rain", "sunny", "cloud", "wind", "storm", "snow"]


def test_multi_label_answers_of_none_applies_train_every_label_as_a_negative(db, embedder):
    # Given a multi-label schema where a third of the records were answered "none applies"
    schema = LabelSchemaFactory(kind=LabelSchema.Kind.MULTI, name="Aspects")
    shipping = LabelFactory(schema=schema, name="Shipping")
    quality = LabelFactory(schema=schema, name="Quality")
    annotator = UserFactory(role="Annotator")
    none_applies = []
    for n in range(45):
        kind = n % 3
        weather = f"the {WEATHER_WORDS[n % 6]} {WEATHER_WORDS[(n + 1) % 6]} {WEATHER_WORDS[(n + 3) % 6]} case {n}"
        text = {0: shipping_text(n), 1: quality_text(n), 2: weather}[kind]
        record = RecordFactory(dataset=schema.dataset, text=text)
        AnnotationFactory(
            record=record, schema=schema, annotator=annotator, labels={0: [shipping], 1: [quality], 2: []}[kind]
        )
        if kind == 2:
            none_applies.append(record.pk)
    unseen = RecordFactory(dataset=schema.dataset, text="the storm wind and cloud case 99")
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    # Then they are training data with an empty label set
    data = labeled_records(schema=schema, model_name=embedder.info.name)
    sets = dict(zip(data.record_ids, data.label_sets, strict=True))
    assert all(sets[record_id] == frozenset() for record_id in none_applies)
    assert len(data.record_ids) == 45

    # And the trained classifier suggests nothing for a record like them
    classifier = train_classifier(schema=schema, embedder=embedder)
    assert classifier.trained_on == 45
    classify_records(classifier=classifier)
    assert not Prediction.objects.filter(classifier=classifier, record=unseen).exists()
    assert Prediction.objects.filter(classifier=classifier, label=shipping).exists()


def test_stored_scores_equal_scikit_learns_probabilities(schema):
    # The artifact is plain weights; scoring them must give what the fitted model would.
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    labels = [*schema.labels.all(), LabelFactory(schema=schema, name="Price")]
    targets = rng.integers(0, 3, size=60)
    for k_labels, y in ((labels, targets), (labels[:2], targets % 2)):
        scorer = _fit(vectors, y, labels=k_labels, multi=False, seed=0)
        reference = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=0).fit(vectors, y)

        restored = LinearScorer.from_bytes(scorer.to_bytes())

        np.testing.assert_allclose(score_vectors(restored, vectors), reference.predict_proba(vectors), atol=1e-4)


def test_the_classify_job_builds_a_zero_shot_version_when_none_exists(schema, django_capture_on_commit_callbacks):
    RecordFactory(dataset=schema.dataset, text="the courier was late")
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        job = start_classification(schema=schema, user=user)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    classifier = ClassifierVersion.objects.get(schema=schema)
    assert classifier.kind == ClassifierVersion.Kind.ZERO_SHOT
    assert job.result["predictions"] == 1
    assert Prediction.objects.get().label.name == "Shipping"


def test_the_train_job_embeds_the_labeled_records_and_trains(schema, django_capture_on_commit_callbacks):
    add_labeled_records(schema, 30)

    with django_capture_on_commit_callbacks(execute=True):
        job = start_training(schema=schema, user=UserFactory())

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["kind"] == ClassifierVersion.Kind.TRAINED
    assert ClassifierVersion.objects.get(pk=job.result["classifier_id"]).trained_on == 30


def test_the_classify_job_refuses_a_version_built_on_another_model(schema, django_capture_on_commit_callbacks):
    classifier = ClassifierVersion.objects.create(
        schema=schema, version=1, kind=ClassifierVersion.Kind.ZERO_SHOT, embedding_model="another-model"
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = start_classification(schema=schema, user=UserFactory(), classifier=classifier)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "another-model" in job.error
    assert not Prediction.objects.exists()


def test_the_commands_train_and_classify_a_schema_by_name(schema, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    add_labeled_records(schema, 30)
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_classifier", schema=["Topic"], stdout=out)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("classify", schema=["Topic"], stdout=out)

    assert ClassifierVersion.objects.get(schema=schema).kind == ClassifierVersion.Kind.TRAINED
    assert Prediction.objects.filter(schema=schema).count() == 30
    assert "queued" in out.getvalue()


def test_the_classify_command_names_an_unknown_schema(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no label schema named or numbered 'Nope'"):
        call_command("classify", schema=["Nope"])


def test_few_records_of_many_labels_are_split_without_stratifying(db, embedder):
    # Given 20 labeled records spread over 8 labels (a 4-record held-out set cannot hold all 8)
    schema = LabelSchemaFactory(name="Many")
    labels = [LabelFactory(schema=schema, name=f"class {n}") for n in range(8)]
    annotator = UserFactory(role="Annotator")
    for n in range(20):
        record = RecordFactory(dataset=schema.dataset, text=f"topic{n % 8} words about topic{n % 8} number {n}")
        AnnotationFactory(record=record, schema=schema, annotator=annotator, labels=[labels[n % 8]])
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)

    # When trained
    classifier = train_classifier(schema=schema, embedder=embedder)

    # Then it is measured on the 4 held-out records and reports every label
    assert classifier.metrics["records"] == 4
    assert len(classifier.metrics["per_label"]) == 8


def test_a_cancelled_classification_stops_after_the_batch_in_hand_and_a_rerun_completes_it(schema, embedder):
    # Given 10 embedded records classified in batches of 4, cancelled at the first progress report
    from jobs.models import JobCancelled

    RecordFactory.create_batch(10, dataset=schema.dataset)
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder)
    classifier = build_zero_shot(schema=schema, embedder=embedder)

    def cancel_after_first_batch(*, done, total):
        if done:
            raise JobCancelled("asked to stop")

    # When the job is cancelled
    with pytest.raises(JobCancelled):
        classify_records(classifier=classifier, batch_size=4, progress=cancel_after_first_batch)

    # Then the batch in hand is stored whole and nothing after it
    assert Prediction.objects.filter(classifier=classifier).count() == 4
    # And a retry finishes the work without doubling any of it
    classify_records(classifier=classifier, batch_size=4)
    assert Prediction.objects.filter(classifier=classifier).count() == 10
