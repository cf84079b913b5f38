"""History: the audit trail in the admin, read-only for everyone and scoped like everything else;
and the sidebar's way to it and to "My work"."""

import pytest
from django.urls import reverse

from labeling.models import LabelEvent
from tests.conftest import make_persona
from tests.factories import LabelSchemaFactory, RecordFactory, UserFactory

HISTORY = reverse("admin:labeling_labelevent_changelist")


def event(dataset, *, actor, annotator=None, action=LabelEvent.Action.ANNOTATED, new=("positive",)) -> LabelEvent:
    return LabelEvent.objects.create(
        record=RecordFactory(dataset=dataset),
        schema=LabelSchemaFactory(dataset=dataset),
        action=action,
        actor=actor,
        annotator=annotator,
        new=list(new),
    )


def listed(response) -> set[int]:
    return {entry.pk for entry in response.context["cl"].result_list}


def test_annotators_see_only_their_own_entries(annotator):
    mine = event(annotator.dataset, actor=annotator.user, annotator=annotator.user)
    colleague = UserFactory(role="Annotator")
    theirs = event(annotator.dataset, actor=colleague, annotator=colleague)

    response = annotator.client.get(HISTORY)

    assert listed(response) == {mine.pk}
    assert annotator.client.get(reverse("admin:labeling_labelevent_change", args=[theirs.pk])).status_code == 404


def test_reviewers_see_everyones_entries_of_their_datasets_only(reviewer):
    colleague = UserFactory(role="Annotator")
    inside = event(reviewer.dataset, actor=colleague, annotator=colleague)
    event(reviewer.other_dataset, actor=colleague, annotator=colleague)

    response = reviewer.client.get(HISTORY)

    assert listed(response) == {inside.pk}


def test_nobody_adds_changes_or_deletes_history_not_even_an_administrator(admin_persona):
    entry = event(admin_persona.dataset, actor=admin_persona.user)
    change = reverse("admin:labeling_labelevent_change", args=[entry.pk])

    add = admin_persona.client.get(reverse("admin:labeling_labelevent_add"))
    edit = admin_persona.client.post(change, {"note": "rewritten", "action": "reviewed"})
    delete = admin_persona.client.post(reverse("admin:labeling_labelevent_delete", args=[entry.pk]), {"post": "yes"})
    bulk = admin_persona.client.post(
        HISTORY, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )

    assert (add.status_code, edit.status_code, delete.status_code) == (403, 403, 403)
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert (entry.note, entry.action) == ("", LabelEvent.Action.ANNOTATED)


def test_history_filters_by_action(data_lead):
    reviewed = event(data_lead.dataset, actor=data_lead.user, action=LabelEvent.Action.REVIEWED)
    event(data_lead.dataset, actor=data_lead.user, action=LabelEvent.Action.CLEARED)

    response = data_lead.client.get(HISTORY, {"action__exact": "reviewed"})

    assert listed(response) == {reviewed.pk}


def test_history_filters_by_dataset(data_lead):
    second = make_persona("annotator").dataset
    second.memberships.create(user=data_lead.user)
    in_first = event(data_lead.dataset, actor=data_lead.user)
    event(second, actor=data_lead.user)

    response = data_lead.client.get(HISTORY, {"schema__dataset__id__exact": data_lead.dataset.pk})

    assert listed(response) == {in_first.pk}


def test_history_filters_by_who_and_offers_only_people_in_visible_entries(data_lead):
    anna = UserFactory(username="anna", role="Annotator")
    by_anna = event(data_lead.dataset, actor=anna, annotator=anna)
    event(data_lead.dataset, actor=data_lead.user)
    stranger = UserFactory(username="stranger-in-another-team", role="Annotator")
    event(data_lead.other_dataset, actor=stranger, annotator=stranger)

    response = data_lead.client.get(HISTORY, {"actor": anna.pk})

    assert listed(response) == {by_anna.pk}
    assert "stranger-in-another-team" not in response.text


def test_history_filter_by_who_left_at_all_filters_nothing_out(data_lead):
    entry = event(data_lead.dataset, actor=data_lead.user)

    response = data_lead.client.get(HISTORY, {"actor": ""})

    assert listed(response) == {entry.pk}


def test_history_shows_old_and_new_labels(data_lead):
    LabelEvent.objects.create(
        record=RecordFactory(dataset=data_lead.dataset),
        schema=LabelSchemaFactory(dataset=data_lead.dataset),
        action=LabelEvent.Action.REVIEWED,
        actor=data_lead.user,
        old=["negative"],
        new=["positive"],
    )

    response = data_lead.client.get(HISTORY)

    assert "negative → positive" in response.text


def test_annotators_history_does_not_link_to_record_pages_they_cannot_open(annotator):
    entry = event(annotator.dataset, actor=annotator.user, annotator=annotator.user)

    response = annotator.client.get(HISTORY)

    assert f"#{entry.record_id}" in response.text
    assert reverse("admin:corpus_record_change", args=[entry.record_id]) not in response.text


@pytest.mark.parametrize(
    ("role", "my_work", "history"),
    [
        ("annotator", True, True),
        ("reviewer", True, True),
        ("data_lead", True, True),
        ("ml_engineer", False, True),
    ],
)
def test_sidebar_offers_my_work_and_history_by_role(db, role, my_work, history):
    persona = make_persona(role)

    response = persona.client.get(reverse("admin:corpus_dataset_changelist"))

    assert (f'href="{reverse("admin:labeling_work")}"' in response.text) is my_work
    assert (f'href="{HISTORY}"' in response.text) is history
