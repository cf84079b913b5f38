"""The review screen: the queue of disputed records and the page where a reviewer decides."""

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from labeling.models import LabelEvent, LabelSchema, RecordState
from labeling.services.review import review_record, send_to_review
from labeling.views.review import QUEUE_PAGE_SIZE
from tests.conftest import make_persona
from tests.factories import DocumentFactory, PredictionFactory, RecordFactory
from tests.labeling.review_scenarios import (
    annotate,
    annotators,
    disagreement,
    imported_annotation,
    label,
    noun_schema,
)


def queue_url(schema) -> str:
    return reverse("admin:labeling_review", args=[schema.pk])


def record_url(schema, record_id) -> str:
    return reverse("admin:labeling_review_record", args=[schema.pk, record_id])


def decide(client, schema, state, *names, version=None, **fields):
    data = {"version": state.version if version is None else version, "labels": [label(schema, n).pk for n in names]}
    data.update(fields)
    return client.post(record_url(schema, state.record_id), data)


def page_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def schema(reviewer) -> LabelSchema:
    return noun_schema(reviewer.dataset)


@pytest.fixture
def people(schema):
    return annotators(schema.dataset, "ann", "bob")


# --- Who may open it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("annotator", 403), ("ml_engineer", 403), ("reviewer", 200), ("data_lead", 200), ("admin", 200)],
)
@pytest.mark.parametrize("screen", ["queue", "record"])
def test_review_screens_open_only_for_roles_that_review(db, role, expected, screen):
    persona = make_persona(role)
    schema = noun_schema(persona.dataset)
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob"), "animal", "plant")
    url = queue_url(schema) if screen == "queue" else record_url(schema, state.record_id)

    assert persona.client.get(url).status_code == expected


def test_signed_out_visitor_is_sent_to_the_login_page(client, schema):
    response = client.get(queue_url(schema))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("screen", ["queue", "record"])
def test_another_teams_label_set_answers_404(reviewer, screen):
    theirs = noun_schema(reviewer.other_dataset)
    state = disagreement(theirs, annotators(theirs.dataset, "cy", "di"), "animal", "plant")
    url = queue_url(theirs) if screen == "queue" else record_url(theirs, state.record_id)

    assert reviewer.client.get(url).status_code == 404


def test_a_record_of_another_dataset_under_my_label_set_answers_404(reviewer, schema):
    stranger = RecordFactory(dataset=reviewer.other_dataset)

    assert reviewer.client.get(record_url(schema, stranger.pk)).status_code == 404
    assert reviewer.client.post(record_url(schema, stranger.pk), {"version": 0}).status_code == 404


def test_a_record_of_my_other_dataset_under_this_label_set_answers_404(reviewer, schema):
    mine_elsewhere = RecordFactory()
    mine_elsewhere.dataset.memberships.create(user=reviewer.user)

    assert reviewer.client.get(record_url(schema, mine_elsewhere.pk)).status_code == 404


def test_an_unknown_label_set_answers_404(reviewer):
    assert reviewer.client.get(reverse("admin:labeling_review", args=[987654])).status_code == 404


def test_annotator_posting_a_decision_gets_403_and_nothing_changes(db):
    persona = make_persona("annotator")
    schema = noun_schema(persona.dataset)
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob"), "animal", "plant")

    response = decide(persona.client, schema, state, "animal")

    assert response.status_code == 403
    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED


# --- The queue ---------------------------------------------------------------------------------


def test_queue_lists_disputed_records_with_reason_votes_and_count(reviewer, schema, people):
    disputed = disagreement(schema, people, "animal", "plant", text="A tomato: fruit or vegetable?")
    disagreement(schema, people, "food", "food", text="Bread, agreed by all")

    response = reviewer.client.get(queue_url(schema))

    text = page_text(response)
    assert "1 record waiting for review" in text
    assert "A tomato: fruit or vegetable?" in text
    assert "Bread, agreed by all" not in text
    assert "Disagreement" in text
    assert "animal \u00d71" in text and "plant \u00d71" in text  # a count per label
    assert response.context["first_url"] == record_url(schema, disputed.record_id)
    assert 'id="start-reviewing"' in response.content.decode()


