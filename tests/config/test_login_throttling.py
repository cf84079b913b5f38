"""Login throttling: guessing passwords through the admin's login form gets locked out."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

LOGIN = reverse("admin:login")
RIGHT = "correct horse battery staple"


def attempt(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def test_wrong_passwords_lock_the_name_from_that_address_even_for_the_right_password(db):
    UserFactory(username="ann")
    client = Client()
    for _ in range(2):
        assert attempt(client, "ann", "guess").status_code == 200  # the form again, with its error

    third = attempt(client, "ann", "guess")
    right_now = attempt(client, "ann", RIGHT)

    assert third.status_code == 429
    assert right_now.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_lockout_does_not_stop_the_same_person_elsewhere_or_anyone_else(db):
    UserFactory(username="ann")
    UserFactory(username="bob")
    for _ in range(3):
        attempt(Client(), "ann", "guess", address="10.6.6.6")

    from_home = attempt(Client(), "ann", RIGHT, address="10.0.0.2")
    colleague = attempt(Client(), "bob", RIGHT, address="10.6.6.6")

    assert from_home.status_code == 302
    assert colleague.status_code == 302


def test_a_right_password_resets_the_count(db):
    UserFactory(username="ann")
    client = Client()
    attempt(client, "ann", "guess")
    attempt(client, "ann", "guess")
    assert attempt(client, "ann", RIGHT).status_code == 302
    client.logout()

    for _ in range(2):
        assert attempt(client, "ann", "guess").status_code == 200

    assert attempt(client, "ann", RIGHT).status_code == 302
