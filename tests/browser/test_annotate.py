"""The annotate screen in a real browser, worked with the keyboard alone."""

import re
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from labeling.models import Annotation, Assignment, LabelEvent, LabelSchema
from tests.conftest import make_persona, sign_in
from tests.factories import DocumentFactory, LabelFactory, LabelSchemaFactory, PredictionFactory, RecordFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"

REVIEWS = [
    "The parcel arrived two days early and the box was spotless. Would order again.",
    "Support never answered my emails. Three weeks and counting.",
    "It works. Nothing more to say.",
    "Absolutely love the colour, but the strap broke after a week.",
    "Refund processed within an hour — impressive service!",
    "The manual is in a language I cannot read and the pictures do not help.",
]


def annotator_with_reviews(*, kind=LabelSchema.Kind.SINGLE, records=21):
    persona = make_persona("annotator")
    dataset = persona.dataset
    dataset.name = "Customer reviews"
    dataset.instructions = (
        "## How to label\n\n"
        "- **positive**: the customer is pleased overall.\n"
        "- **negative**: a complaint, even if polite.\n"
        "- **neutral**: facts without an opinion.\n\n"
        "When a review is mixed, pick what the customer would *tell a friend*; press `u` if unsure."
    )
    dataset.save()
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment", kind=kind)
    positive = LabelFactory(schema=schema, name="positive", hotkey="p", color="#16a34a", order=1)
    LabelFactory(schema=schema, name="negative", hotkey="n", color="#dc2626", order=2)
    LabelFactory(schema=schema, name="neutral", hotkey="", color="#64748b", order=3)
    texts = [REVIEWS[i % len(REVIEWS)] + f" (order {1000 + i})" for i in range(records)]
    created = [RecordFactory(dataset=dataset, text=text) for text in texts]
    PredictionFactory(record=created[0], schema=schema, label=positive, score=0.91)
    return persona, schema


def open_annotate(page, live_server, persona, schema):
    page.set_viewport_size({"width": 1440, "height": 960})
    sign_in(page, live_server, persona.user)
    page.goto(live_server.url + reverse("admin:labeling_annotate", args=[schema.pk]))
    page.wait_for_selector('#annotate[data-ready="true"]')


def current_record_id(page) -> int:
    return int(re.search(r"#(\d+)", page.locator("#ann-record-ref").inner_text()).group(1))


def press_and_wait_for_next(page, key: str) -> None:
    """Press a key that moves on, and wait until the next record (or the end) is on screen."""
    before = page.locator("#ann-record-ref").inner_text()
    page.keyboard.press(key)
    page.wait_for_function(
        "previous => document.getElementById('ann-work').hidden"
        " || document.getElementById('ann-record-ref').textContent !== previous",
        arg=before,
    )
    expect(page.locator("#annotate")).not_to_have_class(re.compile("ann-busy"))


def test_annotator_labels_twenty_records_by_keyboard_with_a_skip_and_an_undo(live_server, page, transactional_db):
    persona, schema = annotator_with_reviews()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_annotate(page, live_server, persona, schema)
    ARTIFACTS.mkdir(exist_ok=True)

    # The first record, with the model's suggestion, the instructions and the counter.
    expect(page.locator("#ann-suggestion")).to_be_visible()
    expect(page.locator("#ann-suggestion-text")).to_have_text("positive (0.91)")
    expect(page.locator("#ann-remaining")).to_have_text("21")
    page.screenshot(path=str(ARTIFACTS / "annotate-single.png"), full_page=True)

    page.keyboard.press("?")
    expect(page.locator("#ann-help")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "annotate-keys.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#ann-help")).to_be_hidden()

    expected: dict[int, str] = {}
    keys = {"p": "positive", "n": "negative", "1": "neutral"}
    cycle = ["p", "n", "1"]

    # Record 1: unsure, with a comment typed in the comment box, then "positive".
    first = current_record_id(page)
    page.keyboard.press("u")
    page.keyboard.press("c")
    page.keyboard.type("sounds sarcastic, maybe?")  # "s", "p" and "n" are text here, not keys
    page.keyboard.press("Escape")
    press_and_wait_for_next(page, "p")
    expected[first] = "positive"

    # Record 2: skipped.
    skipped = current_record_id(page)
    press_and_wait_for_next(page, "s")

    # Record 3: "negative", then undone and relabelled "positive".
    undone = current_record_id(page)
    press_and_wait_for_next(page, "n")
    press_and_wait_for_next(page, "z")
    assert current_record_id(page) == undone
    expect(page.locator(".ann-label[aria-pressed=true]")).to_have_text(re.compile("negative"))
    expect(page.locator("#ann-message")).to_contain_text("is back")
    press_and_wait_for_next(page, "p")
    expected[undone] = "positive"

    i = 0
    while len(expected) < 20:
        key = cycle[i % len(cycle)]
        record_id = current_record_id(page)
        if len(expected) == 10:
            page.screenshot(path=str(ARTIFACTS / "annotate-working.png"), full_page=True)
        press_and_wait_for_next(page, key)
        expected[record_id] = keys[key]
        i += 1

    # 21 records: 20 labelled and 1 skipped leave nothing for this person.
    expect(page.locator("#ann-empty")).to_be_visible()
    expect(page.locator("#ann-empty")).to_contain_text("Nothing left to label in Customer reviews")
    expect(page.locator("#ann-done")).to_have_text("20")
    expect(page.locator("#ann-remaining")).to_have_text("0")
    page.screenshot(path=str(ARTIFACTS / "annotate-done.png"), full_page=True)

    annotations = Annotation.objects.filter(annotator=persona.user, schema=schema).prefetch_related("labels")
    assert {a.record_id: [label.name for label in a.labels.all()] for a in annotations} == {
        record_id: [name] for record_id, name in expected.items()
    }
    assert skipped not in expected
    assert not Annotation.objects.filter(record_id=skipped).exists()
    assert Assignment.objects.get(state__record_id=skipped, annotator=persona.user).status == "skipped"
    undo_trail = LabelEvent.objects.filter(record_id=undone).order_by("created_at", "id")
    assert [(e.action, e.new) for e in undo_trail] == [
        ("annotated", ["negative"]),
        ("undone", []),
        ("annotated", ["positive"]),
    ]
    with_comment = annotations.get(record_id=first)
    assert (with_comment.unsure, with_comment.comment) == (True, "sounds sarcastic, maybe?")
    assert all(a.seconds_spent is not None and a.seconds_spent >= 0 for a in annotations)
    assert dialogs == []


