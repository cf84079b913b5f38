"""API tokens from creation to revocation: shown once, stored hashed, refused once revoked or
when their owner may no longer sign in, each person's tokens their own."""

import hashlib
import re
from datetime import timedelta

from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.tokens import create_token, token_owner
from tests.api.conftest import caller_for, make_caller
from tests.conftest import make_persona

TOKEN = re.compile(r"tly_[A-Za-z0-9_-]{43}")


def create_in_admin(persona, name="nightly export"):
    response = persona.client.post(reverse("admin:api_apitoken_add"), {"name": name}, follow=True)
    shown = [str(message) for message in get_messages(response.wsgi_request)] + [response.content.decode()]
    return response, shown


def test_creating_a_token_in_the_admin_shows_it_once(db):
    persona = make_persona("annotator")

    response, shown = create_in_admin(persona)

    assert response.status_code == 200
    tokens = {match for text in shown for match in TOKEN.findall(text)}
    assert len(tokens) == 1
    again = persona.client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    page = persona.client.get(reverse("admin:api_apitoken_change", args=[ApiToken.objects.get().pk]))
    assert tokens.pop() not in again + page.content.decode()


def test_a_token_made_in_the_admin_opens_the_api_as_its_creator(db):
    persona = make_persona("reviewer")
    _, shown = create_in_admin(persona)
    token = next(match for text in shown for match in TOKEN.findall(text))

    response = persona.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json()["username"] == "reviewer"
    assert response.json()["token_name"] == "nightly export"


def test_only_the_hash_of_a_token_is_stored(db):
    persona = make_persona("data_lead")

    row, token = create_token(user=persona.user, name="sync")

    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert token not in str(stored)
    assert stored["secret_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["prefix"] == token[:8]


def test_a_revoked_token_answers_401(db):
    caller = make_caller("ml_engineer")
    assert caller.get("/me").status_code == 200

    persona = caller.persona
    changelist = reverse("admin:api_apitoken_changelist")
    persona.client.post(
        changelist, {"action": "revoke_selected", "_selected_action": [ApiToken.objects.get().pk]}, follow=True
    )

    assert ApiToken.objects.get().revoked_at is not None
    assert caller.get("/me").status_code == 401


def test_a_token_of_a_deactivated_account_answers_401(db):
    caller = make_caller("reviewer")
    caller.persona.user.is_active = False
    caller.persona.user.save()

    assert caller.get("/datasets").status_code == 401


def test_a_token_of_an_account_without_admin_access_answers_401(db):
    caller = make_caller("reviewer")
    caller.persona.user.is_staff = False
    caller.persona.user.save()

    assert caller.get("/datasets").status_code == 401


def test_a_wrong_token_with_a_real_prefix_answers_401(db):
    caller = make_caller("annotator")
    caller.token = caller.token[:8] + "x" * (len(caller.token) - 8)

    response = caller.get("/me")

    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_a_token_in_another_scheme_answers_401(db):
    caller = make_caller("annotator")

    response = caller.client.get("/api/v1/me", headers={"Authorization": f"Token {caller.token}"})

    assert response.status_code == 401


def test_last_used_is_written_at_most_once_a_minute(db):
    caller = make_caller("annotator")
    caller.get("/me")
    first = ApiToken.objects.get().last_used_at

    caller.get("/me")
    assert ApiToken.objects.get().last_used_at == first

    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    caller.get("/me")
    assert ApiToken.objects.get().last_used_at > first


def test_people_see_only_their_own_tokens_in_the_admin(db):
    mine, theirs = make_persona("data_lead"), make_persona("reviewer")
    create_token(user=mine.user, name="my script")
    other, _ = create_token(user=theirs.user, name="their script")

    listed = mine.client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    page = mine.client.get(reverse("admin:api_apitoken_change", args=[other.pk]))

    assert "my script" in listed
    assert "their script" not in listed
    assert page.status_code == 404


def test_nobody_revokes_another_persons_token(db):
    mine, theirs = make_persona("data_lead"), make_persona("reviewer")
    other, token = create_token(user=theirs.user, name="their script")

    mine.client.post(
        reverse("admin:api_apitoken_changelist"), {"action": "revoke_selected", "_selected_action": [other.pk]}
    )

    assert ApiToken.objects.get(pk=other.pk).revoked_at is None
    assert token_owner(token) == theirs.user


def test_administrators_revoke_anyones_token(db):
    boss, someone = make_persona("admin"), make_persona("annotator")
    caller = caller_for(someone)

    boss.client.post(
        reverse("admin:api_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [ApiToken.objects.get().pk]},
    )

    assert caller.get("/me").status_code == 401


def test_a_token_made_by_an_administrator_is_their_own(db):
    boss = make_persona("admin")

    create_in_admin(boss, name="admin script")

    assert ApiToken.objects.get().user == boss.user
