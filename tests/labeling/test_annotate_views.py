"""The annotate screen and its JSON endpoints: who may use them, what they show (and never show),
and what each action does to the queue and the annotations."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import Annotation, Assignment, LabelEvent, LabelSchema, RecordState
from labeling.roles import Role
from labeling.services.annotate import save_annotation
from labeling.services.queue import lease_next_record, prepare_queue
from tests.conftest import make_persona
from tests.factories import (
    AnnotationFactory,
    DocumentFactory,
    LabelFactory,
    LabelSchemaFactory,
    PredictionFactory,
    RecordFactory,
    UserFactory,
)

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def make_schema(dataset, *, kind=LabelSchema.Kind.SINGLE, records=3, overlap=1) -> LabelSchema:
    """A sentiment label set (positive on "p", negative on "n", neutral without a hotkey) over
    `records` records of `dataset`."""
    dataset.overlap = overlap
    dataset.save(update_fields=["overlap"])
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment", kind=kind)
    LabelFactory(schema=schema, name="positive", hotkey="p", color="#22c55e", order=1)
    LabelFactory(schema=schema, name="negative", hotkey="n", color="#ef4444", order=2)
    LabelFactory(schema=schema, name="neutral", hotkey="", color="#64748b", order=3)
    RecordFactory.create_batch(records, dataset=dataset)
    return schema


def label_id(schema, name) -> int:
    return schema.labels.get(name=name).pk


def url(name: str, schema, *args) -> str:
    return reverse(f"admin:labeling_annotate{name}", args=[schema.pk, *args])


def post(client, address, body) -> object:
    return client.post(address, json.dumps(body), content_type="application/json")


def save(client, schema, record_id, *names, **fields):
    body = {"record_id": record_id, "label_ids": [label_id(schema, n) for n in names], **fields}
    return post(client, url("_save", schema), body)


def open_screen(persona, schema) -> dict:
    """Open the page and return the record it shows."""
    response = persona.client.get(url("", schema))
    assert response.status_code == 200
    return response.context["item"]


def colleague(dataset, username="colleague"):
    person = UserFactory(username=username, role=Role.ANNOTATOR)
    dataset.memberships.create(user=person)
    return person


@pytest.fixture
def schema(annotator) -> LabelSchema:
    return make_schema(annotator.dataset)


# --- Who may use it ----------------------------------------------------------------------------

ENDPOINTS = ["page", "next", "save", "skip", "undo", "item"]


def call(persona, schema, endpoint, record_id):
    if endpoint == "page":
        return persona.client.get(url("", schema))
    if endpoint == "next":
        return persona.client.get(url("_next", schema))
    if endpoint == "item":
        return persona.client.get(url("_item", schema, record_id))
    if endpoint == "save":
        return save(persona.client, schema, record_id, "positive")
    if endpoint == "skip":
        return post(persona.client, url("_skip", schema), {"record_id": record_id})
    return post(persona.client, url("_undo", schema), {})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_ml_engineer_may_not_use_the_annotate_screen(db, endpoint):
    persona = make_persona("ml_engineer")
    schema = make_schema(persona.dataset)

    response = call(persona, schema, endpoint, schema.dataset.records.first().pk)

    assert response.status_code == 403
    assert not Annotation.objects.exists()
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("role", ["annotator", "reviewer", "data_lead", "admin"])
def test_roles_that_annotate_open_the_screen_on_their_dataset(db, role):
    persona = make_persona(role)
    schema = make_schema(persona.dataset)

    page = persona.client.get(url("", schema))
    following = persona.client.get(url("_next", schema))

    assert page.status_code == 200
    assert following.status_code == 200
    assert following.json()["item"]["record_id"] == page.context["item"]["record_id"]


@pytest.mark.parametrize("role", ["annotator", "reviewer", "data_lead"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_label_set_of_another_dataset_answers_404(db, role, endpoint):
    persona = make_persona(role)
    theirs = make_schema(persona.other_dataset)

    response = call(persona, theirs, endpoint, theirs.dataset.records.first().pk)

    assert response.status_code == 404
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("endpoint", ["save", "skip", "item"])
def test_record_of_another_dataset_answers_404(annotator, schema, endpoint):
    open_screen(annotator, schema)
    elsewhere = RecordFactory(dataset=annotator.other_dataset)

    response = call(annotator, schema, endpoint, elsewhere.pk)

    assert response.status_code == 404
    assert "error" in response.json()
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_signed_out_visitor_is_sent_to_the_login_page(db, endpoint):
    persona = make_persona("annotator")
    schema = make_schema(persona.dataset)
    persona.client.logout()

    response = call(persona, schema, endpoint, schema.dataset.records.first().pk)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_posting_without_the_csrf_token_is_refused(annotator, schema):
    item = open_screen(annotator, schema)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(annotator.user)

    response = save(strict, schema, item["record_id"], "positive")

    assert response.status_code == 403
    assert not Annotation.objects.exists()


def test_posting_with_the_pages_csrf_token_is_accepted(annotator, schema):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(annotator.user)
    page = strict.get(url("", schema))
    token = page.context["csrf_token"]

    response = strict.post(
        url("_save", schema),
        json.dumps({"record_id": page.context["item"]["record_id"], "label_ids": [label_id(schema, "positive")]}),
        content_type="application/json",
        headers={"X-CSRFToken": str(token)},
    )

    assert response.status_code == 200
    assert Annotation.objects.count() == 1


def test_endpoints_refuse_the_wrong_method(annotator, schema):
    assert annotator.client.get(url("_save", schema)).status_code == 405
    assert annotator.client.post(url("_next", schema)).status_code == 405


# --- The page ----------------------------------------------------------------------------------


def test_page_leases_the_first_record_and_shows_it(annotator, schema):
    first = schema.dataset.records.order_by("pk").first()

    response = annotator.client.get(url("", schema))

    assert response.context["item"]["record_id"] == first.pk
    assert first.text in response.content.decode()
    assert Assignment.objects.get(annotator=annotator.user).status == Assignment.Status.LEASED
    assert response.context["screen"]["counts"] == {"done_by_me": 0, "remaining": 3}


def test_page_shows_label_buttons_with_hotkeys_and_colours(annotator, schema):
    response = annotator.client.get(url("", schema))
    content = response.content.decode()

    assert 'data-hotkey="p"' in content
    assert "--label-color: #22c55e" in content
    # A label without a hotkey gets the first free digit.
    neutral = next(label for label in response.context["labels"] if label["name"] == "neutral")
    assert neutral["hotkey"] == "1"


def test_page_renders_the_instructions_markdown_without_running_anything(annotator, schema):
    annotator.dataset.instructions = (
        "# Guidelines\n\nUse **positive** for praise. [More](https://example.com)\n\n"
        "<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n<img src=x onerror=alert(3)>"
    )
    annotator.dataset.save()

    content = annotator.client.get(url("", schema)).content.decode()

    assert "<h1>Guidelines</h1>" in content
    assert "<strong>positive</strong>" in content
    assert 'href="https://example.com"' in content
    assert "<script>alert(1)" not in content
    assert 'href="javascript:' not in content  # left as plain text
    assert "<img src=x" not in content


def test_record_text_is_escaped_in_the_page(annotator):
    schema = make_schema(annotator.dataset, records=0)
    RecordFactory(dataset=annotator.dataset, text=XSS)

    content = annotator.client.get(url("", schema)).content.decode()

    assert XSS not in content
    assert "<script>alert(2)" not in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in content  # shown as text


def test_page_says_when_nothing_is_left(annotator):
    schema = make_schema(annotator.dataset, records=0)

    response = annotator.client.get(url("", schema))

    assert response.context["item"] is None
    assert f"Nothing left to label in {annotator.dataset.name}" in response.content.decode()


# --- Next, save, skip ------------------------------------------------------------------------


def test_next_returns_the_record_i_hold_with_counts(annotator, schema):
    item = open_screen(annotator, schema)

    data = annotator.client.get(url("_next", schema)).json()

    assert data["item"]["record_id"] == item["record_id"]
    assert data["counts"] == {"done_by_me": 0, "remaining": 3}


def test_saving_stores_my_answer_and_brings_the_next_record(annotator, schema):
    item = open_screen(annotator, schema)

    response = save(
        annotator.client, schema, item["record_id"], "negative", unsure=True, comment="sarcasm?", seconds_spent=4.2
    )

    assert response.status_code == 200
    data = response.json()
    assert data["saved"] is True
    assert data["item"]["record_id"] != item["record_id"]
    annotation = Annotation.objects.get(annotator=annotator.user)
    assert annotation.record_id == item["record_id"]
    assert [label.name for label in annotation.labels.all()] == ["negative"]
    assert (annotation.unsure, annotation.comment, annotation.seconds_spent) == (True, "sarcasm?", 4.2)
    assert annotator.client.get(url("_next", schema)).json()["counts"] == {"done_by_me": 1, "remaining": 2}


def test_saving_the_last_record_answers_no_next_item(annotator):
    schema = make_schema(annotator.dataset, records=1)
    item = open_screen(annotator, schema)

    data = save(annotator.client, schema, item["record_id"], "positive").json()

    assert data["item"] is None


def test_multi_label_save_keeps_every_chosen_label(annotator):
    schema = make_schema(annotator.dataset, kind=LabelSchema.Kind.MULTI)
    item = open_screen(annotator, schema)

    response = save(annotator.client, schema, item["record_id"], "positive", "negative")

    assert response.status_code == 200
    assert sorted(Annotation.objects.get().labels.values_list("name", flat=True)) == ["negative", "positive"]


def test_two_labels_on_a_single_label_set_are_refused(annotator, schema):
    item = open_screen(annotator, schema)

    response = save(annotator.client, schema, item["record_id"], "positive", "negative")

    assert response.status_code == 400
    assert response.json()["error"] == "Choose exactly one label."
    assert not Annotation.objects.exists()


def test_a_label_of_another_label_set_is_refused(annotator, schema):
    item = open_screen(annotator, schema)
    foreign = LabelFactory(schema=make_schema(annotator.other_dataset), name="foreign")

    response = post(annotator.client, url("_save", schema), {"record_id": item["record_id"], "label_ids": [foreign.pk]})

    assert response.status_code == 400
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"record_id": "1", "label_ids": []}),
        json.dumps({"record_id": 1, "label_ids": "1"}),
        json.dumps({"record_id": 1, "label_ids": [], "unsure": "yes"}),
        json.dumps({"record_id": 1, "label_ids": [], "seconds_spent": -1}),
        json.dumps({"record_id": 1, "label_ids": [], "comment": "x" * 5001}),
    ],
)
def test_malformed_save_requests_answer_400(annotator, schema, body):
    response = annotator.client.post(url("_save", schema), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]


def test_saving_a_record_others_filled_after_my_lease_ran_out_answers_409_with_the_next(annotator, schema):
    item = open_screen(annotator, schema)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Assignment.objects.filter(annotator=annotator.user).update(
        leased_at=an_hour_ago, expires_at=an_hour_ago + timedelta(minutes=15)
    )
    other = colleague(annotator.dataset)
    save_annotation(schema=schema, record_id=item["record_id"], user=other, label_ids=[label_id(schema, "positive")])

    response = save(annotator.client, schema, item["record_id"], "negative")

    assert response.status_code == 409
    data = response.json()
    assert "not saved" in data["error"]
    assert data["item"]["record_id"] != item["record_id"]
    assert "counts" in data
    assert not Annotation.objects.filter(annotator=annotator.user).exists()


def test_saving_a_reviewed_record_answers_409(annotator, schema):
    item = open_screen(annotator, schema)
    save(annotator.client, schema, item["record_id"], "positive")
    RecordState.objects.filter(record_id=item["record_id"]).update(status=RecordState.Status.REVIEWED)

    response = save(annotator.client, schema, item["record_id"], "negative")

    assert response.status_code == 409
    assert "reviewer" in response.json()["error"]
    assert list(Annotation.objects.get().labels.values_list("name", flat=True)) == ["positive"]


def test_skipping_passes_the_record_and_never_serves_it_to_me_again(annotator, schema):
    item = open_screen(annotator, schema)

    data = post(annotator.client, url("_skip", schema), {"record_id": item["record_id"]}).json()

    assert data["item"]["record_id"] != item["record_id"]
    assignment = Assignment.objects.get(annotator=annotator.user, state__record_id=item["record_id"])
    assert assignment.status == Assignment.Status.SKIPPED
    assert not Annotation.objects.exists()
    seen = {data["item"]["record_id"]}
    while data["item"] is not None:
        data = save(annotator.client, schema, data["item"]["record_id"], "positive").json()
        if data["item"]:
            seen.add(data["item"]["record_id"])
    assert item["record_id"] not in seen


def test_a_skipped_record_is_still_served_to_others(annotator, schema):
    item = open_screen(annotator, schema)
    post(annotator.client, url("_skip", schema), {"record_id": item["record_id"]})
    other = colleague(annotator.dataset)

    assert lease_next_record(schema=schema, user=other).state.record_id == item["record_id"]


# --- Undo and back -----------------------------------------------------------------------------


def test_undo_takes_back_my_last_answer_and_shows_it_again(annotator, schema):
    item = open_screen(annotator, schema)
    save(annotator.client, schema, item["record_id"], "negative", unsure=True, comment="hm")

    response = post(annotator.client, url("_undo", schema), {})

    assert response.status_code == 200
    data = response.json()
    assert data["item"]["record_id"] == item["record_id"]
    assert data["item"]["mine"] == {"label_ids": [label_id(schema, "negative")], "unsure": True, "comment": "hm"}
    assert not Annotation.objects.exists()
    assert LabelEvent.objects.filter(action=LabelEvent.Action.UNDONE).count() == 1
    held = Assignment.objects.get(annotator=annotator.user, status=Assignment.Status.LEASED)
    assert held.state.record_id == item["record_id"]


def test_undo_then_save_relabels_the_record(annotator, schema):
    item = open_screen(annotator, schema)
    save(annotator.client, schema, item["record_id"], "negative")
    post(annotator.client, url("_undo", schema), {})

    save(annotator.client, schema, item["record_id"], "positive")

    annotation = Annotation.objects.get(annotator=annotator.user)
    assert annotation.record_id == item["record_id"]
    assert list(annotation.labels.values_list("name", flat=True)) == ["positive"]


def test_undo_of_a_skip_serves_the_record_to_me_again(annotator, schema):
    item = open_screen(annotator, schema)
    post(annotator.client, url("_skip", schema), {"record_id": item["record_id"]})

    data = post(annotator.client, url("_undo", schema), {}).json()

    assert data["item"]["record_id"] == item["record_id"]
    assert data["item"]["mine"] is None
    held = Assignment.objects.filter(annotator=annotator.user, status=Assignment.Status.LEASED)
    assert [a.state.record_id for a in held] == [item["record_id"]]


def test_undo_with_nothing_done_says_so(annotator, schema):
    open_screen(annotator, schema)

    response = post(annotator.client, url("_undo", schema), {})

    assert response.status_code == 400
    assert response.json()["error"] == "There is nothing to undo yet."


def test_undo_of_a_reviewed_record_answers_409_and_keeps_the_answer(annotator, schema):
    item = open_screen(annotator, schema)
    save(annotator.client, schema, item["record_id"], "positive")
    RecordState.objects.filter(record_id=item["record_id"]).update(status=RecordState.Status.REVIEWED)

    response = post(annotator.client, url("_undo", schema), {})

    assert response.status_code == 409
    assert response.json()["item"]["record_id"] != item["record_id"]
    assert Annotation.objects.count() == 1


def test_going_back_shows_my_earlier_answer(annotator, schema):
    item = open_screen(annotator, schema)
    save(annotator.client, schema, item["record_id"], "negative", comment="rude")

    data = annotator.client.get(url("_item", schema, item["record_id"])).json()

    assert data["item"]["record_id"] == item["record_id"]
    assert data["item"]["mine"]["label_ids"] == [label_id(schema, "negative")]
    assert data["item"]["mine"]["comment"] == "rude"


def test_going_back_to_a_record_i_never_had_answers_404(annotator, schema):
    open_screen(annotator, schema)
    never_mine = schema.dataset.records.order_by("-pk").first()

    assert annotator.client.get(url("_item", schema, never_mine.pk)).status_code == 404


def test_saving_an_earlier_item_changes_my_answer_and_returns_to_where_i_was(annotator, schema):
    first = open_screen(annotator, schema)
    current = save(annotator.client, schema, first["record_id"], "negative").json()["item"]

    data = save(annotator.client, schema, first["record_id"], "positive").json()

    annotation = Annotation.objects.get(annotator=annotator.user)
    assert list(annotation.labels.values_list("name", flat=True)) == ["positive"]
    assert LabelEvent.objects.filter(action=LabelEvent.Action.CHANGED).count() == 1
    assert data["item"]["record_id"] == current["record_id"]


def test_skipping_an_earlier_item_leaves_it_and_returns_to_where_i_was(annotator, schema):
    first = open_screen(annotator, schema)
    current = save(annotator.client, schema, first["record_id"], "negative").json()["item"]

    data = post(annotator.client, url("_skip", schema), {"record_id": first["record_id"]}).json()

    assert data["item"]["record_id"] == current["record_id"]
    assert Assignment.objects.get(state__record_id=first["record_id"]).status == Assignment.Status.DONE
    assert Annotation.objects.count() == 1


# --- Blind labeling, suggestions, documents ----------------------------------------------------


def test_payloads_never_show_other_peoples_labels_or_the_final_label(annotator):
    schema = make_schema(annotator.dataset, records=1, overlap=2)
    record = annotator.dataset.records.get()
    other = colleague(annotator.dataset, username="alice_the_other")
    prepare_queue(schema=schema)
    save_annotation(
        schema=schema, record_id=record.pk, user=other, label_ids=[label_id(schema, "negative")], comment="SECRET-NOTE"
    )
    AnnotationFactory(record=record, schema=schema, annotator=None, source=Annotation.Source.IMPORTED)

    page = annotator.client.get(url("", schema))
    following = annotator.client.get(url("_next", schema))
    back = save(annotator.client, schema, record.pk, "positive")
    again = annotator.client.get(url("_item", schema, record.pk))

    assert page.context["item"]["record_id"] == record.pk
    assert page.context["item"]["mine"] is None
    for response in (page, following, back, again):
        content = response.content.decode()
        assert "SECRET-NOTE" not in content
        assert "alice_the_other" not in content
    assert again.json()["item"]["mine"]["label_ids"] == [label_id(schema, "positive")]
    assert set(again.json()["item"]) == {"record_id", "text", "document", "suggestion", "mine"}


def test_suggestion_is_the_latest_models_top_label_with_its_score(annotator):
    schema = make_schema(annotator.dataset, records=1)
    record = annotator.dataset.records.get()
    PredictionFactory(record=record, schema=schema, label=schema.labels.get(name="negative"), score=0.9)
    newer = PredictionFactory(
        record=record, schema=schema, label=schema.labels.get(name="positive"), score=0.7, model_version="v2"
    )
    newer.created_at = timezone.now() + timedelta(minutes=1)
    newer.save()

    suggestion = open_screen(annotator, schema)["suggestion"]

    assert suggestion["label_ids"] == [label_id(schema, "positive")]
    assert suggestion["score"] == 0.7


def test_multi_label_suggestion_holds_the_labels_scored_half_or_more(annotator):
    schema = make_schema(annotator.dataset, kind=LabelSchema.Kind.MULTI, records=1)
    record = annotator.dataset.records.get()
    for name, score in [("positive", 0.8), ("negative", 0.5), ("neutral", 0.2)]:
        PredictionFactory(record=record, schema=schema, label=schema.labels.get(name=name), score=score)

    suggestion = open_screen(annotator, schema)["suggestion"]

    assert suggestion["label_ids"] == [label_id(schema, "positive"), label_id(schema, "negative")]
    assert suggestion["score"] == 0.8


def test_no_suggestion_when_the_dataset_hides_them(annotator):
    schema = make_schema(annotator.dataset, records=1)
    annotator.dataset.show_suggestions = False
    annotator.dataset.save()
    PredictionFactory(record=annotator.dataset.records.get(), schema=schema, label=schema.labels.first())

    assert open_screen(annotator, schema)["suggestion"] is None


def test_a_document_chunk_comes_with_its_document_and_neighbours(annotator):
    schema = make_schema(annotator.dataset, records=0)
    document = DocumentFactory(dataset=annotator.dataset, original_name="annual-report.pdf")
    page_text = "First part of the page. " * 20 + "THE MIDDLE PASSAGE. " + "Last part of the page. " * 20
    middle_start = page_text.index("THE MIDDLE")
    middle_end = middle_start + len("THE MIDDLE PASSAGE. ")
    # Chunks overlap by a few characters, as the importer makes them.
    spans = [(0, middle_start + 5), (middle_start, middle_end), (middle_end - 5, len(page_text))]
    chunks = [
        RecordFactory(
            dataset=annotator.dataset,
            document=document,
            position=position,
            page=3,
            char_start=start,
            char_end=end,
            text=page_text[start:end],
        )
        for position, (start, end) in enumerate(spans)
    ]
    prepare_queue(schema=schema)
    RecordState.objects.filter(record__in=[chunks[0], chunks[2]]).update(status=RecordState.Status.LABELED)

    item = open_screen(annotator, schema)

    assert item["record_id"] == chunks[1].pk
    document_context = item["document"]
    assert document_context["name"] == "annual-report.pdf"
    assert (document_context["page"], document_context["position"]) == (3, 1)
    assert document_context["before"].endswith("First part of the page. ")
    assert document_context["before"].startswith("…")
    assert len(document_context["before"]) <= 301
    assert "THE MIDDLE" not in document_context["before"] + document_context["after"]
    assert document_context["after"].startswith("Last part of the page.")
    assert document_context["after"].endswith("…")


# --- My work -----------------------------------------------------------------------------------


def work(persona):
    return persona.client.get(reverse("admin:labeling_work"))


def test_my_work_lists_my_label_sets_with_what_is_left(annotator, schema):
    make_schema(annotator.other_dataset)

    response = work(annotator)

    assert response.status_code == 200
    content = response.content.decode()
    assert annotator.dataset.name in content
    assert annotator.other_dataset.name not in content
    assert url("", schema) in content
    assert "Start annotating" in content
    assert "Review" not in content
    (row,) = response.context["rows"]
    assert (row["counts"].done_by_me, row["counts"].remaining) == (0, 3)


def test_my_work_offers_review_to_reviewers(reviewer):
    schema = make_schema(reviewer.dataset)

    content = work(reviewer).content.decode()

    assert reverse("admin:labeling_review", args=[schema.pk]) in content
    assert "Start annotating" in content


def test_my_work_is_closed_to_roles_that_neither_annotate_nor_review(ml_engineer):
    assert work(ml_engineer).status_code == 403
