"""schemathesis drives every operation of the OpenAPI schema with generated requests, in process
(Django's WSGI handler, no server), as an administrator with a valid token and with data to
find: no request may ever answer a server error."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.color import no_style
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.tokens import create_token
from corpus.models import Dataset, Record
from jobs.models import Job
from labeling.models import Label, LabelSchema
from tests.factories import (
    DatasetFactory,
    JobFactory,
    LabelFactory,
    LabelSchemaFactory,
    RecordFactory,
    UserFactory,
)

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())

# ~14 operations: keeps the whole module well under a minute on a busy 2-core machine.
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def same_connection():
    """As Django's test client does: the requests run inside the test's transaction, so the
    handler must not close the connection at each request's start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, same_connection) -> str:
    boss = UserFactory(is_superuser=True)
    # Objects with the small ids hypothesis tries first, so generated requests reach past the
    # lookups into the services (the test's transaction is rolled back; sequences are untouched).
    dataset = DatasetFactory(id=1)
    label_set = LabelSchemaFactory(id=1, dataset=dataset, kind="multi")
    LabelFactory(id=1, schema=label_set, name="positive")
    LabelFactory(id=2, schema=label_set, name="negative")
    for pk in (1, 2, 3):
        RecordFactory(id=pk, dataset=dataset)
    JobFactory(id=1, created_by=boss)
    with connection.cursor() as cursor:
        # Past the ids taken by hand, for what the requests create.
        for statement in connection.ops.sequence_reset_sql(no_style(), [Dataset, LabelSchema, Label, Record, Job]):
            cursor.execute(statement)
    return create_token(user=boss, name="schemathesis")[1]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_answers_a_server_error(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])
