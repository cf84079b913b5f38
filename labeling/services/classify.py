"""Model suggestions for a label schema: zero-shot from the labels' names and descriptions, then a
classifier trained on the embeddings of human-labeled records; both stored as ClassifierVersion
and applied to a dataset by the "classify" job, which writes Prediction rows.

Every version is stored as plain numbers (an .npz of weights, biases and label ids, never a
pickle: the bytes live in the database and are loaded by workers), and scored by one function,
`score_vectors`, so the metrics measured here are those of exactly what the job applies.
"""

import io
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Max

from corpus.inference import configured_embedder
from corpus.models import Record
from corpus.services.embed import embed_dataset
from inference_client import Embedder
from jobs import register
from jobs.models import Job
from jobs.services import start_job
from labeling.models import Annotation, ClassifierVersion, Label, LabelSchema, Prediction
from labeling.services.queue import prepare_queue

# Cosine similarities of sentence embeddings to short label prototypes sit in a narrow band
# (MiniLM: ~0.0-0.6); dividing by 0.05 turns a 0.1 lead into e^2 ≈ 7x the odds. On the WordNet
# demo (8 classes, 1,336 labeled glosses) that gave accuracy 0.69 with a mean top score of
# 0.67, i.e. calibrated; 0.02 claimed 0.87 for the same accuracy.
ZERO_SHOT_TEMPERATURE = 0.05
# Below this many human-labeled records a trained model is noise: suggestions stay zero-shot.
MIN_TRAINING_RECORDS = 20
HELD_OUT_FRACTION = 0.2
MULTI_LABEL_THRESHOLD = 0.5
CLASSIFY_BATCH_SIZE = 1000

Progress = Callable[..., None]


class ClassifierError(ValueError):
    """A classifier cannot be built or applied; the message says what is missing."""


# --- The stored model --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearScorer:
    """scores = activation(vectors @ weights.T + bias), one column per label.

    activation is `softmax` (one label per record: zero-shot, and trained single-label models,
    whose binary case is written as two rows) or `sigmoid` (one-vs-rest multi-label models)."""

    label_ids: np.ndarray  # (k,) int64
    weights: np.ndarray  # (k, d) float32
    bias: np.ndarray  # (k,) float32
    activation: str  # "softmax" | "sigmoid"
    threshold: float  # multi-label: labels scoring at least this are predicted

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            label_ids=self.label_ids,
            weights=self.weights,
            bias=self.bias,
            activation=np.array(self.activation),
            threshold=np.array(self.threshold),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "LinearScorer":
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
            return cls(
                label_ids=arrays["label_ids"],
                weights=arrays["weights"],
                bias=arrays["bias"],
                activation=str(arrays["activation"]),
                threshold=float(arrays["threshold"]),
            )


def score_vectors(scorer: LinearScorer, vectors: np.ndarray) -> np.ndarray:
    """Scores in [0, 1], shape (n, k): softmax rows sum to 1, sigmoid columns stand alone."""
    logits = np.asarray(vectors, dtype=np.float64) @ scorer.weights.T.astype(np.float64) + scorer.bias
    if scorer.activation == "softmax":
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-logits))


def chosen_labels(scorer: LinearScorer, scores: np.ndarray, *, multi: bool) -> list[list[int]]:
    """Column indexes predicted per row: the top one (single-label), or all at or above the
    threshold (multi-label; none when nothing reaches it)."""
    if not multi:
        return [[int(index)] for index in scores.argmax(axis=1)]
    return [list(np.flatnonzero(row >= scorer.threshold)) for row in scores]


# --- Training data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabeledRecords:
    record_ids: list[int]
    vectors: np.ndarray  # (n, d)
    label_sets: list[frozenset[int]]  # label ids per record (one for single-label schemas)


