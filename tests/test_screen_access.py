"""The labeling screens (annotate, review, agreement, my work), for every role: 200 where the
role may work, 403 where it never may, 404 for ids of another team's label set or record (so ids
reveal nothing), 302 to the login when signed out. Model pages are in test_admin_access.py.

A screen added to LabelSchemaAdmin.get_urls without a row here fails
test_every_labeling_screen_has_a_row."""

import json

import pytest
from django.contrib import admin
from django.urls import reverse

from labeling.models import LabelSchema
from tests.conftest import make_persona
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory

ROLES = ["annotator", "reviewer", "data_lead", "ml_engineer", "admin"]
ANNOTATE = {"annotator": 200, "reviewer": 200, "data_lead": 200, "ml_engineer": 403, "admin": 200}
REVIEW = {"annotator": 403, "reviewer": 200, "data_lead": 200, "ml_engineer": 403, "admin": 200}
SEE_ALL = {"annotator": 403, "reviewer": 200, "data_lead": 200, "ml_engineer": 200, "admin": 200}
# A POST with an empty body: the right people get past the checks to "bad input" (400).
ANNOTATE_POST = {role: 400 if status == 200 else status for role, status in ANNOTATE.items()}

# url name -> (method, takes a record, expected status per role inside their datasets)
SCREENS = {
    "labeling_work": ("get", None, {**ANNOTATE, "ml_engineer": 403}),
    "labeling_annotate": ("get", False, ANNOTATE),
    "labeling_annotate_next": ("get", False, ANNOTATE),
    "labeling_annotate_save": ("post", False, ANNOTATE_POST),
    "labeling_annotate_skip": ("post", False, ANNOTATE_POST),
    "labeling_annotate_undo": ("post", False, {**ANNOTATE_POST}),
    # "Back" opens only records the person was served: a record nobody served them is 404 for all.
    "labeling_annotate_item": (
        "get",
        True,
        {**ANNOTATE, "annotator": 404, "reviewer": 404, "data_lead": 404, "admin": 404},
    ),
    "labeling_review": ("get", False, REVIEW),
    "labeling_review_record": ("get", True, REVIEW),
    "labeling_agreement": ("get", False, SEE_ALL),
}


def test_every_labeling_screen_has_a_row():
    names = {
        pattern.name
        for pattern in admin.site._registry[LabelSchema].get_urls()
        if pattern.name and not pattern.name.startswith("labeling_labelschema_")
    }

    assert names == set(SCREENS)


def _url(name: str, schema, record) -> str:
    takes_record = SCREENS[name][1]
    if takes_record is None:
        return reverse(f"admin:{name}")
    args = [schema.pk, record.pk] if takes_record else [schema.pk]
    return reverse(f"admin:{name}", args=args)


def _call(client, name: str, url: str):
    if SCREENS[name][0] == "post":
        return client.post(url, data=json.dumps({}), content_type="application/json")
    return client.get(url)


def _label_set_with_a_record(dataset):
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment")
    LabelFactory(schema=schema, name="positive", hotkey="1")
    LabelFactory(schema=schema, name="negative", hotkey="2")
    return schema, RecordFactory(dataset=dataset)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screens_answer_each_role_inside_their_datasets(db, role, name):
    persona = make_persona(role)
    schema, record = _label_set_with_a_record(persona.dataset)

    response = _call(persona.client, name, _url(name, schema, record))

    assert response.status_code == SCREENS[name][2][role], response.content[:300]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", [name for name, (_, takes, _) in SCREENS.items() if takes is not None])
def test_guessing_another_teams_ids_answers_404_never_data(db, role, name):
    persona = make_persona(role)
    schema, record = _label_set_with_a_record(persona.other_dataset)
    mine, my_record = _label_set_with_a_record(persona.dataset)
    expected = SCREENS[name][2][role]

    response = _call(persona.client, name, _url(name, schema, record))
    # Their label set with my record, and my label set with their record: both must stay shut.
    mixed = [_url(name, schema, my_record), _url(name, mine, record)] if SCREENS[name][1] else []

    if role == "admin":
        assert response.status_code == expected  # an administrator sees every dataset
        return
    if expected == 403:
        assert response.status_code == 403  # the role may never use the screen: it learns nothing more
        return
    assert response.status_code == 404
    assert record.text.encode() not in response.content
    for url in mixed:
        assert _call(persona.client, name, url).status_code == 404


@pytest.mark.parametrize("name", list(SCREENS))
def test_signed_out_people_are_sent_to_the_login(db, name):
    persona = make_persona("anonymous")
    schema, record = _label_set_with_a_record(persona.dataset)

    response = _call(persona.client, name, _url(name, schema, record))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_sidebar_marks_my_work_on_a_labeling_screen_and_label_schemas_on_their_pages(db):
    persona = make_persona("data_lead")
    schema, _ = _label_set_with_a_record(persona.dataset)

    on_screen = persona.client.get(reverse("admin:labeling_review", args=[schema.pk]))
    on_list = persona.client.get(reverse("admin:labeling_labelschema_changelist"))

    assert [item["title"] for item in _active_items(on_screen)] == ["My work"]
    assert [item["title"] for item in _active_items(on_list)] == ["Label schemas"]


def _active_items(response) -> list[dict]:
    navigation = response.context["sidebar_navigation"]
    return [item for group in navigation for item in group["items"] if item.get("active")]
