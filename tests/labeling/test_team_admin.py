"""Data leads build the team from the admin: a person, their role, their datasets."""

from django.contrib.auth.models import User
from django.urls import reverse

from tests.factories import DatasetFactory, UserFactory


def add_person(persona, **fields):
    data = {
        "username": "maria",
        "first_name": "Maria",
        "last_name": "Okafor",
        "email": "maria@example.com",
        "password1": "a long unusual passphrase 42",
        "password2": "a long unusual passphrase 42",
        "role": "Annotator",
        "datasets": [persona.dataset.pk],
        "usable_password": "true",
    }
    data.update(fields)
    return persona.client.post(reverse("admin:auth_user_add"), data)


def test_data_lead_creates_an_annotator_on_their_dataset(data_lead):
    response = add_person(data_lead)

    maria = User.objects.get(username="maria")
    assert response.status_code == 302
    assert maria.is_staff and not maria.is_superuser
    assert list(maria.groups.values_list("name", flat=True)) == ["Annotator"]
    assert list(maria.datasets.all()) == [data_lead.dataset]
    assert maria.check_password("a long unusual passphrase 42")


def test_data_lead_cannot_put_someone_on_a_dataset_they_do_not_see(data_lead):
    response = add_person(data_lead, datasets=[data_lead.other_dataset.pk])

    assert response.status_code == 200  # the form comes back with an error
    assert not User.objects.filter(username="maria").exists()


def test_data_lead_must_choose_a_role(data_lead):
    response = add_person(data_lead, role="")

    assert response.status_code == 200
    assert not User.objects.filter(username="maria").exists()


def test_data_lead_cannot_make_a_superuser(data_lead):
    colleague = UserFactory(role="Annotator")
    data_lead.dataset.memberships.create(user=colleague)

    data_lead.client.post(
        reverse("admin:auth_user_change", args=[colleague.pk]),
        {
            "username": colleague.username,
            "email": colleague.email,
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "role": "Reviewer",
            "datasets": [data_lead.dataset.pk],
        },
    )

    colleague.refresh_from_db()
    assert not colleague.is_superuser
    assert list(colleague.groups.values_list("name", flat=True)) == ["Reviewer"]


def test_changing_datasets_keeps_memberships_the_editor_cannot_see(data_lead):
    colleague = UserFactory(role="Annotator")
    data_lead.dataset.memberships.create(user=colleague)
    data_lead.other_dataset.memberships.create(user=colleague)
    newer = DatasetFactory(members=[data_lead.user])

    data_lead.client.post(
        reverse("admin:auth_user_change", args=[colleague.pk]),
        {"username": colleague.username, "is_active": "on", "role": "Annotator", "datasets": [newer.pk]},
    )

    assert set(colleague.datasets.all()) == {newer, data_lead.other_dataset}


def test_data_lead_cannot_set_a_colleagues_password(data_lead):
    colleague = UserFactory(role="Annotator")

    response = data_lead.client.get(reverse("admin:auth_user_password_change", args=[colleague.pk]))

    assert response.status_code == 403


def test_admin_sees_roles_in_the_people_list(admin_persona):
    UserFactory(username="rita", role="Reviewer")

    response = admin_persona.client.get(reverse("admin:auth_user_changelist"))

    assert response.status_code == 200
    assert "Reviewer" in response.text
