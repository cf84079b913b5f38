"""Inter-annotator agreement: the coefficients against published worked examples and reference
implementations, then the report of a label schema against figures computed by hand."""

import random

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from labeling.models import Annotation, LabelSchema, RecordState
from labeling.services.agreement import (
    agreement_report,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
)
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
    UserFactory,
)

# --- Published worked examples ------------------------------------------------------------------


def test_cohen_kappa_matches_the_wikipedia_worked_example():
    # Source: Wikipedia, "Cohen's kappa", section "Simple example": 50 proposals, A and B both say
    # yes on 20, A yes / B no on 5, A no / B yes on 10, both no on 15; p_o = 0.7, p_e = 0.5, κ = 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15

    assert cohen_kappa(a, b) == pytest.approx(0.4)


# Source: Wikipedia, "Fleiss' kappa", section "Worked example": 10 subjects, 14 raters each,
# 5 categories; each row counts the raters who chose category 1..5. P̄ = 0.378, P_e = 0.213, κ = 0.210.
WIKIPEDIA_FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def ratings_from_counts(table: list[list[int]]) -> list[list[int]]:
    return [[category for category, count in enumerate(row, start=1) for _ in range(count)] for row in table]


def test_fleiss_kappa_matches_the_wikipedia_worked_example():
    items = ratings_from_counts(WIKIPEDIA_FLEISS_TABLE)

    assert fleiss_kappa(items) == pytest.approx(0.210, abs=5e-4)


def test_percent_agreement_is_the_mean_item_agreement_of_the_wikipedia_fleiss_example():
    # The same source's P̄ (mean over subjects of the share of agreeing rater pairs) = 0.378.
    items = ratings_from_counts(WIKIPEDIA_FLEISS_TABLE)

    assert percent_agreement(items) == pytest.approx(0.378, abs=5e-4)


# Source: Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability", section C
# ("Nominal data, any number of observers, missing data"): 4 observers, 12 units, alpha = 0.743.
# None marks a missing value.
KRIPPENDORFF_2011_NOMINAL = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],  # observer A
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],  # observer B
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],  # observer C
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],  # observer D
]


def units_from_observers(observers: list[list]) -> list[list]:
    return [[row[unit] for row in observers if row[unit] is not None] for unit in range(len(observers[0]))]


def test_krippendorff_alpha_matches_krippendorffs_2011_nominal_example():
    units = units_from_observers(KRIPPENDORFF_2011_NOMINAL)

    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


# --- Other cases, by hand and against reference implementations ----------------------------------


def test_fleiss_kappa_allows_a_different_number_of_raters_per_item():
    # P_1 = (2² - 2) / (2·1) = 1, P_2 = (1 + 2² - 3) / (3·2) = 1/3, P̄ = 2/3;
    # p_a = 3/5, p_b = 2/5, P_e = 13/25; κ = (2/3 - 13/25) / (12/25) = 11/36.
    items = [["a", "a"], ["a", "b", "b"]]

    assert fleiss_kappa(items) == pytest.approx(11 / 36)


def test_items_rated_once_change_no_coefficient():
    items = [["a", "a"], ["a", "b", "b"]]
    with_singletons = [*items, ["b"], [], ["c"]]

    assert fleiss_kappa(with_singletons) == fleiss_kappa(items)
    assert percent_agreement(with_singletons) == percent_agreement(items)
    assert krippendorff_alpha_nominal(with_singletons) == krippendorff_alpha_nominal(items)


def test_cohen_kappa_agrees_with_scikit_learn_on_random_ratings():
    generator = random.Random(20240611)
    for _ in range(200):
        size = generator.randint(2, 40)
        values = generator.sample("abcde", generator.randint(2, 5))
        a = [generator.choice(values) for _ in range(size)]
        b = [generator.choice(values) for _ in range(size)]
        if len(set(a) | set(b)) < 2:
            continue  # scikit-learn answers nan with a warning; see the degenerate case below

        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


observer_rows = st.integers(min_value=2, max_value=6).flatmap(
    lambda observers: st.lists(
        st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=observers, max_size=observers),
        min_size=1,
        max_size=25,
    )
)


