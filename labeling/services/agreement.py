"""How far annotators agree with each other, with the final labels and with gold.

The first half is plain arithmetic on nominal values (any hashable: label ids, names, True/False),
checked in the tests against published worked examples. The second half reads one label schema's
annotations in a handful of queries and builds an `AgreementReport` from them.

Degenerate cases return None instead of a number, never a division by zero: no item rated twice
(nothing to compare), or a chance agreement of 100% (everyone used one and the same value, so
a coefficient that corrects for chance is undefined, not perfect).
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
from django.contrib.auth import get_user_model

from labeling.models import Annotation, Label, LabelSchema, RecordState

# --- The coefficients ---------------------------------------------------------------------------


def percent_agreement(items: Iterable[Sequence[Hashable]]) -> float | None:
    """Mean over items of the share of rater pairs that gave the same value (items rated fewer
    than twice ignored). None when no item has two ratings."""
    return _item_figures(_value_counts(items)).percent_agreement


def fleiss_kappa(items: Iterable[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa; an item's raters may differ in number (items with fewer than two ignored).

    P_i = (Σ_j n_ij² - n_i) / (n_i (n_i - 1)) per item, P̄ their mean; p_j is value j's share of
    all ratings of those items and P_e = Σ p_j². With the same number of raters on every item
    this is the classic Fleiss (1971) kappa. None when no item has two ratings, or P_e = 1."""
    return _item_figures(_value_counts(items)).fleiss_kappa


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal values; a unit lists the values it was given (a missing
    value is simply absent).

    Built on the coincidence matrix: each unit with m ≥ 2 values adds 1/(m - 1) per ordered pair
    of its values, so o_ck sums to n_c (value c's pairable count) and to n overall. Then
    alpha = 1 - (n - 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k. Only the off-diagonal sums are needed, and
    a unit contributes (m² - Σ_c m_c²) / (m - 1) to the first. None when no unit has two values
    or only one value was ever used (no expected disagreement)."""
    return _item_figures(_value_counts(units)).krippendorff_alpha


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters who rated the same items (a[i] and b[i] are item i's values).

    None when there are no items, or when chance agreement is 100% (both used a single value)."""
    if len(a) != len(b):
        raise ValueError(f"the two raters rated different numbers of items ({len(a)} and {len(b)})")
    count_a, count_b = Counter(a), Counter(b)
    return _chance_corrected(
        agreed=sum(x == y for x, y in zip(a, b, strict=True)),
        chance=sum(count_a[value] * count_b[value] for value in count_a),
        n=len(a),
    )


@dataclass(frozen=True)
class ItemFigures:
    """The coefficients that compare every coder of an item with every other."""

    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None


def _value_counts(items: Iterable[Sequence[Hashable]]) -> np.ndarray:
    """counts[i, j]: how many raters gave item i the j-th value seen."""
    columns: dict[Hashable, int] = {}
    rows, cols = [], []
    for row, ratings in enumerate(items):
        rows.extend([row] * len(ratings))
        cols.extend(columns.setdefault(value, len(columns)) for value in ratings)
    counts = np.zeros((max(rows, default=-1) + 1, len(columns)), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    return counts


def _item_figures(counts: np.ndarray) -> ItemFigures:
    """Percent agreement, Fleiss' kappa and Krippendorff's alpha from counts[i, j], the number of
    raters who gave item i value j, in one pass: an item's share of agreeing pairs is Fleiss' P_i,
    and the value totals are both Fleiss' p_j (as counts) and Krippendorff's n_c."""
    raters = counts.sum(axis=1)
    counts, raters = counts[raters >= 2], raters[raters >= 2]  # one rating is compared with nothing
    if not raters.size:
        return ItemFigures(None, None, None)
    squares = (counts * counts).sum(axis=1)
    observed = float(np.mean((squares - raters) / (raters * (raters - 1))))
    disagreeing = float(np.sum((raters * raters - squares) / (raters - 1)))  # Σ_{c≠k} o_ck
    totals = counts.sum(axis=0)
    ratings, total_squares = int(totals.sum()), int((totals * totals).sum())
    # Integers: "chance agreement is exactly 1" must not depend on rounding.
    if total_squares == ratings * ratings:
        return ItemFigures(observed, None, None)
    chance = total_squares / (ratings * ratings)
    return ItemFigures(
        percent_agreement=observed,
        fleiss_kappa=(observed - chance) / (1 - chance),
        krippendorff_alpha=1 - (ratings - 1) * disagreeing / (ratings * ratings - total_squares),
    )


def _chance_corrected(*, agreed: int, chance: int, n: int) -> float | None:
    """Cohen's (p_o - p_e) / (1 - p_e) with p_o = agreed / n and p_e = chance / n², in integers
    so that a chance agreement of exactly 1 (no kappa) is recognised without rounding."""
    if n == 0 or chance == n * n:
        return None
    return (agreed * n - chance) / (n * n - chance)


def confusion_matrix(pairs: Iterable[tuple[Hashable, Hashable]], labels: Sequence[Hashable]) -> list[list[int]]:
    """counts[i][j] = how many pairs were (labels[i], labels[j]); rows are the pairs' first value."""
    index = {label: position for position, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for row, column in pairs:
        if row not in index or column not in index:
            raise ValueError(f"({row!r}, {column!r}) uses a value missing from the labels")
        counts[index[row]][index[column]] += 1
    return counts


def mean_of_defined(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when none is defined."""
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else None


# --- The report of one label schema -------------------------------------------------------------

IMPORTED_CODER = "Imported"


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement on one label as a yes/no question: did the coder give this label or not."""

    label: str
    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    items: int  # records both labeled
    cohen_kappa: float | None
    percent_agreement: float | None


@dataclass(frozen=True)
class AnnotatorAgreement:
    annotator: str
    items_labeled: int
    items_with_final: int
    agreement_with_final: float | None  # share of those items where the answer equals the final one
    gold_items: int
    agreement_with_gold: float | None
    median_seconds: float | None
    items_per_hour: float | None  # 3600 / mean seconds per item


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: list[str]
    counts: list[list[int]]  # counts[i][j]: annotators said labels[i] where the final label is labels[j]


@dataclass(frozen=True)
class AgreementReport:
    """Agreement figures of one label schema. Shares (percent agreement, agreement with final and
    gold) are between 0 and 1. Multi-label schemas are compared label by label as yes/no
    questions; their overall figures and pair kappas are the means over labels."""

    dataset: str
    schema: str
    kind: str
    imported_counted: bool
    coders: int
    items: int  # records labeled by two coders or more: the only ones agreement can be measured on
    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    pairs: list[PairAgreement] = field(default_factory=list)
    labels: list[LabelAgreement] = field(default_factory=list)
    annotators: list[AnnotatorAgreement] = field(default_factory=list)
    confusion: ConfusionMatrix | None = None  # single-label only

    def as_dict(self) -> dict:
        return asdict(self)


def agreement_report(*, schema: LabelSchema) -> AgreementReport:
    """Read every annotation of `schema` (in five queries, whatever their number) and measure how
    far its coders agree: annotators, plus the imported labels as one coder named "Imported" when
    the dataset says they count. Model predictions are never coders; an answer marked unsure
    counts like any other (it is still the annotator's answer).

    "Agreement with final labels" compares with final labels that say more than the annotator's own
    answer: those a reviewer decided, and those settled by the unanimous votes of two or more
    annotators (a record labeled by one person alone would agree with itself); "with gold" only
    with records a reviewer marked gold."""
    dataset = schema.dataset
    multi = schema.kind == LabelSchema.Kind.MULTI
    label_names = dict(Label.objects.filter(schema=schema).values_list("id", "name"))  # in the schema's order
    column = {label_id: position for position, label_id in enumerate(label_names)}

    annotations = Annotation.objects.filter(schema=schema)
    if not dataset.agreement_counts_imported:
        annotations = annotations.filter(source=Annotation.Source.HUMAN)
    labels_of: dict[int, set[int]] = defaultdict(set)
    for annotation_id, label_id in Annotation.labels.through.objects.filter(
        annotation__in=annotations.values("pk")
    ).values_list("annotation_id", "label_id"):
        if label_id in column:  # a label of another schema would be a broken row; it says nothing here
            labels_of[annotation_id].add(label_id)

    # answers[record][coder] = the coder's value: a label id (single-label) or a frozenset of label
    # ids (multi-label, empty meaning "none applies"). Imported annotations have no annotator, so
    # the coder None is the imported source.
    answers: dict[int, dict[int | None, int | frozenset]] = defaultdict(dict)
    by_coder: dict[int | None, dict[int, int | frozenset]] = defaultdict(dict)  # the same, coder first
    seconds: dict[int | None, list[float]] = defaultdict(list)
    for annotation_id, record_id, annotator_id, seconds_spent in annotations.values_list(
        "id", "record", "annotator", "seconds_spent"
    ):
        labels = labels_of.get(annotation_id, set())
        if multi:
            value = frozenset(labels)
        elif len(labels) == 1:
            (value,) = labels
        else:
            continue  # a single-label answer without exactly one label says nothing to compare
        answers[record_id][annotator_id] = value
        by_coder[annotator_id][record_id] = value
        if seconds_spent is not None:
            seconds[annotator_id].append(seconds_spent)

    final, gold_records = _final_answers(schema=schema, multi=multi, label_ids=column.keys())
    names = _coder_names(set(by_coder))
    # People by username, the imported source last.
    coders = sorted(names, key=lambda coder: (coder is None, names[coder]))
    rank = {coder: position for position, coder in enumerate(coders)}
    shared = [list(coded.values()) for coded in answers.values() if len(coded) >= 2]

    # label_counts[i, j]: how many coders of shared item i gave label j. For a single-label schema
    # these are the items' value counts; for any schema, label j's yes/no counts per item are
    # column j and the item's other coders.
    label_counts = _label_counts(shared, column)
    coders_per_item = np.array([len(values) for values in shared], dtype=np.int64)
    per_label = [
        LabelAgreement(name, **asdict(_item_figures(np.column_stack([yes, coders_per_item - yes]))))
        for name, yes in zip(label_names.values(), label_counts.T, strict=True)
    ]
    if multi:
        overall = ItemFigures(
            **{
                name: mean_of_defined(getattr(figures, name) for figures in per_label)
                for name in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha")
            }
        )
    else:
        overall = _item_figures(label_counts)

    return AgreementReport(
        dataset=dataset.name,
        schema=schema.name,
        kind=schema.kind,
        imported_counted=dataset.agreement_counts_imported,
        coders=len(coders),
        items=len(shared),
        percent_agreement=overall.percent_agreement,
        fleiss_kappa=overall.fleiss_kappa,
        krippendorff_alpha=overall.krippendorff_alpha,
        pairs=_pair_agreements(answers=answers, names=names, rank=rank, column=column, multi=multi),
        labels=per_label,
        annotators=[
            _annotator_agreement(
                name=names[coder],
                answers=by_coder[coder],
                final=final,
                gold_records=gold_records,
                seconds=seconds[coder],
            )
            for coder in coders
        ],
        confusion=None if multi else _confusion(answers=answers, final=final, label_names=label_names),
    )


def _final_answers(
    *, schema: LabelSchema, multi: bool, label_ids: Iterable[int]
) -> tuple[dict[int, int | frozenset], set[int]]:
    """Per record, the final answer where its RecordState has final labels, and the gold records."""
    final_labels: dict[int, set[int]] = defaultdict(set)
    gold_records = set()
    for record_id, status, people, label_id in RecordState.final_labels.through.objects.filter(
        recordstate__schema=schema
    ).values_list("recordstate__record", "recordstate__status", "recordstate__human_annotations", "label_id"):
        if label_id not in label_ids:
            continue  # as for annotations: another schema's label is a broken row
        if status == RecordState.Status.LABELED and people < 2:
            continue  # one person's own answer, settled automatically: no yardstick for them
        final_labels[record_id].add(label_id)
        if status == RecordState.Status.GOLD:
            gold_records.add(record_id)
    if multi:
        return {record_id: frozenset(labels) for record_id, labels in final_labels.items()}, gold_records
    # A single-label record with several final labels has no one answer to compare with.
    final = {record_id: next(iter(labels)) for record_id, labels in final_labels.items() if len(labels) == 1}
    return final, gold_records & final.keys()


def _coder_names(coders: set[int | None]) -> dict[int | None, str]:
    people = get_user_model().objects.filter(pk__in=[coder for coder in coders if coder is not None])
    names: dict[int | None, str] = dict(people.values_list("pk", "username"))
    if None in coders:
        names[None] = IMPORTED_CODER
    return names


def _confusion(*, answers: dict, final: dict, label_names: dict[int, str]) -> ConfusionMatrix:
    """Every coder's label against the final label, on the records that have one."""
    pairs = (
        (value, final[record_id])
        for record_id, coded in answers.items()
        if record_id in final
        for value in coded.values()
    )
    return ConfusionMatrix(labels=list(label_names.values()), counts=confusion_matrix(pairs, list(label_names)))


def _label_counts(rows: Iterable[Iterable[int | frozenset]], column: dict[int, int]) -> np.ndarray:
    """counts[i, j]: how many answers of row i include the j-th label of the schema."""
    cells = [
        (row, column[label_id])
        for row, answers in enumerate(rows)
        for answer in answers
        for label_id in (answer if isinstance(answer, frozenset) else (answer,))
    ]
    row_count = max((row for row, _ in cells), default=-1) + 1
    counts = np.zeros((row_count, len(column)), dtype=np.int64)
    if cells:
        np.add.at(counts, tuple(np.array(cells).T), 1)
    return counts


def _pair_agreements(*, answers: dict, names: dict, rank: dict, column: dict, multi: bool) -> list[PairAgreement]:
    """Cohen's kappa and the share of equal answers for every two coders with records in common."""
    both: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for coded in answers.values():
        for first, second in combinations(sorted(coded, key=rank.__getitem__), 2):
            firsts, seconds = both[first, second]
            firsts.append(coded[first])
            seconds.append(coded[second])
    pairs = []
    for (first, second), (a, b) in sorted(both.items(), key=lambda pair: (rank[pair[0][0]], rank[pair[0][1]])):
        if multi:
            kappa, agreement = _mean_over_labels(a, b, column)
        else:
            kappa = cohen_kappa(a, b)
            agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        pairs.append(PairAgreement(names[first], names[second], len(a), kappa, agreement))
    return pairs


def _mean_over_labels(a: list[frozenset], b: list[frozenset], column: dict) -> tuple[float | None, float | None]:
    """Two coders' multi-label answers, each label a yes/no question: Cohen's kappa and the share
    of equal answers, both averaged over the labels."""
    if not column:
        return None, None
    n = len(a)
    said_a = _label_counts(([answer] for answer in a), column).astype(bool)
    said_b = _label_counts(([answer] for answer in b), column).astype(bool)
    agreed = (said_a == said_b).sum(axis=0)
    yes_a, yes_b = said_a.sum(axis=0), said_b.sum(axis=0)
    chance = yes_a * yes_b + (n - yes_a) * (n - yes_b)
    kappas = [_chance_corrected(agreed=int(g), chance=int(c), n=n) for g, c in zip(agreed, chance, strict=True)]
    return mean_of_defined(kappas), float(agreed.mean()) / n


def _annotator_agreement(
    *, name: str, answers: dict[int, int | frozenset], final: dict, gold_records: set[int], seconds: list[float]
) -> AnnotatorAgreement:
    """One coder's answers (record -> value) against the final and the gold answers."""
    with_final = [answers[record_id] == final[record_id] for record_id in answers.keys() & final.keys()]
    with_gold = [answers[record_id] == final[record_id] for record_id in answers.keys() & gold_records]
    mean_seconds = statistics.fmean(seconds) if seconds else None
    return AnnotatorAgreement(
        annotator=name,
        items_labeled=len(answers),
        items_with_final=len(with_final),
        agreement_with_final=sum(with_final) / len(with_final) if with_final else None,
        gold_items=len(with_gold),
        agreement_with_gold=sum(with_gold) / len(with_gold) if with_gold else None,
        median_seconds=statistics.median(seconds) if seconds else None,
        # With no time recorded (or only zeros) the rate is unknown, not infinite.
        items_per_hour=3600 / mean_seconds if mean_seconds else None,
    )
