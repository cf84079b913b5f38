"""The dashboard's charts: their numbers are what was created, scoped to the person's datasets."""

import json
import statistics
from datetime import datetime, time, timedelta

from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labeling.models import Annotation, LabelSchema, RecordState
from labeling.services.agreement import agreement_report, krippendorff_alpha_nominal
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    LabelFactory,
    LabelSchemaFactory,
    RecordFactory,
    UserFactory,
)

DASHBOARD = reverse("admin:index")
STATUSES = ["Unlabeled", "In progress", "Labeled", "Disputed", "Reviewed", "Gold"]


def open_dashboard(persona):
    response = persona.client.get(DASHBOARD)
    assert response.status_code == 200
    return response


def chart(response, name: str) -> dict:
    """The data the named chart's canvas hands to Chart.js, as the browser reads it."""
    canvas = BeautifulSoup(response.text, "html.parser").select_one(f'[data-chart="{name}"] canvas')
    assert canvas is not None, f"no {name} chart on the page"
    return json.loads(canvas["data-value"])


def series(data: dict) -> dict[str, list]:
    return {line["label"]: line["data"] for line in data["datasets"]}


def per_status(data: dict, bar: int = 0) -> dict[str, int]:
    return {line["label"]: line["data"][bar] for line in data["datasets"]}


def with_states(schema, statuses: list[str]) -> list[RecordState]:
    """One record of the schema's dataset per status, each with its RecordState."""
    return [
        RecordState.objects.create(record=RecordFactory(dataset=schema.dataset), schema=schema, status=status)
        for status in statuses
    ]


def made_at(annotation: Annotation, moment: datetime) -> Annotation:
    Annotation.objects.filter(pk=annotation.pk).update(created_at=moment)
    return annotation


def noon(days_ago: int) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(12)))


# --- Progress per dataset -------------------------------------------------------------------------


def test_progress_counts_records_per_status_and_those_without_state_as_unlabeled(data_lead):
    schema = LabelSchemaFactory(dataset=data_lead.dataset)
    S = RecordState.Status
    with_states(schema, [S.IN_PROGRESS] * 2 + [S.LABELED] + [S.DISPUTED] * 3 + [S.REVIEWED] + [S.GOLD] + [S.UNLABELED])
    RecordFactory.create_batch(2, dataset=data_lead.dataset)  # no RecordState yet

    data = chart(open_dashboard(data_lead), "progress")

    assert data["labels"] == [data_lead.dataset.name]
    assert per_status(data) == {
        "Unlabeled": 3,
        "In progress": 2,
        "Labeled": 1,
        "Disputed": 3,
        "Reviewed": 1,
        "Gold": 1,
    }


def test_progress_counts_every_record_of_a_dataset_without_label_set_as_unlabeled(data_lead):
    RecordFactory.create_batch(4, dataset=data_lead.dataset)

    data = chart(open_dashboard(data_lead), "progress")

    assert per_status(data) == {status: 4 if status == "Unlabeled" else 0 for status in STATUSES}


def test_progress_shows_one_bar_per_label_set_of_a_dataset_with_several(data_lead):
    topic = LabelSchemaFactory(dataset=data_lead.dataset, name="Topic")
    LabelSchemaFactory(dataset=data_lead.dataset, name="Sentiment")
    with_states(topic, [RecordState.Status.LABELED])

    data = chart(open_dashboard(data_lead), "progress")

    name = data_lead.dataset.name
    assert data["labels"] == [f"{name} · Sentiment", f"{name} · Topic"]
    assert series(data)["Labeled"] == [0, 1]
    assert series(data)["Unlabeled"] == [1, 0]  # the one record, not yet started under Sentiment


# --- Labels -------------------------------------------------------------------------------------