@settings(max_examples=300, deadline=None)
@given(observer_rows)
def test_krippendorff_alpha_agrees_with_the_krippendorff_package(units_by_observer):
    # Given units (columns of the package's reliability data) with random missing values
    units = [[value for value in unit if value is not None] for unit in units_by_observer]
    ours = krippendorff_alpha_nominal(units)
    pairable_values = {value for unit in units if len(unit) >= 2 for value in unit}
    if len(pairable_values) < 2:
        # Then only one value can be paired: no expected disagreement, no alpha.
        assert ours is None
        return
    reliability_data = np.array(
        [[np.nan if value is None else value for value in unit] for unit in units_by_observer], dtype=float
    ).T

    # When / then
    theirs = krippendorff.alpha(reliability_data=reliability_data, level_of_measurement="nominal")
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_fleiss_kappa_with_two_raters_equals_krippendorff_alpha_up_to_its_sample_correction():
    # With every item rated twice, alpha = 1 - (n - 1)/n · (1 - κ_Fleiss) (n = number of ratings).
    generator = random.Random(7)
    items = [[generator.choice("xyz"), generator.choice("xyz")] for _ in range(30)]
    n = 60

    kappa = fleiss_kappa(items)

    assert krippendorff_alpha_nominal(items) == pytest.approx(1 - (n - 1) / n * (1 - kappa))


# --- Degenerate cases: None, never a division by zero -------------------------------------------


def test_no_comparable_items_give_no_coefficients():
    only_singletons = [["a"], ["b"], []]

    assert percent_agreement(only_singletons) is None
    assert fleiss_kappa(only_singletons) is None
    assert krippendorff_alpha_nominal(only_singletons) is None
    assert cohen_kappa([], []) is None


def test_everyone_giving_one_and_the_same_value_gives_no_chance_corrected_coefficient():
    # Chance agreement is 100%: kappa and alpha are undefined, while the raw agreement is perfect.
    items = [["a", "a"], ["a", "a", "a"]]

    assert percent_agreement(items) == 1.0
    assert fleiss_kappa(items) is None
    assert krippendorff_alpha_nominal(items) is None
    assert cohen_kappa(["a", "a", "a"], ["a", "a", "a"]) is None


def test_cohen_kappa_refuses_raters_of_different_lengths():
    with pytest.raises(ValueError, match="different numbers of items"):
        cohen_kappa(["a", "b"], ["a"])


def test_percent_agreement_averages_the_share_of_agreeing_pairs_per_item():
    # [a, a, b]: 1 of 3 pairs agree; [a, a]: 1 of 1. Mean = (1/3 + 1) / 2.
    assert percent_agreement([["a", "a", "b"], ["a", "a"]]) == pytest.approx(2 / 3)