def test_multi_label_keys_toggle_and_enter_saves(live_server, page, transactional_db):
    persona, schema = annotator_with_reviews(kind=LabelSchema.Kind.MULTI, records=2)
    document = DocumentFactory(dataset=persona.dataset, original_name="complaints-2024.pdf")
    page_text = (
        "Letter 14. The customer writes about the delivery.\n\n"
        "I ordered the blue kettle on 3 March. It arrived with a dent and the lid does not close.\n\n"
        "I would like a replacement, not a refund. Thank you for your help."
    )
    spans = [(0, 52), (52, 140), (140, len(page_text))]
    for position, (start, end) in enumerate(spans):
        RecordFactory(
            dataset=persona.dataset,
            document=document,
            position=position,
            page=2,
            char_start=start,
            char_end=end,
            text=page_text[start:end].strip(),
        )
    open_annotate(page, live_server, persona, schema)
    first = current_record_id(page)

    page.keyboard.press("p")
    page.keyboard.press("n")
    page.keyboard.press("p")
    page.keyboard.press("1")
    expect(page.locator(".ann-label[aria-pressed=true]")).to_have_count(2)
    press_and_wait_for_next(page, "Enter")

    labels = Annotation.objects.get(record_id=first, annotator=persona.user).labels.values_list("name", flat=True)
    assert sorted(labels) == ["negative", "neutral"]
    expect(page.locator("#ann-recent li")).to_have_count(1)

    # Move on to the chunk in the middle of the document: its neighbours are shown around it.
    press_and_wait_for_next(page, "Enter")
    press_and_wait_for_next(page, "Enter")
    expect(page.locator("#ann-document")).to_have_text("from complaints-2024.pdf · page 2 · part 2")
    expect(page.locator("#ann-before")).to_contain_text("Letter 14.")
    expect(page.locator("#ann-after")).to_contain_text("replacement")
    page.keyboard.press("p")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotate-multi.png"), full_page=True)

    page.goto(live_server.url + reverse("admin:labeling_work"))
    expect(page.locator("#my-work")).to_contain_text("Customer reviews")
    page.screenshot(path=str(ARTIFACTS / "annotate-my-work.png"), full_page=True)


def test_markup_in_record_text_is_shown_inert(live_server, page, transactional_db):
    persona = make_persona("annotator")
    schema = LabelSchemaFactory(dataset=persona.dataset, name="Safety")
    LabelFactory(schema=schema, name="<b onmouseover=alert(3)>fine</b>", hotkey="f")
    RecordFactory(dataset=persona.dataset, text=XSS)
    RecordFactory(dataset=persona.dataset, text="<svg onload=alert(4)></svg>" + XSS)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    open_annotate(page, live_server, persona, schema)

    # Rendered by the server...
    expect(page.locator("#ann-text")).to_have_text(XSS)
    assert page.locator("#ann-text img, #ann-text script").count() == 0
    expect(page.locator(".ann-label-name")).to_have_text("<b onmouseover=alert(3)>fine</b>")
    # ...and delivered as JSON after a keystroke, into the page and the recent list.
    press_and_wait_for_next(page, "f")
    expect(page.locator("#ann-text")).to_have_text("<svg onload=alert(4)></svg>" + XSS)
    assert page.locator("#ann-text svg, #ann-text img, #ann-recent img, #ann-recent b").count() == 0
    expect(page.locator("#ann-recent")).to_contain_text("<img src=x")
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert dialogs == []


def test_a_label_on_the_sidebar_search_key_labels_and_keeps_the_keys_working(live_server, page, transactional_db):
    # unfold's sidebar search takes "t" for itself; on this screen the label must win.
    persona = make_persona("annotator")
    schema = LabelSchemaFactory(dataset=persona.dataset, name="Topic")
    LabelFactory(schema=schema, name="travel", hotkey="t")
    LabelFactory(schema=schema, name="other", hotkey="o")
    first, second, _ = RecordFactory.create_batch(3, dataset=persona.dataset)
    open_annotate(page, live_server, persona, schema)

    press_and_wait_for_next(page, "t")
    press_and_wait_for_next(page, "o")

    assert page.evaluate("document.activeElement.tagName") != "INPUT"
    names = {a.record_id: a.labels.get().name for a in Annotation.objects.filter(annotator=persona.user)}
    assert names == {first.pk: "travel", second.pk: "other"}