def labeled_records(*, schema: LabelSchema, model_name: str, include_imported: bool = False) -> LabeledRecords:
    """The records of the schema with an agreed answer and a current vector of `model_name`.

    Several people's answers are merged by majority: single-label takes the most frequent label
    (ties: the label listed first in the schema), multi-label keeps labels chosen by at least
    half of them. A multi-label answer with no label ("none of these applies") is an answer too:
    the record trains every label's model as a negative example. Imported labels count only
    when asked: they may be another model's output."""
    sources = [Annotation.Source.HUMAN] + ([Annotation.Source.IMPORTED] if include_imported else [])
    order = {label_id: position for position, label_id in enumerate(schema.labels.values_list("pk", flat=True))}
    votes: dict[int, list[set[int]]] = {}
    # From the annotations, not from their label rows: an answer without labels has none.
    rows = Annotation.objects.filter(schema=schema, source__in=sources).values_list("pk", "record_id", "labels")
    answers: dict[tuple[int, int], set[int]] = {}
    for annotation_id, record_id, label_id in rows.iterator():
        labels = answers.setdefault((record_id, annotation_id), set())
        if label_id is not None:
            labels.add(label_id)
    for (record_id, _), labels in answers.items():
        votes.setdefault(record_id, []).append(labels)

    label_sets: dict[int, frozenset[int]] = {}
    for record_id, answers_of_record in votes.items():
        counts = Counter(label for labels in answers_of_record for label in labels)
        if schema.kind == LabelSchema.Kind.SINGLE:
            if not counts:
                continue  # an imported row without a label: nothing to learn from
            best = max(counts.items(), key=lambda item: (item[1], -order.get(item[0], 0)))[0]
            label_sets[record_id] = frozenset([best])
        else:
            label_sets[record_id] = frozenset(
                label for label, count in counts.items() if 2 * count >= len(answers_of_record)
            )

    rows = (
        Record.objects.filter(pk__in=list(label_sets), embedding_model=model_name)
        .exclude(embedding=None)
        .order_by("pk")
        .values_list("pk", "embedding")
    )
    record_ids, vectors = [], []
    for record_id, vector in rows.iterator(chunk_size=2000):
        record_ids.append(record_id)
        vectors.append(np.asarray(vector, dtype=np.float32))
    dimensions = len(vectors[0]) if vectors else 0
    return LabeledRecords(
        record_ids=record_ids,
        vectors=np.stack(vectors) if vectors else np.zeros((0, dimensions), dtype=np.float32),
        label_sets=[label_sets[record_id] for record_id in record_ids],
    )


# --- Building versions ---------------------------------------------------------------------------


def _next_version(schema: LabelSchema) -> int:
    # Called inside the transaction that creates the version; the unique constraint on
    # (schema, version) turns a rare concurrent training into an error, never a duplicate.
    return (ClassifierVersion.objects.filter(schema=schema).aggregate(top=Max("version"))["top"] or 0) + 1


def _labels_of(schema: LabelSchema) -> list[Label]:
    labels = list(schema.labels.all())
    if len(labels) < 2:
        raise ClassifierError(f"schema “{schema}” needs at least two labels to suggest one, it has {len(labels)}")
    return labels


def build_zero_shot(*, schema: LabelSchema, embedder: Embedder, user=None) -> ClassifierVersion:
    """A classifier from the labels' names and descriptions alone: each label's prototype is the
    vector of "name: description"; a record's scores are the softmax of its cosine similarity
    to each prototype over ZERO_SHOT_TEMPERATURE. Measured against any human labels there are."""
    labels = _labels_of(schema)
    prototypes = embedder.embed(
        [f"{label.name}: {label.description}" if label.description.strip() else label.name for label in labels]
    )
    multi = schema.kind == LabelSchema.Kind.MULTI
    scorer = LinearScorer(
        label_ids=np.array([label.pk for label in labels], dtype=np.int64),
        weights=(prototypes / ZERO_SHOT_TEMPERATURE).astype(np.float32),
        bias=np.zeros(len(labels), dtype=np.float32),
        activation="softmax",
        # Softmax scores share one unit among the labels: for multi-label suggestions take those
        # clearly above an even share.
        threshold=1.5 / len(labels) if multi else MULTI_LABEL_THRESHOLD,
    )
    data = labeled_records(schema=schema, model_name=embedder.info.name)
    metrics = evaluate(scorer=scorer, data=data, labels=labels, multi=multi) if data.record_ids else {}
    metrics["note"] = "Zero-shot: no training; measured on every human-labeled record."
    with transaction.atomic():
        return ClassifierVersion.objects.create(
            schema=schema,
            version=_next_version(schema),
            kind=ClassifierVersion.Kind.ZERO_SHOT,
            embedding_model=embedder.info.name,
            trained_on=0,
            metrics=metrics,
            artifact=scorer.to_bytes(),
            created_by=user,
        )


