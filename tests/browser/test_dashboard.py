"""The dashboard, seen in a real browser after a real sign-in."""

import html
import random
import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from corpus.models import Record
from corpus.text import content_hash
from labeling.models import Annotation, Label, RecordState
from tests.conftest import make_persona, sign_in
from tests.factories import AnnotationFactory, DatasetFactory, LabelSchemaFactory, RecordFactory, UserFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def test_data_lead_logs_in_and_sees_their_dashboard(live_server, page, transactional_db):
    persona = make_persona("data_lead")
    records = RecordFactory.create_batch(3, dataset=persona.dataset)
    RecordFactory.create_batch(2, dataset=persona.other_dataset)  # must count nowhere on this dashboard
    AnnotationFactory(record=records[0])
    AnnotationFactory(record=RecordFactory(dataset=persona.other_dataset))

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    sign_in(page, live_server, persona.user)

    content = page.locator("#content")
    text = " ".join(content.inner_text().split())
    assert persona.dataset.name in text
    # Each KPI card holds its title in a <p> and the value right after it.
    kpi = content.locator("p", has_text=re.compile(r"^\s*Records\s*$")).locator("xpath=..")
    assert " ".join(kpi.inner_text().split()) == "Records 3"  # the other team's 3 records are not counted
    assert "Datasets 1" in text
    assert "Labeled share 33.3%" in text
    # Neither as rendered text nor in the markup (where Django escapes its apostrophe).
    other = persona.other_dataset.name
    assert other not in page.locator("body").inner_text()
    assert other not in page.content()
    assert html.escape(other) not in page.content()
    assert dialogs == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_signed_out_visit_to_admin_lands_on_login_page(live_server, page):
    page.goto(live_server.url + "/admin/")
    assert "/admin/login/" in page.url
    assert page.locator("input[name=password]").is_visible()


SENTIMENT = [("positive", "#22c55e"), ("negative", "#ef4444"), ("neutral", "#94a3b8"), ("mixed", "#f59e0b")]


def seed_labeled_dataset(dataset, *, annotators, records: int, seed: int) -> None:
    """A dataset part-way through labeling: pairs of annotators over the last twelve weeks,
    agreeing more as weeks pass, with the statuses their answers lead to."""
    rng = random.Random(seed)
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment")
    labels = [
        Label.objects.create(schema=schema, name=name, color=color, order=order, hotkey=str(order + 1))
        for order, (name, color) in enumerate(SENTIMENT)
    ]
    rows = Record.objects.bulk_create(
        Record(dataset=dataset, text=f"{dataset.pk}: review number {n}", content_hash=content_hash(f"{dataset.pk}-{n}"))
        for n in range(records)
    )
    now = timezone.now()
    done = rows[: records * 2 // 3]  # the rest waits in the queue, without a RecordState for some
    for position, record in enumerate(done):
        days_ago = int(84 * (1 - position / len(done)) ** 1.6)
        moment = now - timedelta(days=days_ago, hours=rng.randint(0, 8))
        truth = rng.choices(labels, weights=[5, 3, 2, 1])[0]
        first, second = rng.sample(annotators, 2)
        agreeing = rng.random() < 0.95 - days_ago / 200
        answers = [(first, truth), (second, truth if agreeing else rng.choice(labels))]
        if position % 9 == 0:
            answers = answers[:1]  # the second annotator has yet to come
        for annotator, label in answers:
            annotation = Annotation.objects.create(record=record, schema=schema, annotator=annotator)
            annotation.labels.set([label])
            Annotation.objects.filter(pk=annotation.pk).update(created_at=moment)
        if len(answers) == 1:
            status = RecordState.Status.IN_PROGRESS
        elif answers[0][1] != answers[1][1]:
            status = RecordState.Status.DISPUTED if position % 3 else RecordState.Status.REVIEWED
        else:
            status = RecordState.Status.GOLD if position % 17 == 0 else RecordState.Status.LABELED
        state = RecordState.objects.create(record=record, schema=schema, status=status, human_annotations=len(answers))
        if status not in (RecordState.Status.IN_PROGRESS, RecordState.Status.DISPUTED):
            state.final_labels.set([truth])
    RecordState.objects.bulk_create(RecordState(record=record, schema=schema) for record in rows[len(done) :][::2])


def test_dashboard_charts_render_with_the_teams_figures(live_server, page, transactional_db):
    # Given a data lead of three datasets, one named like an attack, with a team's work in them
    persona = make_persona("data_lead")
    persona.dataset.name = "Product reviews"
    persona.dataset.save()
    annotators = [UserFactory(username=name, role="Annotator") for name in ("ana", "ben", "chen", "dana")]
    support = DatasetFactory(name="Support tickets", members=[persona.user])
    trap = DatasetFactory(name="<img src=x onerror=alert(1)>News", members=[persona.user])
    seed_labeled_dataset(persona.dataset, annotators=annotators, records=180, seed=1)
    seed_labeled_dataset(support, annotators=annotators, records=120, seed=2)
    RecordFactory.create_batch(40, dataset=trap)
    errors, dialogs = [], []
    # The browser's own request for /favicon.ico (the site has none) is no error of the page.
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.location.get("url", "").endswith("/favicon.ico")
            and errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size({"width": 1440, "height": 900})

    # When they sign in
    sign_in(page, live_server, persona.user)

    # Then every chart is drawn by Chart.js, with no error and no name taken for markup
    drawn = page.evaluate(
        """() => [...document.querySelectorAll("[data-chart]")].map(box => {
            const canvas = box.querySelector("canvas");
            const chart = Chart.getChart(canvas);
            return [box.dataset.chart, Boolean(chart), canvas.clientHeight > 50, chart ? chart.data.labels.length : 0];
        })"""
    )
    assert drawn == [
        ["progress", True, True, 3],
        ["disputes", True, True, 2],
        ["throughput", True, True, 30],
        ["agreement", True, True, 12],
        ["labels", True, True, 8],
    ]
    assert errors == []
    assert dialogs == []
    assert page.locator("#content img[src=x]").count() == 0
    assert page.get_by_role("link", name="Review →").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts.png"), full_page=True)