def test_confusion_matrix_counts_pairs_by_label_order():
    pairs = [("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("cat", "cat")]

    assert confusion_matrix(pairs, ["dog", "cat"]) == [[1, 0], [1, 2]]


def test_confusion_matrix_refuses_a_value_outside_the_labels():
    with pytest.raises(ValueError, match="missing from the labels"):
        confusion_matrix([("cat", "bird")], ["cat", "dog"])


# --- The report of a label schema ---------------------------------------------------------------


def annotate(record, schema, annotator, *labels, seconds=None):
    return AnnotationFactory(
        record=record, schema=schema, annotator=annotator, labels=list(labels), seconds_spent=seconds
    )


def import_label(record, schema, *labels):
    return AnnotationFactory(
        record=record, schema=schema, annotator=None, source=Annotation.Source.IMPORTED, labels=list(labels)
    )


def decide(record, schema, *labels, status=RecordState.Status.REVIEWED):
    state = RecordState.objects.create(record=record, schema=schema, status=status)
    state.final_labels.set(labels)
    return state


@pytest.fixture
def sentiment(db):
    """Three annotators on five records of a single-label schema, with final labels and one gold.

    record  alice     bob       carol     imported  final
    r1      positive  positive  positive            positive (gold)
    r2      positive  negative            negative  negative
    r3      negative  negative  neutral             negative
    r4                neutral   neutral
    r5      positive                      positive  positive
    """
    dataset = DatasetFactory(name="Reviews")
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment", kind=LabelSchema.Kind.SINGLE)
    pos, neg, neu = (
        LabelFactory(schema=schema, name=name, order=order)
        for order, name in enumerate(["positive", "negative", "neutral"])
    )
    alice, bob, carol = (UserFactory(username=name, role="Annotator") for name in ["alice", "bob", "carol"])
    r1, r2, r3, r4, r5 = RecordFactory.create_batch(5, dataset=dataset)
    annotate(r1, schema, alice, pos, seconds=10)
    annotate(r1, schema, bob, pos, seconds=5)
    annotate(r1, schema, carol, pos)
    annotate(r2, schema, alice, pos, seconds=20)
    annotate(r2, schema, bob, neg, seconds=5)
    annotate(r3, schema, alice, neg, seconds=30)
    annotate(r3, schema, bob, neg, seconds=5)
    annotate(r3, schema, carol, neu)
    annotate(r4, schema, bob, neu, seconds=45)
    annotate(r4, schema, carol, neu)
    annotate(r5, schema, alice, pos)
    import_label(r2, schema, neg)
    import_label(r5, schema, pos)
    # A model's suggestion is never a coder.
    PredictionFactory(record=r4, schema=schema, label=pos)
    decide(r1, schema, pos, status=RecordState.Status.GOLD)
    decide(r2, schema, neg)
    decide(r3, schema, neg)
    decide(r5, schema, pos, status=RecordState.Status.LABELED)
    return schema


def by_name(rows, attribute):
    return {getattr(row, attribute): row for row in rows}


def test_report_measures_records_labeled_by_two_annotators_or_more(sentiment):
    report = agreement_report(schema=sentiment)

    # r1..r4; r5 has one person's label only, and imported labels do not count by default.
    assert report.items == 4
    assert report.coders == 3
    assert report.imported_counted is False


def test_report_overall_figures_match_hand_computation(sentiment):
    report = agreement_report(schema=sentiment)

    # Item agreement: r1 1, r2 0, r3 1/3, r4 1 -> 7/12. Ratings: positive 4, negative 3, neutral 3
    # of 10, so P_e = 0.34 and Fleiss' κ = (7/12 - 0.34) / 0.66 = 73/198. Alpha: D_o sums
    # r2 2/1 + r3 4/2 = 4, D_e = 10² - 34 = 66, alpha = 1 - 9·4/66 = 5/11.
    assert report.percent_agreement == pytest.approx(7 / 12)
    assert report.fleiss_kappa == pytest.approx(73 / 198)
    assert report.krippendorff_alpha == pytest.approx(5 / 11)


def test_report_gives_cohens_kappa_per_pair_of_annotators(sentiment):
    pairs = {(pair.first, pair.second): pair for pair in agreement_report(schema=sentiment).pairs}

    # alice/bob on r1, r2, r3: [p, p, n] vs [p, n, n] -> p_o 2/3, p_e 4/9, κ = 2/5.
    # alice/carol on r1, r3: [p, n] vs [p, u] -> κ = (2 - 1) / (4 - 1) = 1/3.
    # bob/carol on r1, r3, r4: [p, n, u] vs [p, u, u] -> κ = (6 - 3) / (9 - 3) = 1/2.
    assert list(pairs) == [("alice", "bob"), ("alice", "carol"), ("bob", "carol")]
    assert [pair.items for pair in pairs.values()] == [3, 2, 3]
    assert pairs["alice", "bob"].cohen_kappa == pytest.approx(0.4)
    assert pairs["alice", "carol"].cohen_kappa == pytest.approx(1 / 3)
    assert pairs["bob", "carol"].cohen_kappa == pytest.approx(0.5)
    assert pairs["alice", "bob"].percent_agreement == pytest.approx(2 / 3)


def test_report_measures_each_label_as_present_or_absent(sentiment):
    labels = by_name(agreement_report(schema=sentiment).labels, "label")

    # positive: [TTT] [TF] [FFF] [FF] -> agreement 3/4; 4 T, 6 F; alpha = 1 - 9·2/48 = 5/8.
    # negative: [FFF] [FT] [TTF] [FF] -> 7/12; 3 T, 7 F; alpha = 1 - 9·4/42 = 1/7.
    # neutral:  [FFF] [FF] [FFT] [TT] -> 5/6;  3 T, 7 F; alpha = 1 - 9·2/42 = 4/7.
    assert list(labels) == ["positive", "negative", "neutral"]
    assert labels["positive"].percent_agreement == pytest.approx(3 / 4)
    assert labels["positive"].krippendorff_alpha == pytest.approx(5 / 8)
    assert labels["negative"].percent_agreement == pytest.approx(7 / 12)
    assert labels["negative"].krippendorff_alpha == pytest.approx(1 / 7)
    assert labels["neutral"].percent_agreement == pytest.approx(5 / 6)
    assert labels["neutral"].krippendorff_alpha == pytest.approx(4 / 7)


def test_report_compares_each_annotator_with_final_and_gold_labels(sentiment):
    annotators = by_name(agreement_report(schema=sentiment).annotators, "annotator")

    assert list(annotators) == ["alice", "bob", "carol"]
    alice, bob, carol = annotators.values()
    # alice: r1 ✓, r2 ✗, r3 ✓ (r5's final label is her own lone answer: no yardstick);
    # bob: r1, r2, r3 ✓ (r4 has no final label); carol: r1 ✓, r3 ✗.
    assert (alice.items_labeled, alice.items_with_final, alice.agreement_with_final) == (4, 3, pytest.approx(2 / 3))
    assert (bob.items_labeled, bob.items_with_final, bob.agreement_with_final) == (4, 3, 1.0)
    assert (carol.items_labeled, carol.items_with_final, carol.agreement_with_final) == (3, 2, 0.5)
    # Only r1 is gold, and everyone got it right.
    assert [(a.gold_items, a.agreement_with_gold) for a in annotators.values()] == [(1, 1.0)] * 3


def test_report_gives_each_annotators_pace(sentiment):
    annotators = by_name(agreement_report(schema=sentiment).annotators, "annotator")

    # alice: 10, 20, 30 s (one untimed) -> median 20, mean 20 -> 180/h; bob: 5, 5, 5, 45 -> median 5,
    # mean 15 -> 240/h; carol recorded no time.
    assert (annotators["alice"].median_seconds, annotators["alice"].items_per_hour) == (20, pytest.approx(180))
    assert (annotators["bob"].median_seconds, annotators["bob"].items_per_hour) == (5, pytest.approx(240))
    assert (annotators["carol"].median_seconds, annotators["carol"].items_per_hour) == (None, None)


def test_report_confusion_matrix_puts_annotators_labels_against_final_labels(sentiment):
    confusion = agreement_report(schema=sentiment).confusion

    # Rows: what an annotator said; columns: the final label (records r1, r2, r3; r5 was settled by
    # alice alone, so it is no yardstick).
    assert confusion.labels == ["positive", "negative", "neutral"]
    assert confusion.counts == [
        [3, 1, 0],  # positive: r1 x3 right, alice on r2 wrong
        [0, 3, 0],  # negative: bob on r2, alice and bob on r3
        [0, 1, 0],  # neutral: carol on r3
    ]


def test_report_counts_imported_labels_as_one_coder_when_the_dataset_says_so(sentiment):
    sentiment.dataset.agreement_counts_imported = True
    sentiment.dataset.save()

    report = agreement_report(schema=sentiment)

    # r5 now has alice and the imported label; r2 three coders: [p, n, n] -> 1/3.
    # Item agreement: r1 1, r2 1/3, r3 1/3, r4 1, r5 1 -> 11/15.
    assert report.imported_counted is True
    assert (report.coders, report.items) == (4, 5)
    assert report.percent_agreement == pytest.approx(11 / 15)
    assert [a.annotator for a in report.annotators] == ["alice", "bob", "carol", "Imported"]
    pairs = {(pair.first, pair.second): pair.items for pair in report.pairs}
    assert pairs["alice", "Imported"] == 2
    assert pairs["bob", "Imported"] == 1


def test_report_reads_a_fixed_number_of_queries_whatever_the_number_of_records(
    sentiment, django_assert_max_num_queries
):
    schema = LabelSchema.objects.select_related("dataset").get(pk=sentiment.pk)
    people = list(UserFactory.create_batch(3, role="Annotator"))
    label = schema.labels.first()
    for record in RecordFactory.create_batch(30, dataset=schema.dataset):
        for person in people:
            annotate(record, schema, person, label)

    with django_assert_max_num_queries(5):
        report = agreement_report(schema=schema)

    assert report.items == 34


@pytest.fixture
def topics(db):
    """Two annotators on a multi-label schema.

    record  alice               bob
    r1      shipping            shipping, price
    r2      quality             quality
    r3      (none applies)      price
    r4      shipping, quality   shipping
    """
    schema = LabelSchemaFactory(name="Topics", kind=LabelSchema.Kind.MULTI)
    shipping, quality, price = (
        LabelFactory(schema=schema, name=name, order=order)
        for order, name in enumerate(["shipping", "quality", "price"])
    )
    alice, bob = UserFactory(username="alice", role="Annotator"), UserFactory(username="bob", role="Annotator")
    r1, r2, r3, r4 = RecordFactory.create_batch(4, dataset=schema.dataset)
    for record, (by_alice, by_bob) in {
        r1: ([shipping], [shipping, price]),
        r2: ([quality], [quality]),
        r3: ([], [price]),
        r4: ([shipping, quality], [shipping]),
    }.items():
        annotate(record, schema, alice, *by_alice)
        annotate(record, schema, bob, *by_bob)
    decide(r1, schema, shipping, price)
    decide(r2, schema, quality)
    return schema


def test_multi_label_report_measures_each_label_as_present_or_absent(topics):
    labels = by_name(agreement_report(schema=topics).labels, "label")

    # shipping: [TT] [FF] [FF] [TT] -> agreement 1, alpha 1.
    # quality:  [FF] [TT] [FF] [TF] -> 3/4; 3 T, 5 F: alpha = 1 - 7·2/30 = 8/15.
    # price:    [FT] [FF] [FT] [FF] -> 1/2; 2 T, 6 F: alpha = 1 - 7·4/24 = -1/6.
    assert labels["shipping"].percent_agreement == 1.0
    assert labels["shipping"].krippendorff_alpha == pytest.approx(1.0)
    assert labels["quality"].percent_agreement == pytest.approx(3 / 4)
    assert labels["quality"].krippendorff_alpha == pytest.approx(8 / 15)
    assert labels["price"].percent_agreement == pytest.approx(1 / 2)
    assert labels["price"].krippendorff_alpha == pytest.approx(-1 / 6)


def test_multi_label_overall_figures_are_the_means_over_labels(topics):
    report = agreement_report(schema=topics)

    assert report.items == 4
    assert report.percent_agreement == pytest.approx((1 + 3 / 4 + 1 / 2) / 3)
    assert report.krippendorff_alpha == pytest.approx((1 + 8 / 15 - 1 / 6) / 3)
    assert report.confusion is None


def test_multi_label_pair_kappa_is_the_mean_over_labels(topics):
    (pair,) = agreement_report(schema=topics).pairs

    # shipping κ 1; quality [F T F T] vs [F T F F] -> (12 - 8) / (16 - 8) = 1/2;
    # price [F F F F] vs [T F T F] -> (8 - 8) / (16 - 8) = 0.
    assert (pair.first, pair.second, pair.items) == ("alice", "bob", 4)
    assert pair.cohen_kappa == pytest.approx(0.5)


def test_multi_label_answer_agrees_with_the_final_one_only_when_the_sets_are_equal(topics):
    annotators = by_name(agreement_report(schema=topics).annotators, "annotator")

    # r1 final {shipping, price}: alice said {shipping} (no), bob the same set (yes); r2 both yes.
    assert annotators["alice"].agreement_with_final == 0.5
    assert annotators["bob"].agreement_with_final == 1.0


def test_report_of_a_schema_nobody_labeled_twice_has_no_figures(db):
    schema = LabelSchemaFactory()
    label = LabelFactory(schema=schema)
    annotate(RecordFactory(dataset=schema.dataset), schema, UserFactory(role="Annotator"), label)

    report = agreement_report(schema=schema)

    assert report.items == 0
    assert (report.percent_agreement, report.fleiss_kappa, report.krippendorff_alpha) == (None, None, None)
    assert report.pairs == []
    assert report.annotators[0].items_labeled == 1


def test_single_label_answer_without_a_label_is_left_out(db):
    schema = LabelSchemaFactory()
    label = LabelFactory(schema=schema)
    record = RecordFactory(dataset=schema.dataset)
    annotate(record, schema, UserFactory(username="alice", role="Annotator"), label)
    annotate(record, schema, UserFactory(username="bob", role="Annotator"))

    report = agreement_report(schema=schema)

    assert report.items == 0
    assert [a.annotator for a in report.annotators] == ["alice"]
