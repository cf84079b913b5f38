"""The agreement page of a label set: who may open it, that it shows what agreement_report measures,
escaped, with an empty state and a short-lived cache; and the link to it on the dataset page.
A browser test keeps its screenshot in test-artifacts/agreement.png."""

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse

from labeling.models import LabelSchema, RecordState
from labeling.services import agreement as agreement_service
from labeling.services.agreement import agreement_report
from labeling.services.annotate import save_annotation
from labeling.services.queue import prepare_queue
from labeling.views.agreement import read_alpha
from tests.conftest import make_persona, sign_in
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory
from tests.labeling.test_agreement import annotate, decide, import_label

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


@pytest.fixture(autouse=True)
def fresh_cache():
    # The page keeps reports in the cache; a test never sees another test's report.
    cache.clear()
    yield
    cache.clear()


def agreement_url(schema) -> str:
    return reverse("admin:labeling_agreement", args=[schema.pk])


def sentiment_in(dataset, *, names=("alice", "bob", "carol"), label_names=("positive", "negative", "neutral")):
    """Three annotators on five records of a single-label set, with final labels and one gold
    (the layout of tests/labeling/test_agreement.py's `sentiment`, in the given dataset).

    record  alice     bob       carol     imported  final
    r1      positive  positive  positive            positive (gold)
    r2      positive  negative            negative  negative
    r3      negative  negative  neutral             negative
    r4                neutral   neutral
    r5      positive                      positive  positive
    """
    dataset.overlap = 2
    dataset.save(update_fields=["overlap"])
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment", kind=LabelSchema.Kind.SINGLE)
    colors = ["#22c55e", "#ef4444", "#64748b"]
    pos, neg, neu = (
        LabelFactory(schema=schema, name=name, order=order, color=colors[order])
        for order, name in enumerate(label_names)
    )
    alice, bob, carol = (UserFactory(username=name, role="Annotator") for name in names)
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
    decide(r1, schema, pos, status=RecordState.Status.GOLD)
    decide(r2, schema, neg)
    decide(r3, schema, neg)
    decide(r5, schema, pos, status=RecordState.Status.LABELED)
    return schema


def soup_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def text_of(soup: BeautifulSoup, selector: str) -> str:
    return " ".join(soup.select_one(selector).get_text(" ").split())


def table_rows(soup: BeautifulSoup, section_id: str) -> list[list[str]]:
    """The body rows of the table in a section, each cell's text with its spaces tidied."""
    return [
        [" ".join(cell.get_text(" ").split()) for cell in row.find_all("td")]
        for row in soup.select(f"#{section_id} table tbody tr")
    ]


