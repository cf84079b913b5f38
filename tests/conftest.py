from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from labeling.roles import Role
from tests.factories import DatasetFactory, UserFactory

ROLES = ["annotator", "reviewer", "data_lead", "ml_engineer", "admin"]
ROLE_GROUPS = {
    "annotator": Role.ANNOTATOR,
    "reviewer": Role.REVIEWER,
    "data_lead": Role.DATA_LEAD,
    "ml_engineer": Role.ML_ENGINEER,
}


@dataclass
class Persona:
    """A signed-in person of one role, member of `dataset` (and not of `other_dataset`)."""

    role: str
    user: User | None
    client: Client
    dataset: object
    other_dataset: object


def make_persona(role: str) -> Persona:
    dataset = DatasetFactory(name=f"{role} team data")
    other_dataset = DatasetFactory(name=f"Not {role}'s data")
    client = Client()
    if role == "anonymous":
        return Persona(role, None, client, dataset, other_dataset)
    if role == "admin":
        user = UserFactory(username="boss", is_superuser=True)
    else:
        user = UserFactory(username=role, role=ROLE_GROUPS[role])
        dataset.memberships.create(user=user)
    client.force_login(user)
    return Persona(role, user, client, dataset, other_dataset)


@pytest.fixture
def annotator(db) -> Persona:
    return make_persona("annotator")


@pytest.fixture
def reviewer(db) -> Persona:
    return make_persona("reviewer")


@pytest.fixture
def data_lead(db) -> Persona:
    return make_persona("data_lead")


@pytest.fixture
def ml_engineer(db) -> Persona:
    return make_persona("ml_engineer")


@pytest.fixture
def admin_persona(db) -> Persona:
    return make_persona("admin")