def train_classifier(
    *, schema: LabelSchema, embedder: Embedder, user=None, include_imported: bool = False, seed: int = 0
) -> ClassifierVersion:
    """Logistic regression on the embeddings of labeled records (one-vs-rest for multi-label).

    A stratified HELD_OUT_FRACTION of the records is kept out to measure accuracy, macro-F1 and
    per-label precision/recall/F1; the stored model is then refit on all of them, since with
    few labels every example counts."""
    from sklearn.model_selection import train_test_split

    labels = _labels_of(schema)
    multi = schema.kind == LabelSchema.Kind.MULTI
    data = labeled_records(schema=schema, model_name=embedder.info.name, include_imported=include_imported)
    if len(data.record_ids) < MIN_TRAINING_RECORDS:
        raise ClassifierError(
            f"schema “{schema}” has {len(data.record_ids)} labeled and embedded records; training needs at least "
            f"{MIN_TRAINING_RECORDS} (embed the dataset first, or use zero-shot suggestions until then)"
        )
    targets = _targets(data=data, labels=labels, multi=multi)
    if not multi and len(set(targets.tolist())) < 2:
        raise ClassifierError(f"schema “{schema}”: every labeled record has the same label; training needs two")

    indexes = np.arange(len(data.record_ids))
    stratify = None
    if not multi:
        # Stratify when every class can appear on both sides of the split; with few records of
        # many labels that is impossible and a plain random split is the honest fallback.
        class_counts = Counter(targets.tolist())
        held_out = math.ceil(HELD_OUT_FRACTION * len(indexes))
        if min(class_counts.values()) >= 2 and len(class_counts) <= min(held_out, len(indexes) - held_out):
            stratify = targets
    train_idx, test_idx = train_test_split(indexes, test_size=HELD_OUT_FRACTION, random_state=seed, stratify=stratify)
    held_out_scorer = _fit(data.vectors[train_idx], targets[train_idx], labels=labels, multi=multi, seed=seed)
    held_out = LabeledRecords(
        record_ids=[data.record_ids[i] for i in test_idx],
        vectors=data.vectors[test_idx],
        label_sets=[data.label_sets[i] for i in test_idx],
    )
    metrics = evaluate(scorer=held_out_scorer, data=held_out, labels=labels, multi=multi)
    labels_from = "people's and imported labels" if include_imported else "people's labels"
    metrics["note"] = (
        f"Trained on {labels_from}. Held out {len(test_idx)} of {len(indexes)} records (seed {seed}); "
        "the stored model is refit on all of them."
    )
    scorer = _fit(data.vectors, targets, labels=labels, multi=multi, seed=seed)
    with transaction.atomic():
        return ClassifierVersion.objects.create(
            schema=schema,
            version=_next_version(schema),
            kind=ClassifierVersion.Kind.TRAINED,
            embedding_model=embedder.info.name,
            trained_on=len(indexes),
            metrics=metrics,
            artifact=scorer.to_bytes(),
            created_by=user,
        )


def _targets(*, data: LabeledRecords, labels: list[Label], multi: bool) -> np.ndarray:
    column = {label.pk: index for index, label in enumerate(labels)}
    if not multi:
        return np.array([column[next(iter(label_set))] for label_set in data.label_sets], dtype=np.int64)
    matrix = np.zeros((len(data.label_sets), len(labels)), dtype=np.int64)
    for row, label_set in enumerate(data.label_sets):
        for label_id in label_set:
            matrix[row, column[label_id]] = 1
    return matrix