def test_label_chart_counts_final_labels_and_peoples_annotations_per_label(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    positive, negative, neutral = (LabelFactory(schema=schema, name=name, order=i) for i, name in enumerate("+-0"))
    states = with_states(schema, [RecordState.Status.LABELED] * 3)
    states[0].final_labels.set([positive])
    states[1].final_labels.set([positive])
    states[2].final_labels.set([negative])
    for state, labels in [(states[0], [positive]), (states[0], [positive]), (states[2], [negative])]:
        AnnotationFactory(record=state.record, schema=schema, labels=labels)
    Annotation.objects.create(record=states[1].record, schema=schema, source=Annotation.Source.IMPORTED).labels.set(
        [neutral]
    )  # a source, not a person: counts nowhere here

    data = chart(open_dashboard(reviewer), "labels")

    assert data["labels"] == ["+", "-", "0"]
    assert series(data) == {"Records with this final label": [2, 1, 0], "Annotations by people": [2, 1, 0]}


def test_annotator_label_chart_shows_only_their_own_annotations(annotator):
    schema = LabelSchemaFactory(dataset=annotator.dataset)
    mine, theirs = LabelFactory(schema=schema, name="mine"), LabelFactory(schema=schema, name="theirs")
    record = RecordFactory(dataset=annotator.dataset)
    AnnotationFactory(record=record, schema=schema, annotator=annotator.user, labels=[mine])
    AnnotationFactory.create_batch(3, record__dataset=annotator.dataset, schema=schema, labels=[theirs])
    state = RecordState.objects.create(record=record, schema=schema, status=RecordState.Status.LABELED)
    state.final_labels.set([theirs])  # decided from others' votes: still not for an annotator's eyes

    data = chart(open_dashboard(annotator), "labels")

    assert series(data) == {"Your annotations": [1, 0]}


def test_label_chart_names_the_label_set_of_labels_with_the_same_name(reviewer):
    second = DatasetFactory(name="Aardvark support", members=[reviewer.user])  # sorts first
    first_positive = LabelFactory(schema=LabelSchemaFactory(dataset=reviewer.dataset), name="positive")
    second_positive = LabelFactory(schema=LabelSchemaFactory(dataset=second), name="positive")
    AnnotationFactory(record__dataset=reviewer.dataset, schema=first_positive.schema, labels=[first_positive])
    AnnotationFactory(record__dataset=second, schema=second_positive.schema, labels=[second_positive])

    data = chart(open_dashboard(reviewer), "labels")

    assert data["labels"] == [["positive", "Aardvark support"], ["positive", reviewer.dataset.name]]


# --- Throughput ---------------------------------------------------------------------------------


def test_throughput_counts_annotations_per_day_for_30_days_with_empty_days_as_zero(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    for days_ago, how_many in [(0, 2), (2, 3), (29, 1), (30, 4)]:  # 30 days ago is out of the window
        for annotation in AnnotationFactory.create_batch(how_many, record__dataset=reviewer.dataset, schema=schema):
            made_at(annotation, noon(days_ago))
    imported = Annotation.objects.create(
        record=RecordFactory(dataset=reviewer.dataset), schema=schema, source=Annotation.Source.IMPORTED
    )
    made_at(imported, noon(0))

    data = chart(open_dashboard(reviewer), "throughput")

    expected = [0] * 30
    expected[-1], expected[-3], expected[0] = 2, 3, 1
    assert series(data) == {"Annotations": expected}
    today, first = timezone.localdate(), timezone.localdate() - timedelta(days=29)
    assert data["labels"][-1] == f"{today:%b} {today.day}"
    assert data["labels"][0] == f"{first:%b} {first.day}"


def test_annotator_throughput_counts_only_their_own_annotations(annotator):
    schema = LabelSchemaFactory(dataset=annotator.dataset)
    AnnotationFactory(record__dataset=annotator.dataset, schema=schema, annotator=annotator.user)
    AnnotationFactory.create_batch(5, record__dataset=annotator.dataset, schema=schema)

    data = chart(open_dashboard(annotator), "throughput")

    assert series(data) == {"Your annotations": [0] * 29 + [1]}


# --- Agreement ----------------------------------------------------------------------------------


def test_agreement_is_krippendorffs_alpha_of_each_weeks_annotations(reviewer):
    # Given two people who agree on both records this week, and last week on two records of three
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    a, b = LabelFactory(schema=schema, name="a"), LabelFactory(schema=schema, name="b")
    ann, bob = UserFactory(role="Annotator"), UserFactory(role="Annotator")
    this_monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    this_week = timezone.make_aware(datetime.combine(this_monday, time(0, 30)))
    last_week = this_week - timedelta(days=5)
    for moment, pairs in [(this_week, [(a, a), (b, b)]), (last_week, [(a, a), (b, b), (a, b)])]:
        for first, second in pairs:
            record = RecordFactory(dataset=reviewer.dataset)
            made_at(AnnotationFactory(record=record, schema=schema, annotator=ann, labels=[first]), moment)
            made_at(AnnotationFactory(record=record, schema=schema, annotator=bob, labels=[second]), moment)
    # and a record whose two answers fall in different weeks: no unit for either week
    record = RecordFactory(dataset=reviewer.dataset)
    made_at(AnnotationFactory(record=record, schema=schema, annotator=ann, labels=[a]), last_week - timedelta(days=7))
    made_at(AnnotationFactory(record=record, schema=schema, annotator=bob, labels=[b]), this_week)

    data = chart(open_dashboard(reviewer), "agreement")

    # Last week by hand: n = 6 values (3 a, 3 b), one disagreeing unit adds 2 to the observed
    # disagreement, expected = 6² - (3² + 3²) = 18: alpha = 1 - 5 * 2 / 18 = 4/9.
    assert series(data) == {reviewer.dataset.name: [None] * 10 + [0.444, 1.0]}
    assert data["labels"][-1] == f"{this_monday:%b} {this_monday.day}"


def test_multi_label_agreement_is_the_mean_of_each_labels_alpha_as_on_the_agreement_page(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset, kind=LabelSchema.Kind.MULTI)
    a, b, c = (LabelFactory(schema=schema, name=name) for name in "abc")
    people = [UserFactory(role="Annotator") for _ in range(3)]
    answers = [([a, b], [a, b], [a]), ([a], [a, b], []), ([b], [b], [b, c]), ([], [], [a])]
    for record_answers in answers:
        record = RecordFactory(dataset=reviewer.dataset)
        for person, labels in zip(people, record_answers, strict=True):
            AnnotationFactory(record=record, schema=schema, annotator=person, labels=labels)

    data = chart(open_dashboard(reviewer), "agreement")

    # Label by label (yes/no per record) people split on 2 records of 4 about a, 2 about b, 1 about
    # c: the chart shows the mean of those three alphas, the agreement page's overall figure.
    report = agreement_report(schema=schema)
    expected = statistics.mean(label.krippendorff_alpha for label in report.labels)
    assert series(data)[reviewer.dataset.name][-1] == round(report.krippendorff_alpha, 3) == round(expected, 3)
    # and not the alpha of whole label sets, which is lower here
    whole_sets = krippendorff_alpha_nominal(
        [tuple(",".join(sorted(label.name for label in labels)) for labels in unit) for unit in answers]
    )
    assert whole_sets < report.krippendorff_alpha


def test_agreement_shows_an_explanation_while_nobody_labeled_the_same_records(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    AnnotationFactory.create_batch(
        3, record__dataset=reviewer.dataset, schema=schema, labels=[LabelFactory(schema=schema)]
    )

    page = open_dashboard(reviewer).text

    assert 'data-chart="agreement"' not in page
    assert "overlap to 2 or more" in page


# --- Open disputes ------------------------------------------------------------------------------


def test_open_disputes_are_counted_per_label_set_with_a_link_to_its_review_queue(reviewer):
    busy = LabelSchemaFactory(dataset=reviewer.dataset, name="Topic")
    calm = LabelSchemaFactory(dataset=reviewer.dataset, name="Sentiment")
    with_states(busy, [RecordState.Status.DISPUTED] * 3 + [RecordState.Status.REVIEWED])
    with_states(calm, [RecordState.Status.DISPUTED, RecordState.Status.LABELED])
    with_states(LabelSchemaFactory(dataset=reviewer.other_dataset), [RecordState.Status.DISPUTED] * 5)

    response = open_dashboard(reviewer)

    data = chart(response, "disputes")
    name = reviewer.dataset.name
    assert data["labels"] == [f"{name} · Topic", f"{name} · Sentiment"]
    assert series(data) == {"Open disputes": [3, 1]}
    links = BeautifulSoup(response.text, "html.parser").select("a[href*='/review/']")
    assert [link["href"] for link in links] == [
        reverse("admin:labeling_review", args=[busy.pk]),
        reverse("admin:labeling_review", args=[calm.pk]),
    ]


def test_ml_engineer_sees_open_disputes_without_review_links(ml_engineer):
    with_states(LabelSchemaFactory(dataset=ml_engineer.dataset), [RecordState.Status.DISPUTED])

    response = open_dashboard(ml_engineer)

    assert series(chart(response, "disputes")) == {"Open disputes": [1]}
    assert "/review/" not in response.text


def test_annotator_dashboard_has_no_disputes_card(annotator):
    with_states(LabelSchemaFactory(dataset=annotator.dataset), [RecordState.Status.DISPUTED])

    page = open_dashboard(annotator).text

    assert 'data-chart="disputes"' not in page
    assert "Open disputes" not in page


# --- Scope, safety, speed -----------------------------------------------------------------------


def test_charts_count_nothing_from_datasets_the_person_is_not_member_of(reviewer):
    other = LabelSchemaFactory(dataset=reviewer.other_dataset)
    label = LabelFactory(schema=other, name="elsewhere")
    for state in with_states(other, [RecordState.Status.LABELED, RecordState.Status.DISPUTED]):
        state.final_labels.set([label])
        AnnotationFactory(record=state.record, schema=other, labels=[label])
    LabelFactory(schema=LabelSchemaFactory(dataset=reviewer.dataset), name="here")

    response = open_dashboard(reviewer)

    assert chart(response, "progress")["labels"] == [reviewer.dataset.name]
    assert series(chart(response, "throughput")) == {"Annotations": [0] * 30}
    assert 'data-chart="labels"' not in response.text  # nothing labeled here yet
    assert "elsewhere" not in response.text
    assert reviewer.other_dataset.name not in response.text


def test_dataset_and_label_names_reach_the_charts_as_inert_text(reviewer):
    trap = '<img src=x onerror="alert(1)">"></canvas><script>alert(2)</script>'
    reviewer.dataset.name = trap
    reviewer.dataset.save()
    schema = LabelSchemaFactory(dataset=reviewer.dataset)
    label = LabelFactory(schema=schema, name="<b>bold</b>")
    AnnotationFactory(record__dataset=reviewer.dataset, schema=schema, labels=[label])

    response = open_dashboard(reviewer)

    assert "<img src=x" not in response.text
    assert "<script>alert(2)" not in response.text
    assert "<b>bold</b>" not in response.text
    # ... while the charts still get the names exactly, as data.
    assert chart(response, "progress")["labels"] == [trap[:39] + "…"]
    assert chart(response, "labels")["labels"] == ["<b>bold</b>"]


def test_dashboard_needs_the_same_few_queries_for_many_records(data_lead):
    schema = LabelSchemaFactory(dataset=data_lead.dataset)
    label = LabelFactory(schema=schema)

    def queries_with(records: int) -> int:
        for state in with_states(schema, [RecordState.Status.LABELED] * records):
            AnnotationFactory(record=state.record, schema=schema, labels=[label])
            state.final_labels.set([label])
        with CaptureQueriesContext(connection) as queries:
            open_dashboard(data_lead)
        return len(queries)

    assert queries_with(2) == queries_with(20)