def test_queue_shows_unsure_and_sent_reasons(reviewer, schema, people, data_lead):
    unsure_record = RecordFactory(dataset=schema.dataset)
    annotate(schema, unsure_record, people[0], "animal", unsure=True)
    annotate(schema, unsure_record, people[1], "animal")
    sent = RecordFactory(dataset=schema.dataset)
    send_to_review(schema=schema, record_ids=[sent.pk], user=data_lead.user)

    text = page_text(reviewer.client.get(queue_url(schema)))

    assert "2 records waiting for review" in text
    assert "Unsure" in text and "Sent to review" in text
    assert "1 unsure" in text


def test_queue_escapes_record_text(reviewer, schema, people):
    disagreement(schema, people, "animal", "plant", text="<script>alert('queue')</script>")

    body = reviewer.client.get(queue_url(schema)).content.decode()

    assert "<script>alert(" not in body
    assert html.escape("<script>alert('queue')</script>") in body


def test_queue_pages_by_keyset_without_losing_or_repeating_a_record(reviewer, schema, data_lead):
    records = RecordFactory.create_batch(QUEUE_PAGE_SIZE + 3, dataset=schema.dataset)
    for record in records:  # one by one: distinct times, the order the queue shows
        send_to_review(schema=schema, record_ids=[record.pk], user=data_lead.user)

    first = reviewer.client.get(queue_url(schema))
    second = reviewer.client.get(queue_url(schema) + first.context["newer_url"])
    back = reviewer.client.get(queue_url(schema) + second.context["older_url"])

    ids = lambda response: [row.state.record_id for row in response.context["rows"]]  # noqa: E731
    assert ids(first) + ids(second) == [r.pk for r in records]
    assert second.context["newer_url"] is None
    assert ids(back) == ids(first)
    assert "28 records waiting for review" in page_text(second)


def test_queue_page_asks_the_same_number_of_queries_for_a_full_page(
    reviewer, schema, people, django_assert_max_num_queries
):
    for _ in range(QUEUE_PAGE_SIZE):
        disagreement(schema, people, "animal", "plant")

    with django_assert_max_num_queries(12):
        response = reviewer.client.get(queue_url(schema))

    assert len(response.context["rows"]) == QUEUE_PAGE_SIZE


def test_queue_ignores_a_malformed_cursor(reviewer, schema, people):
    disagreement(schema, people, "animal", "plant")

    response = reviewer.client.get(queue_url(schema) + "?after=nonsense&before=1-x")

    assert response.status_code == 200
    assert len(response.context["rows"]) == 1


def test_empty_queue_says_there_is_nothing_to_review(reviewer, schema):
    text = page_text(reviewer.client.get(queue_url(schema)))

    assert "Nothing to review" in text
    assert "Start reviewing" not in text


# --- The record page ---------------------------------------------------------------------------


def test_record_page_shows_every_annotation_with_its_author_and_the_imported_source(reviewer, schema, people):
    record = RecordFactory(dataset=schema.dataset, text="penguin: a flightless seabird")
    annotate(schema, record, people[0], "animal", comment="a bird")
    annotate(schema, record, people[1], "food", unsure=True)
    imported_annotation(schema, record, "plant")

    response = reviewer.client.get(record_url(schema, record.pk))

    cards = response.context["cards"]
    assert [(c.author, [lab.name for lab in c.labels], c.unsure) for c in cards] == [
        ("ann", ["animal"], False),
        ("bob", ["food"], True),
        ("Imported", ["plant"], False),
    ]
    text = page_text(response)
    assert "penguin: a flightless seabird" in text
    assert "a bird" in text
    assert "12 s" in text  # time spent