def share(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def number(value, digits=3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


# --- Who may open it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("annotator", 403), ("reviewer", 200), ("data_lead", 200), ("ml_engineer", 200), ("admin", 200)],
)
def test_agreement_page_opens_only_for_roles_that_see_everyones_labels(db, role, expected):
    persona = make_persona(role)
    schema = sentiment_in(persona.dataset)

    response = persona.client.get(agreement_url(schema))

    assert response.status_code == expected


def test_signed_out_visitor_is_sent_to_the_login_page(client, db):
    schema = sentiment_in(make_persona("reviewer").dataset)

    response = client.get(agreement_url(schema))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("role", ["reviewer", "data_lead", "ml_engineer"])
def test_another_teams_label_set_answers_404(db, role):
    persona = make_persona(role)
    theirs = sentiment_in(persona.other_dataset)

    response = persona.client.get(agreement_url(theirs))

    assert response.status_code == 404
    assert b"alice" not in response.content


def test_a_label_set_that_does_not_exist_answers_404(reviewer):
    response = reviewer.client.get(reverse("admin:labeling_agreement", args=[987654]))

    assert response.status_code == 404


def test_the_page_only_answers_reading(reviewer):
    schema = sentiment_in(reviewer.dataset)

    response = reviewer.client.post(agreement_url(schema))

    assert response.status_code == 405


# --- What it shows -----------------------------------------------------------------------------


def test_overall_figures_are_those_of_the_report(reviewer):
    schema = sentiment_in(reviewer.dataset)
    report = agreement_report(schema=schema)

    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    assert text_of(soup, "#figure-coders") == "3"
    assert text_of(soup, "#figure-items") == "4"
    assert text_of(soup, "#figure-percent-agreement") == share(report.percent_agreement) == "58.3%"
    assert text_of(soup, "#figure-fleiss-kappa") == number(report.fleiss_kappa) == "0.369"
    assert text_of(soup, "#figure-krippendorff-alpha") == number(report.krippendorff_alpha) == "0.455"


def test_per_label_rows_are_those_of_the_report(reviewer):
    schema = sentiment_in(reviewer.dataset)
    report = agreement_report(schema=schema)

    rows = table_rows(soup_of(reviewer.client.get(agreement_url(schema))), "agreement-labels")

    assert rows == [
        [row.label, share(row.percent_agreement), number(row.fleiss_kappa), number(row.krippendorff_alpha)]
        for row in report.labels
    ]
    assert [row[0] for row in rows] == ["positive", "negative", "neutral"]


def test_per_annotator_rows_are_those_of_the_report(reviewer):
    schema = sentiment_in(reviewer.dataset)
    report = agreement_report(schema=schema)

    rows = table_rows(soup_of(reviewer.client.get(agreement_url(schema))), "agreement-annotators")

    assert rows == [
        [
            row.annotator,
            str(row.items_labeled),
            f"{share(row.agreement_with_final)} of {row.items_with_final}" if row.items_with_final else "—",
            f"{share(row.agreement_with_gold)} of {row.gold_items}" if row.gold_items else "—",
            number(row.median_seconds, 1),
            number(row.items_per_hour, 0),
        ]
        for row in report.annotators
    ]
    # carol: r1 right, r3 wrong (r4 has no final label); she recorded no time, so her pace is "—".
    assert rows[2] == ["carol", "3", "50.0% of 2", "100.0% of 1", "—", "—"]


def test_pair_rows_are_those_of_the_report(reviewer):
    schema = sentiment_in(reviewer.dataset)
    report = agreement_report(schema=schema)

    rows = table_rows(soup_of(reviewer.client.get(agreement_url(schema))), "agreement-pairs")

    assert rows == [
        [f"{row.first} & {row.second}", str(row.items), number(row.cohen_kappa), share(row.percent_agreement)]
        for row in report.pairs
    ]
    assert [row[0] for row in rows] == ["alice & bob", "alice & carol", "bob & carol"]


def test_confusion_matrix_shows_the_reports_counts_shaded_by_their_share_of_the_row(reviewer):
    schema = sentiment_in(reviewer.dataset)
    report = agreement_report(schema=schema)

    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    rows = table_rows(soup, "agreement-confusion")
    assert rows == [
        [label, *(str(count) for count in counts), str(sum(counts))]
        for label, counts in zip(report.confusion.labels, report.confusion.counts, strict=True)
    ]
    # "positive" was said 4 times on records with a final label: 3 times on r1 (final positive),
    # once by alice on r2 (final negative).
    positive_row = soup.select("#agreement-confusion tbody tr")[0].select("td.agreement-cell")
    assert [cell.get_text() for cell in positive_row] == ["3", "1", "0"]
    assert [cell["style"] for cell in positive_row] == ["--shade: 0.750", "--shade: 0.250", "--shade: 0.000"]
    assert "agreement-cell--agrees" in positive_row[0]["class"]
    assert "agreement-cell--agrees" not in positive_row[1]["class"]


@pytest.mark.parametrize(
    ("alpha", "tone"),
    [(0.95, "good"), (0.8, "good"), (0.79, "tentative"), (0.667, "tentative"), (0.66, "poor"), (-0.2, "poor")],
)
def test_alpha_is_read_with_krippendorffs_thresholds(alpha, tone):
    assert read_alpha(alpha).tone == tone


def test_alpha_that_cannot_be_measured_says_why():
    reading = read_alpha(None)

    assert reading.tone == "unknown"
    assert "same label" in reading.explanation


def test_page_reads_the_overall_alpha_in_plain_words_naming_krippendorffs_thresholds(reviewer):
    schema = sentiment_in(reviewer.dataset)  # alpha 5/11 ≈ 0.455

    reading = text_of(soup_of(reviewer.client.get(agreement_url(schema))), "#agreement-reading p")

    assert reading.startswith("Poor.")
    assert "Krippendorff's own threshold" in reading


@pytest.mark.parametrize(
    ("counted", "says"),
    [(False, "Imported labels are not counted"), (True, "Imported labels count as one more coder")],
)
def test_page_says_whether_imported_labels_count(reviewer, counted, says):
    schema = sentiment_in(reviewer.dataset)
    reviewer.dataset.agreement_counts_imported = counted
    reviewer.dataset.save(update_fields=["agreement_counts_imported"])

    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    assert says in text_of(soup, "#agreement-imported")
    assert text_of(soup, "#figure-coders") == ("4" if counted else "3")


def test_data_lead_gets_a_link_to_change_whether_imported_labels_count(data_lead):
    schema = sentiment_in(data_lead.dataset)

    soup = soup_of(data_lead.client.get(agreement_url(schema)))

    link = soup.select_one("#agreement-imported-link")
    assert link["href"] == reverse("admin:corpus_dataset_change", args=[data_lead.dataset.pk]) + (
        "#id_agreement_counts_imported"
    )


@pytest.mark.parametrize("role", ["reviewer", "ml_engineer"])
def test_people_who_may_not_change_the_dataset_get_no_settings_link(db, role):
    persona = make_persona(role)
    schema = sentiment_in(persona.dataset)

    soup = soup_of(persona.client.get(agreement_url(schema)))

    assert soup.select_one("#agreement-imported-link") is None


def test_usernames_and_label_names_are_shown_escaped(reviewer):
    schema = sentiment_in(
        reviewer.dataset,
        names=("<b>alice</b>", "bob", "carol"),
        label_names=("<img src=x onerror=alert(1)>", "negative", "neutral"),
    )

    response = reviewer.client.get(agreement_url(schema))

    assert b"<img src=x" not in response.content
    assert b"<b>alice</b>" not in response.content
    assert b"&lt;img src=x onerror=alert(1)&gt;" in response.content
    assert b"&lt;b&gt;alice&lt;/b&gt;" in response.content


def test_multi_label_set_shows_per_label_figures_and_no_confusion_matrix(reviewer):
    schema = LabelSchemaFactory(dataset=reviewer.dataset, name="Topics", kind=LabelSchema.Kind.MULTI)
    sport = LabelFactory(schema=schema, name="sport", order=0)
    music = LabelFactory(schema=schema, name="music", order=1)
    ann, ben = UserFactory(username="ann", role="Annotator"), UserFactory(username="ben", role="Annotator")
    for record, (first, second) in zip(
        RecordFactory.create_batch(3, dataset=reviewer.dataset),
        [((sport,), (sport,)), ((sport, music), (music,)), ((), (music,))],
        strict=True,
    ):
        annotate(record, schema, ann, *first)
        annotate(record, schema, ben, *second)
    report = agreement_report(schema=schema)

    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    assert text_of(soup, "#figure-krippendorff-alpha") == number(report.krippendorff_alpha)
    assert [row[0] for row in table_rows(soup, "agreement-labels")] == ["sport", "music"]
    assert soup.select_one("#agreement-confusion") is None
    assert "means over labels" in text_of(soup, ".agreement-subtitle")


# --- Nothing to measure ------------------------------------------------------------------------


def one_person_each(dataset):
    """Records labeled by one person each: the overlap of 1 leaves nothing to compare."""
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment")
    positive = LabelFactory(schema=schema, name="positive")
    ann = UserFactory(username="ann", role="Annotator")
    for record in RecordFactory.create_batch(2, dataset=dataset):
        annotate(record, schema, ann, positive, seconds=4)
    return schema


def test_label_set_nobody_labeled_twice_explains_that_an_overlap_of_two_is_needed(reviewer):
    schema = one_person_each(reviewer.dataset)

    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    empty = text_of(soup, "#agreement-empty")
    assert "Nothing to measure yet" in empty
    assert "The dataset's overlap is 1" in empty
    assert "Set it to 2 or more" in empty
    assert soup.select_one("#figure-krippendorff-alpha") is None
    assert soup.select_one("#agreement-settings-link") is None  # a reviewer cannot change it


def test_data_lead_sees_the_empty_state_with_a_link_to_the_dataset_settings(data_lead):
    schema = one_person_each(data_lead.dataset)

    soup = soup_of(data_lead.client.get(agreement_url(schema)))

    link = soup.select_one("#agreement-settings-link")
    assert link["href"] == reverse("admin:corpus_dataset_change", args=[data_lead.dataset.pk]) + "#id_overlap"


def test_empty_state_still_shows_each_annotators_pace(reviewer):
    schema = one_person_each(reviewer.dataset)

    rows = table_rows(soup_of(reviewer.client.get(agreement_url(schema))), "agreement-annotators")

    assert rows == [["ann", "2", "—", "—", "4.0", "900"]]


# --- The cache ---------------------------------------------------------------------------------


@pytest.fixture
def counted_reports(monkeypatch):
    """Counts how often the page has the report computed."""
    calls = []
    real = agreement_service.agreement_report

    def counting(*, schema):
        calls.append(schema.pk)
        return real(schema=schema)

    monkeypatch.setattr("labeling.views.agreement.agreement_report", counting)
    return calls


def test_a_second_visit_reuses_the_report_while_nothing_changed(reviewer, counted_reports):
    schema = sentiment_in(reviewer.dataset)

    reviewer.client.get(agreement_url(schema))
    reviewer.client.get(agreement_url(schema))

    assert counted_reports == [schema.pk]


def test_a_changed_label_shows_at_once(reviewer, counted_reports):
    # Given a page seen once (bob and carol agreed on r4: neutral)
    schema = sentiment_in(reviewer.dataset)
    before = text_of(soup_of(reviewer.client.get(agreement_url(schema))), "#figure-percent-agreement")
    carol = User.objects.get(username="carol")
    r4 = schema.annotations.get(annotator__username="bob", labels__name="neutral").record

    # When carol changes her answer on r4 (the same number of annotations, one more audit entry)
    prepare_queue(schema=schema)
    save_annotation(schema=schema, record_id=r4.pk, user=carol, label_ids=[schema.labels.get(name="positive").pk])

    # Then the next visit measures again: r4 no longer agrees
    after = text_of(soup_of(reviewer.client.get(agreement_url(schema))), "#figure-percent-agreement")
    assert len(counted_reports) == 2
    assert (before, after) == ("58.3%", "33.3%")


def test_changing_whether_imported_labels_count_shows_at_once(reviewer, counted_reports):
    schema = sentiment_in(reviewer.dataset)
    reviewer.client.get(agreement_url(schema))

    reviewer.dataset.agreement_counts_imported = True
    reviewer.dataset.save(update_fields=["agreement_counts_imported"])
    soup = soup_of(reviewer.client.get(agreement_url(schema)))

    assert len(counted_reports) == 2
    assert text_of(soup, "#figure-coders") == "4"


# --- The way in, on the dataset page -----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees_link"),
    [("annotator", False), ("reviewer", True), ("data_lead", True), ("ml_engineer", True), ("admin", True)],
)
def test_dataset_page_links_to_agreement_only_for_people_who_may_open_it(db, role, sees_link):
    persona = make_persona(role)
    schema = sentiment_in(persona.dataset)

    response = persona.client.get(reverse("admin:corpus_dataset_change", args=[persona.dataset.pk]))

    assert response.status_code == 200
    hrefs = [a["href"] for a in soup_of(response).select("#dataset-labeling a")]
    assert (agreement_url(schema) in hrefs) is sees_link


# --- In a browser ------------------------------------------------------------------------------


def screenshot(page, name: str) -> None:
    """The whole page at a desktop width (the window grows to it, so the fixed sidebar is drawn
    along the full height)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(900, height)})
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_data_lead_opens_agreement_from_the_dataset_page(live_server, page, transactional_db):
    # Given a label set three people labeled with some disagreement
    lead = make_persona("data_lead")
    schema = sentiment_in(lead.dataset)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    # When the data lead follows "Agreement" on the dataset page
    sign_in(page, live_server, lead.user)
    page.goto(live_server.url + reverse("admin:corpus_dataset_change", args=[lead.dataset.pk]))
    page.locator("#dataset-labeling").get_by_role("link", name="Agreement").click()
    page.wait_for_url(f"**{agreement_url(schema)}")

    # Then they see the figures, the tables and the matrix
    assert page.locator("#figure-krippendorff-alpha").inner_text() == "0.455"
    assert page.locator("#agreement-annotators tbody tr").count() == 3
    assert page.locator("#agreement-confusion td.agreement-cell").count() == 9
    screenshot(page, "agreement")
    assert problems == []
