"""A reviewer settles disputed records in a real browser, by keyboard."""

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from labeling.models import LabelEvent, RecordState
from labeling.services.review import review_record
from tests.conftest import make_persona, sign_in
from tests.factories import DocumentFactory, PredictionFactory, RecordFactory
from tests.labeling.review_scenarios import annotate, annotators, imported_annotation, label, noun_schema

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def screenshot(page, name: str) -> None:
    """The whole page at a desktop width; the window grows to it, so the admin's fixed sidebar is
    drawn once along the full height instead of being cut by a scrolling capture."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(900, height)})
    page.screenshot(path=str(ARTIFACTS / f"review-{name}.png"))


def watch_for_errors(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    return problems


def test_reviewer_resolves_a_disagreement_by_keyboard(live_server, page, transactional_db):
    # Given two annotators who disagreed on a record (and two more records waiting)
    reviewer = make_persona("reviewer")
    schema = noun_schema(reviewer.dataset)
    ann, bob = annotators(schema.dataset, "ann", "bob")
    document = DocumentFactory(dataset=schema.dataset, original_name="wordnet-nouns.pdf")
    tomato = RecordFactory(
        dataset=schema.dataset,
        text="tomato: mildly acid red or yellow pulpy fruit eaten as a vegetable <b>not bold</b>",
        document=document,
        page=3,
        position=11,
    )
    annotate(schema, tomato, ann, "plant", comment="it grows on a vine")
    annotate(schema, tomato, bob, "food", unsure=True, comment="botanically a fruit, but we eat it")
    imported_annotation(schema, tomato, "food")
    PredictionFactory(record=tomato, schema=schema, label=label(schema, "food"), score=0.82)
    PredictionFactory(record=tomato, schema=schema, label=label(schema, "plant"), score=0.14, model_version="v0")
    for text, votes in [
        ("lion: large gregarious predatory feline of Africa", ("animal", "food")),
        ("oak: a deciduous tree bearing acorns", ("plant", "animal")),
    ]:
        other = RecordFactory(dataset=schema.dataset, text=text)
        for person, name in zip((ann, bob), votes, strict=True):
            annotate(schema, other, person, name)
    problems = watch_for_errors(page)

    # When the reviewer opens the queue and starts reviewing
    sign_in(page, live_server, reviewer.user)
    page.goto(live_server.url + reverse("admin:labeling_review", args=[schema.pk]))
    assert "3 records waiting for review" in page.locator("#review-count").inner_text()
    screenshot(page, "queue")
    page.click("#start-reviewing")
    page.wait_for_url(f"**/review/{tomato.pk}/")
    assert "<b>not bold</b>" in page.locator("#record-text").inner_text()  # shown as text, not markup
    assert page.locator(".review-annotation").count() == 3
    assert "Imported" in page.locator("#annotations").inner_text()

    # and picks "food" with its hotkey, then saves with Enter
    page.keyboard.press("3")
    assert page.locator("input[name=labels][data-hotkey='3']").is_checked()
    page.locator("textarea[name=note]").fill("we eat it: food")
    page.keyboard.press("Escape")
    screenshot(page, "record")
    page.keyboard.press("Enter")

    # Then the next disputed record opens, and the database holds the decision and its audit
    page.wait_for_url(lambda url: f"/review/{tomato.pk}/" not in url)
    assert f"Record #{tomato.pk}: final label food (reviewed)." in page.locator("body").inner_text()
    state = RecordState.objects.get(schema=schema, record=tomato)
    assert state.status == RecordState.Status.REVIEWED
    assert [lab.name for lab in state.final_labels.all()] == ["food"]
    assert state.reviewed_by == reviewer.user
    event = LabelEvent.objects.get(record=tomato, action=LabelEvent.Action.REVIEWED)
    assert (event.actor, event.old, event.new, event.note) == (reviewer.user, [], ["food"], "we eat it: food")
    assert problems == []


def test_reviewer_skips_accepts_a_majority_and_marks_gold_by_keyboard(live_server, page, transactional_db):
    # Given a tie that the reviewer passes on, and a record where two of three agreed
    reviewer = make_persona("reviewer")
    schema = noun_schema(reviewer.dataset, overlap=3)
    people = annotators(schema.dataset, "ann", "bob", "cy")
    tie = RecordFactory(dataset=schema.dataset, text="mushroom: fleshy body of a fungus")
    for person, name in zip(people[:2], ("plant", "food"), strict=True):
        annotate(schema, tie, person, name)
    annotate(schema, tie, people[2], "animal", unsure=True)
    mostly = RecordFactory(dataset=schema.dataset, text="sparrow: small brownish bird")
    for person, name in zip(people, ("animal", "animal", "food"), strict=True):
        annotate(schema, mostly, person, name)
    problems = watch_for_errors(page)
    sign_in(page, live_server, reviewer.user)

    # When they open the tie, see no majority, press "n", then "g" and "a" on the next record
    page.goto(live_server.url + reverse("admin:labeling_review_record", args=[schema.pk, tie.pk]))
    assert page.locator("#accept-majority").is_disabled()
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/{mostly.pk}/")
    page.keyboard.press("g")
    assert page.locator("input[name=gold]").is_checked()
    page.keyboard.press("a")
    page.wait_for_url(lambda url: f"/review/{mostly.pk}/" not in url)

    # Then the majority is the final label, gold; the skipped tie is untouched
    state = RecordState.objects.get(schema=schema, record=mostly)
    assert state.status == RecordState.Status.GOLD
    assert [lab.name for lab in state.final_labels.all()] == ["animal"]
    assert RecordState.objects.get(schema=schema, record=tie).status == RecordState.Status.DISPUTED
    assert problems == []


def test_reviewer_who_saves_after_a_colleague_sees_the_conflict(live_server, page, transactional_db):
    # Given a reviewer looking at a disputed record
    reviewer = make_persona("reviewer")
    schema = noun_schema(reviewer.dataset)
    colleague = make_persona("data_lead")
    schema.dataset.memberships.create(user=colleague.user)
    ann, bob = annotators(schema.dataset, "ann", "bob")
    record = RecordFactory(dataset=schema.dataset, text="salmon: any of various large food and game fishes")
    annotate(schema, record, ann, "animal")
    annotate(schema, record, bob, "food")
    sign_in(page, live_server, reviewer.user)
    page.goto(live_server.url + reverse("admin:labeling_review_record", args=[schema.pk, record.pk]))

    # When a colleague decides first, and then the reviewer saves theirs
    state = RecordState.objects.get(schema=schema, record=record)
    review_record(
        state_id=state.pk, reviewer=colleague.user, label_ids=[label(schema, "food").pk], expected_version=state.version
    )
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-error")

    # Then they see who decided what, and nothing of theirs was saved
    assert "changed by data_lead" in page.locator("#review-error").inner_text()
    assert "food" in page.locator("#final-labels").inner_text()
    assert "data_lead" in page.locator("#decided-by").inner_text()
    screenshot(page, "conflict")
    state.refresh_from_db()
    assert [lab.name for lab in state.final_labels.all()] == ["food"]
    assert not LabelEvent.objects.filter(actor=reviewer.user).exists()
