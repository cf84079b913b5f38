import os
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from labeling.roles import Role
from tests.factories import DatasetFactory, UserFactory

ORPHAN_TEST_DATABASE = re.compile(r"test_tally_(\d+)(_gw\d+)?")


def pytest_sessionstart(session):
    """Drop the test databases of earlier runs whose process is gone: a run that was killed, or
    whose teardown found a session still connected, leaves its database on the embedded server,
    and they would pile up there run after run. Only the controller does it (not xdist workers),
    only on the embedded server; a run still going on this machine keeps its databases."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    if hasattr(session.config, "workerinput") or settings.DATABASE_URL:
        return  # a server elsewhere may hold the databases of other machines' runs, whose pids mean nothing here

    database = settings.DATABASES["default"]
    params = {"host": database["HOST"], "port": database["PORT"] or None, "user": database["USER"]}
    if database.get("PASSWORD"):
        params["password"] = database["PASSWORD"]
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as conn:
        names = [name for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test_tally_%'")]
        for name in names:
            match = ORPHAN_TEST_DATABASE.fullmatch(name)
            if match and not _process_alive(int(match.group(1))):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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


# --- Browser tests: Debian's chromium driven by Playwright (never `playwright install`) -------

# Sync Playwright keeps an event loop running in the test process's main thread from the first
# browser test to the end of the session; Django's ORM refuses to run beside it unless told so.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "headless": True, "args": CHROMIUM_ARGS}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def sign_in(page, live_server, user: User, password: str = "correct horse battery staple") -> None:
    """Through the real login form, as a person would."""
    page.goto(live_server.url + "/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(live_server.url + "/admin/")


@pytest.fixture(scope="session", autouse=True)
def _no_session_left_on_the_test_database(django_db_setup, django_db_blocker):
    """End the test database's other sessions before pytest-django drops it. One is left by the
    time the run ends: a connection the main thread opened during an ordinary test (seen with
    tests/corpus/test_embed_actions.py), idle after that test's ROLLBACK, and afterwards replaced
    rather than closed — most likely because later code ran in another context (Playwright's sync
    API runs in a greenlet with contextvars of its own, and Django keeps connections per context).
    Without this the drop fails ("being accessed by other users") and the database stays on the
    embedded server."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