def _fit(vectors: np.ndarray, targets: np.ndarray, *, labels: list[Label], multi: bool, seed: int) -> LinearScorer:
    from sklearn.linear_model import LogisticRegression

    k, d = len(labels), vectors.shape[1]
    weights = np.zeros((k, d), dtype=np.float64)
    bias = np.zeros(k, dtype=np.float64)
    if multi:
        # One binary model per label (what OneVsRestClassifier does), written out so a label every
        # training record has, or none has, becomes a constant instead of an error.
        for column in range(k):
            positives = targets[:, column]
            if positives.min() == positives.max():
                bias[column] = 20.0 if positives[0] else -20.0
                continue
            model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
            model.fit(vectors, positives)
            weights[column], bias[column] = model.coef_[0], model.intercept_[0]
        activation = "sigmoid"
    else:
        model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        model.fit(vectors, targets)
        classes = model.classes_.tolist()
        if len(classes) == 2:
            # A binary model has one row: P(classes[1]) = sigmoid(w·x + b) = softmax([0, w·x + b]).
            weights[classes[1]], bias[classes[1]] = model.coef_[0], model.intercept_[0]
        else:
            for row, cls in enumerate(classes):
                weights[cls], bias[cls] = model.coef_[row], model.intercept_[row]
        # Labels nobody used yet get a score of (almost) zero, not a share of the softmax.
        for column in set(range(k)) - set(classes):
            bias[column] = -50.0
        activation = "softmax"
    return LinearScorer(
        label_ids=np.array([label.pk for label in labels], dtype=np.int64),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        activation=activation,
        threshold=MULTI_LABEL_THRESHOLD,
    )


def evaluate(*, scorer: LinearScorer, data: LabeledRecords, labels: list[Label], multi: bool) -> dict:
    """Accuracy (subset accuracy for multi-label), macro-F1 and per-label precision, recall, F1
    and support of `scorer` on `data`."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    truth = _targets(data=data, labels=labels, multi=multi)
    scores = score_vectors(scorer, data.vectors)
    if multi:
        predicted = np.zeros_like(truth)
        for row, columns in enumerate(chosen_labels(scorer, scores, multi=True)):
            predicted[row, columns] = 1
    else:
        predicted = scores.argmax(axis=1)
    columns = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=None if multi else columns, zero_division=0
    )
    return {
        "records": len(data.record_ids),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        # Macro over the labels that occur in the truth or the predictions (sklearn's default):
        # a label nobody used yet neither helps nor hurts.
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "per_label": [
            {
                "label": label.name,
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        ],
    }


def build_classifier(
    *, schema: LabelSchema, embedder: Embedder, user=None, include_imported: bool = False
) -> ClassifierVersion:
    """A trained classifier when there are enough labeled records, zero-shot otherwise."""
    data = labeled_records(schema=schema, model_name=embedder.info.name, include_imported=include_imported)
    if len(data.record_ids) >= MIN_TRAINING_RECORDS:
        return train_classifier(schema=schema, embedder=embedder, user=user, include_imported=include_imported)
    return build_zero_shot(schema=schema, embedder=embedder, user=user)


# --- Applying a version ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifyResult:
    classified: int
    predictions: int
    model_version: str


def model_version_of(classifier: ClassifierVersion) -> str:
    return f"tally {classifier.kind} v{classifier.version}"


def classify_records(
    *, classifier: ClassifierVersion, progress: Progress | None = None, batch_size: int = CLASSIFY_BATCH_SIZE
) -> ClassifyResult:
    """Write this version's predictions for every record of the schema's dataset that has a
    vector of the version's model. Safe to run twice: each batch replaces the version's earlier
    predictions for its records in one transaction, so a re-run or a resumed job leaves exactly
    one set."""
    schema = classifier.schema
    multi = schema.kind == LabelSchema.Kind.MULTI
    scorer = LinearScorer.from_bytes(classifier.artifact)
    existing = set(schema.labels.values_list("pk", flat=True))
    if not set(scorer.label_ids.tolist()) <= existing:
        raise ClassifierError(f"{classifier} knows labels that were deleted since; train a new version")
    model_version = model_version_of(classifier)
    pending = Record.objects.filter(dataset_id=schema.dataset_id, embedding_model=classifier.embedding_model).exclude(
        embedding=None
    )
    total = pending.count()
    if progress:
        progress(done=0, total=total)
    prepare_queue(schema=schema)  # so every record has a state to carry its uncertainty
    done = predictions = last_id = 0
    while True:
        batch = list(pending.filter(pk__gt=last_id).order_by("pk").values_list("pk", "embedding")[:batch_size])
        if not batch:
            break
        last_id = batch[-1][0]
        ids = [record_id for record_id, _ in batch]
        vectors = np.stack([np.asarray(vector, dtype=np.float32) for _, vector in batch])
        scores = score_vectors(scorer, vectors)
        rows = [
            Prediction(
                record_id=record_id,
                schema=schema,
                label_id=int(scorer.label_ids[column]),
                score=float(np.clip(scores[row, column], 0.0, 1.0)),
                source=Prediction.Source.MODEL,
                model_version=model_version,
                classifier=classifier,
            )
            for row, (record_id, columns) in enumerate(
                zip(ids, chosen_labels(scorer, scores, multi=multi), strict=True)
            )
            for column in columns
        ]
        with transaction.atomic():
            Prediction.objects.filter(classifier=classifier, record_id__in=ids).delete()
            Prediction.objects.bulk_create(rows, batch_size=2000)
            _store_uncertainty(schema=schema, record_ids=ids, uncertainty=uncertainty_of(scores, multi=multi))
        done += len(batch)
        predictions += len(rows)
        if progress:
            progress(done=min(done, total) if total else done, total=max(total, done))
    return ClassifyResult(classified=done, predictions=predictions, model_version=model_version)


def uncertainty_of(scores: np.ndarray, *, multi: bool) -> np.ndarray:
    """How unsure the model is per record, 0 (certain) to 1, for "most uncertain first".

    Single-label: 1 - the top probability (least confidence). Multi-label: the label whose
    probability is closest to 0.5 decides, 1 - |2p - 1| (each label is its own yes/no question)."""
    if multi:
        return (1.0 - np.abs(2.0 * scores - 1.0)).max(axis=1)
    return 1.0 - scores.max(axis=1)


def _store_uncertainty(*, schema: LabelSchema, record_ids: list[int], uncertainty: np.ndarray) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE labeling_recordstate s SET uncertainty = u.value
            FROM unnest(%s::bigint[], %s::float8[]) AS u(record_id, value)
            WHERE s.schema_id = %s AND s.record_id = u.record_id
            """,
            [record_ids, [float(v) for v in np.clip(uncertainty, 0.0, 1.0)], schema.pk],
        )