def test_record_page_shows_predictions_as_a_source_apart_from_the_votes(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")
    PredictionFactory(record=state.record, schema=schema, label=label(schema, "food"), score=0.91)

    response = reviewer.client.get(record_url(schema, state.record_id))

    assert [(p.label.name, p.score) for p in response.context["suggestions"]] == [("food", 0.91)]
    assert all("food" not in [lab.name for lab in card.labels] for card in response.context["cards"])
    assert "a source, not a vote" in page_text(response)


def test_record_page_shows_the_document_it_came_from(reviewer, schema, people):
    document = DocumentFactory(dataset=schema.dataset, original_name="field-guide.pdf")
    record = RecordFactory(dataset=schema.dataset, document=document, page=7, position=2)
    annotate(schema, record, people[0], "animal")

    text = page_text(reviewer.client.get(record_url(schema, record.pk)))

    assert "field-guide.pdf" in text and "page 7" in text and "chunk 3" in text


def test_record_page_escapes_text_labels_comments_and_names(reviewer, schema, people):
    evil = "<img src=x onerror=alert(1)>"
    record = RecordFactory(dataset=schema.dataset, text=f"text {evil}")
    schema.labels.filter(name="animal").update(name=f"label {evil}", description=evil)
    people[0].username = "mallory<b>"
    people[0].save()
    annotate(schema, record, people[0], f"label {evil}", comment=f"comment {evil}")
    document = DocumentFactory(dataset=schema.dataset, original_name=f"doc {evil}.pdf")
    record.document = document
    record.save()

    body = reviewer.client.get(record_url(schema, record.pk)).content.decode()

    assert "<img" not in body
    assert "mallory<b>" not in body
    assert body.count(html.escape(evil)) >= 5  # text, label, description, comment, document


def test_record_page_carries_the_version_it_shows(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    body = reviewer.client.get(record_url(schema, state.record_id)).content.decode()

    assert f'name="version" value="{state.version}"' in body


def test_accept_majority_is_disabled_with_a_reason_on_a_tie(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    response = reviewer.client.get(record_url(schema, state.record_id))

    assert response.context["majority"] is None
    assert re.search(r'<button type="button"[^>]*id="accept-majority" disabled', response.content.decode())
    assert "split evenly" in page_text(response)


def test_accept_majority_offers_the_label_most_annotators_chose(reviewer, schema):
    schema.dataset.overlap = 3
    schema.dataset.save()
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob", "cy"), "animal", "plant", "animal")

    response = reviewer.client.get(record_url(schema, state.record_id))

    assert [lab.name for lab in response.context["majority"]] == ["animal"]


def test_action_keys_give_way_to_a_label_with_the_same_hotkey(reviewer, schema, people):
    schema.labels.filter(name="food").update(hotkey="g")
    state = disagreement(schema, people, "animal", "plant")

    response = reviewer.client.get(record_url(schema, state.record_id))

    assert response.context["keys"] == {"majority": "a", "next": "n"}


# --- Deciding ----------------------------------------------------------------------------------


def test_saving_a_decision_marks_the_record_reviewed_and_opens_the_next_disputed(reviewer, schema, people):
    first = disagreement(schema, people, "animal", "plant")
    second = disagreement(schema, people, "food", "plant")

    response = decide(reviewer.client, schema, first, "plant", note="it grows")

    assert response.status_code == 302
    assert response["Location"] == record_url(schema, second.record_id)
    first.refresh_from_db()
    assert first.status == RecordState.Status.REVIEWED
    assert list(first.final_labels.values_list("name", flat=True)) == ["plant"]
    event = LabelEvent.objects.get(record=first.record, action=LabelEvent.Action.REVIEWED)
    assert (event.actor, event.new, event.note) == (reviewer.user, ["plant"], "it grows")


def test_saving_the_last_disputed_record_goes_back_to_the_queue_with_a_message(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    response = decide(reviewer.client, schema, state, "animal")

    assert response["Location"] == queue_url(schema)
    assert "No disputed records are left" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_mark_gold_makes_the_record_gold(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    decide(reviewer.client, schema, state, "animal", gold="1")

    state.refresh_from_db()
    assert state.status == RecordState.Status.GOLD


def test_accept_majority_saves_the_majority_label(reviewer, schema):
    schema.dataset.overlap = 3
    schema.dataset.save()
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob", "cy"), "food", "plant", "food")

    response = decide(reviewer.client, schema, state, decision="majority")

    assert response.status_code == 302
    state.refresh_from_db()
    assert list(state.final_labels.values_list("name", flat=True)) == ["food"]


def test_accept_majority_on_a_tie_is_refused_with_400(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    response = decide(reviewer.client, schema, state, decision="majority")

    assert response.status_code == 400
    assert "no majority" in page_text(response)
    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED


def test_a_stale_version_answers_409_with_the_current_state_and_saves_nothing(reviewer, schema, people, data_lead):
    schema.dataset.memberships.create(user=data_lead.user)
    state = disagreement(schema, people, "animal", "plant")
    opened = state.version
    review_record(
        state_id=state.pk, reviewer=data_lead.user, label_ids=[label(schema, "plant").pk], expected_version=opened
    )

    response = decide(reviewer.client, schema, state, "animal", version=opened)

    assert response.status_code == 409
    text = page_text(response)
    assert "Someone else changed this record first" in text
    assert "changed by data_lead" in text and "Nothing was saved" in text
    assert response.context["final_labels"] == [label(schema, "plant")]
    assert "Decided by data_lead" in text
    state.refresh_from_db()
    assert list(state.final_labels.values_list("name", flat=True)) == ["plant"]
    assert LabelEvent.objects.filter(actor=reviewer.user).count() == 0
    # The form now carries the current version: deciding again, having seen it, is possible.
    assert f'name="version" value="{state.version}"' in response.content.decode()
    assert response.context["chosen"] == {label(schema, "animal").pk}


def test_a_label_of_another_label_set_answers_400_with_the_message(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")
    foreign = noun_schema(reviewer.other_dataset)

    response = reviewer.client.post(
        record_url(schema, state.record_id), {"version": state.version, "labels": [label(foreign, "food").pk]}
    )

    assert response.status_code == 400
    assert "do not belong to this label set" in page_text(response)
    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED


def test_no_label_in_a_single_label_set_answers_400(reviewer, schema, people):
    state = disagreement(schema, people, "animal", "plant")

    response = decide(reviewer.client, schema, state)

    assert response.status_code == 400
    assert "Choose exactly one label." in page_text(response)


@pytest.mark.parametrize("version", ["", "x", "-1"])
def test_a_missing_or_bad_version_answers_400(reviewer, schema, people, version):
    state = disagreement(schema, people, "animal", "plant")

    response = decide(reviewer.client, schema, state, "animal", version=version)

    assert response.status_code == 400
    state.refresh_from_db()
    assert state.status == RecordState.Status.DISPUTED


def test_a_reviewer_may_set_the_final_label_of_any_record_and_return_to_its_page(reviewer, schema):
    untouched = RecordFactory(dataset=schema.dataset)  # no state row yet: nobody labeled it

    page = reviewer.client.get(record_url(schema, untouched.pk))
    response = reviewer.client.post(
        record_url(schema, untouched.pk) + "?return=record",
        {"version": 0, "labels": [label(schema, "food").pk], "gold": "1"},
    )

    assert page.status_code == 200
    assert response["Location"] == reverse("admin:corpus_record_change", args=[untouched.pk])
    state = RecordState.objects.get(schema=schema, record=untouched)
    assert state.status == RecordState.Status.GOLD
    assert list(state.final_labels.values_list("name", flat=True)) == ["food"]


def test_opening_a_record_page_writes_nothing(reviewer, schema):
    untouched = RecordFactory(dataset=schema.dataset)

    reviewer.client.get(record_url(schema, untouched.pk))

    assert not RecordState.objects.filter(record=untouched).exists()


def test_multi_label_decision_keeps_every_toggled_label(reviewer):
    schema = noun_schema(reviewer.dataset, kind=LabelSchema.Kind.MULTI)
    state = disagreement(schema, annotators(schema.dataset, "ann", "bob"), "animal", "food")

    page = reviewer.client.get(record_url(schema, state.record_id)).content.decode()
    decide(reviewer.client, schema, state, "animal", "food")

    assert page.count('type="checkbox" name="labels"') == 3
    state.refresh_from_db()
    assert sorted(state.final_labels.values_list("name", flat=True)) == ["animal", "food"]
