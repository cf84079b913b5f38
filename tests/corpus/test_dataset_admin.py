"""Data leads create datasets and choose who works on them."""

from django.urls import reverse

from corpus.models import Dataset
from tests.factories import UserFactory


def dataset_form(name: str, members: list) -> dict:
    data = {
        "name": name,
        "description": "Support tickets, 2026",
        "instructions": "Label the **main** complaint.",
        "overlap": "1",
        "lease_minutes": "15",
        "queue_order": "imported",
        "memberships-TOTAL_FORMS": str(len(members)),
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, user in enumerate(members):
        data[f"memberships-{index}-user"] = str(user.pk)
    return data


def test_data_lead_creates_a_dataset_with_members_and_keeps_seeing_it(data_lead):
    annotator = UserFactory(role="Annotator")

    response = data_lead.client.post(reverse("admin:corpus_dataset_add"), dataset_form("Tickets", [annotator]))

    dataset = Dataset.objects.get(name="Tickets")
    assert response.status_code == 302
    assert set(dataset.members.all()) == {annotator, data_lead.user}
    assert dataset.created_by == data_lead.user
    listing = data_lead.client.get(reverse("admin:corpus_dataset_changelist"))
    assert "Tickets" in listing.text


def test_member_autocomplete_offers_colleagues_but_never_administrators(data_lead):
    UserFactory(username="anna-annotator", role="Annotator")
    UserFactory(username="anna-admin", is_superuser=True)

    response = data_lead.client.get(
        reverse("admin:autocomplete"),
        {"term": "anna", "app_label": "corpus", "model_name": "membership", "field_name": "user"},
    )

    names = [result["text"] for result in response.json()["results"]]
    assert names == ["anna-annotator"]


def test_reviewer_cannot_create_datasets(reviewer):
    response = reviewer.client.post(reverse("admin:corpus_dataset_add"), dataset_form("Mine now", []))

    assert response.status_code == 403
    assert not Dataset.objects.filter(name="Mine now").exists()


def test_dataset_names_are_unique(data_lead):
    response = data_lead.client.post(
        reverse("admin:corpus_dataset_add"), dataset_form(data_lead.other_dataset.name, [])
    )

    assert response.status_code == 200
    assert "already exists" in response.text