# --- Jobs -------------------------------------------------------------------------------------------


def start_training(*, schema: LabelSchema, user, include_imported: bool = False) -> Job:
    params = {"schema_id": schema.pk, "include_imported": include_imported}
    return start_job(kind="train", params=params, user=user)


def start_classification(*, schema: LabelSchema, user, classifier: ClassifierVersion | None = None) -> Job:
    params = {"schema_id": schema.pk}
    if classifier is not None:
        params["classifier_id"] = classifier.pk
    return start_job(kind="classify", params=params, user=user)


@register("train")
def run_train(job: Job) -> None:
    schema = LabelSchema.objects.get(pk=job.params["schema_id"])
    embedder = configured_embedder()
    # Labeled records need current vectors; incremental, so nearly free when they have them.
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder, progress=job.report)
    classifier = build_classifier(
        schema=schema,
        embedder=embedder,
        user=job.created_by,
        include_imported=bool(job.params.get("include_imported")),
    )
    Job.objects.filter(pk=job.pk).update(
        result={
            "classifier_id": classifier.pk,
            "version": classifier.version,
            "kind": classifier.kind,
            "accuracy": classifier.metrics.get("accuracy"),
            "macro_f1": classifier.metrics.get("macro_f1"),
        }
    )


@register("classify")
def run_classify(job: Job) -> None:
    schema = LabelSchema.objects.get(pk=job.params["schema_id"])
    classifier_id = job.params.get("classifier_id")
    if classifier_id:
        classifier = ClassifierVersion.objects.get(pk=classifier_id, schema=schema)
    else:
        classifier = schema.classifiers.order_by("-version").first()
    embedder = configured_embedder()
    if classifier is not None and classifier.embedding_model != embedder.info.name:
        raise ClassifierError(
            f"{classifier} was built on vectors of {classifier.embedding_model!r}, but the configured model is "
            f"{embedder.info.name!r}: train a new version"
        )
    embed_dataset(dataset_id=schema.dataset_id, embedder=embedder, progress=job.report)
    if classifier is None:
        classifier = build_zero_shot(schema=schema, embedder=embedder, user=job.created_by)
    result = classify_records(classifier=classifier, progress=job.report)
    Job.objects.filter(pk=job.pk).update(
        result={
            "classifier_id": classifier.pk,
            "classified": result.classified,
            "predictions": result.predictions,
            "model_version": result.model_version,
        }
    )
