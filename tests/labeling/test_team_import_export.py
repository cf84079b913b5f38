"""The People list's import/export buttons: the team by username, role and datasets, inside the
importer's datasets, never administrators, never a colleague's password."""

import csv
import io

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from corpus.models import Membership
from tests.factories import DatasetFactory, UserFactory

HEADER = "username,first_name,last_name,email,is_active,role,datasets\n"


def upload(persona, content: str):
    """Post a CSV on the People import page: the preview (or the page with the file's errors)."""
    file = SimpleUploadedFile("people.csv", content.encode("utf-8"), content_type="text/csv")
    return persona.client.post(reverse("admin:auth_user_import"), {"import_file": file, "format": "0", "resource": "0"})


def confirm(persona, preview):
    """Press "Confirm import" on a preview page."""
    form = preview.context["confirm_form"]
    data = {name: field.initial for name, field in form.fields.items()}
    data.update(form.initial)
    return persona.client.post(reverse("admin:auth_user_process_import"), data, follow=True)


def import_people(persona, content: str):
    preview = upload(persona, content)
    assert "confirm_form" in preview.context, preview.text[-3000:]
    return confirm(persona, preview)


def export_people(persona, fmt: str = "0") -> list[dict]:
    response = persona.client.post(reverse("admin:auth_user_export"), {"format": fmt, "resource": "0"})
    assert response.status_code == 200
    if fmt == "1":
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        header, *rows = [["" if cell is None else cell for cell in row] for row in sheet.iter_rows(values_only=True)]
        return [dict(zip(header, row, strict=True)) for row in rows]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def people_snapshot():
    """Every account with its role and memberships: to prove that a refused file wrote nothing."""
    return [
        (
            person.username,
            person.first_name,
            person.email,
            person.is_active,
            person.password,
            sorted(person.groups.values_list("name", flat=True)),
            sorted(person.datasets.values_list("name", flat=True)),
        )
        for person in User.objects.order_by("username")
    ]


# --- Export -------------------------------------------------------------------------------------


def test_export_lists_the_team_without_administrators_or_other_teams_dataset_names(data_lead):
    colleague = UserFactory(username="rita", first_name="Rita", role="Reviewer")
    data_lead.dataset.memberships.create(user=colleague)
    data_lead.other_dataset.memberships.create(user=colleague)
    UserFactory(username="root", is_superuser=True)

    rows = {row["username"]: row for row in export_people(data_lead)}

    assert "root" not in rows
    assert set(rows) == {"data_lead", "rita"}
    assert rows["rita"]["role"] == "Reviewer"
    assert rows["rita"]["datasets"] == data_lead.dataset.name  # never the other team's dataset name
    assert rows["rita"]["first_name"] == "Rita"
    assert rows["rita"]["is_active"] == "1"


@pytest.mark.parametrize("fmt", ["0", "1"], ids=["csv", "xlsx"])
def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(data_lead, fmt):
    sneaky = DatasetFactory(name="=cmd|'/c calc'!A0", members=[data_lead.user])
    person = UserFactory(username="-anna", first_name='=HYPERLINK("http://evil")', last_name="+1", role="Annotator")
    sneaky.memberships.create(user=person)

    rows = {row["username"]: row for row in export_people(data_lead, fmt)}

    assert "'-anna" in rows
    anna = rows["'-anna"]
    assert anna["first_name"] == '\'=HYPERLINK("http://evil")'
    assert anna["last_name"] == "'+1"
    assert anna["datasets"] == "'=cmd|'/c calc'!A0"


def test_administrators_export_administrators_too(admin_persona):
    UserFactory(username="rita", role="Reviewer")

    rows = {row["username"]: row for row in export_people(admin_persona)}

    assert set(rows) == {"boss", "rita"}
    assert rows["boss"]["role"] == ""


# --- Import: new and existing people --------------------------------------------------------------


def test_data_lead_imports_new_people_with_role_datasets_and_no_password(data_lead):
    second = DatasetFactory(name="Second", members=[data_lead.user])

    response = import_people(
        data_lead,
        HEADER + f"maria,Maria,Okafor,maria@example.com,1,annotator,{data_lead.dataset.name}; Second\n"
        "tom,Tom,,tom@example.com,,Reviewer,\n",
    )

    maria, tom = User.objects.get(username="maria"), User.objects.get(username="tom")
    assert response.status_code == 200
    assert list(maria.groups.values_list("name", flat=True)) == ["Annotator"]
    assert set(maria.datasets.all()) == {data_lead.dataset, second}
    assert (maria.first_name, maria.last_name, maria.email) == ("Maria", "Okafor", "maria@example.com")
    assert list(tom.groups.values_list("name", flat=True)) == ["Reviewer"]
    assert not tom.datasets.exists()
    for person in (maria, tom):
        assert person.is_active and person.is_staff and not person.is_superuser
        assert not person.has_usable_password()


def test_import_updates_people_and_keeps_memberships_the_importer_cannot_see(data_lead):
    colleague = UserFactory(username="rita", first_name="Rita", role="Annotator")
    data_lead.dataset.memberships.create(user=colleague)
    data_lead.other_dataset.memberships.create(user=colleague)
    newer = DatasetFactory(name="Newer", members=[data_lead.user])
    password = colleague.password

    import_people(data_lead, HEADER + "rita,Margarita,Diaz,rita@example.org,0,Reviewer,Newer\n")

    colleague.refresh_from_db()
    assert (colleague.first_name, colleague.last_name, colleague.email) == ("Margarita", "Diaz", "rita@example.org")
    assert not colleague.is_active
    assert list(colleague.groups.values_list("name", flat=True)) == ["Reviewer"]
    assert set(colleague.datasets.all()) == {newer, data_lead.other_dataset}
    assert colleague.password == password


def test_an_empty_is_active_cell_leaves_the_account_as_it_is(data_lead):
    UserFactory(username="gone", is_active=False, role="Annotator")

    import_people(data_lead, HEADER + "gone,Gone,,,,Annotator,\n")

    assert not User.objects.get(username="gone").is_active


def test_a_file_without_a_datasets_column_leaves_memberships_alone(data_lead):
    colleague = UserFactory(username="rita", role="Annotator")
    data_lead.dataset.memberships.create(user=colleague)

    import_people(data_lead, "username,first_name,role\nrita,Rita,Annotator\n")

    assert list(colleague.datasets.all()) == [data_lead.dataset]


def test_an_exported_file_imports_again_without_changing_anything(data_lead):
    colleague = UserFactory(username="-anna", first_name="=SUM(1)", role="Annotator")
    data_lead.dataset.memberships.create(user=colleague)
    exported = data_lead.client.post(reverse("admin:auth_user_export"), {"format": "0", "resource": "0"})
    before = people_snapshot()

    preview = upload(data_lead, exported.content.decode("utf-8-sig"))
    confirm(data_lead, preview)

    result = preview.context["result"]
    assert result.totals["skip"] == 2 and result.totals["new"] == result.totals["update"] == 0
    assert people_snapshot() == before


def test_import_ignores_superuser_and_staff_columns(data_lead):
    import_people(data_lead, "username,role,is_superuser,is_staff\nmallory,Annotator,1,0\n")

    mallory = User.objects.get(username="mallory")
    assert not mallory.is_superuser
    assert mallory.is_staff  # as the add form makes everyone


# --- Import: bad rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("maria,,,,,Boss,", "role", "Unknown role “Boss”: use one of Annotator, Reviewer, Data lead, ML engineer."),
        ("maria,,,,,,", "role", "Every person needs a role"),
        ("maria,,,not-an-email,,Annotator,", "email", "Enter a valid email address."),
        ("maria smith,,,,,Annotator,", "username", "Enter a valid username."),
        ("maria,,,,yes,Annotator,", "is_active", "“yes” is not a yes/no value"),
        ("maria,,,,,Annotator,No such dataset", "datasets", "Dataset “No such dataset” does not exist."),
    ],
    ids=["unknown role", "no role", "email", "username", "is_active", "unknown dataset"],
)
def test_a_bad_row_is_named_with_its_field_and_nothing_is_written(data_lead, row, field, message):
    colleague = UserFactory(username="rita", role="Annotator")
    before = people_snapshot()

    response = upload(data_lead, HEADER + f"rita,Renamed,,,,Reviewer,{data_lead.dataset.name}\n{row}\n")

    result = response.context["result"]
    assert "confirm_form" not in response.context
    assert [(bad.number, list(bad.field_specific_errors)) for bad in result.invalid_rows] == [(2, [field])]
    assert message in " ".join(result.invalid_rows[0].field_specific_errors[field])
    assert message.split("“")[0] in response.text  # shown on the page, with the row and field
    assert people_snapshot() == before  # not even the good first row
    assert not colleague.datasets.exists()


def test_another_teams_dataset_reads_exactly_like_one_that_does_not_exist(data_lead):
    foreign = data_lead.other_dataset.name

    refused = upload(data_lead, HEADER + f"maria,,,,,Annotator,{foreign}\n").context["result"]
    missing = upload(data_lead, HEADER + "maria,,,,,Annotator,Made up\n").context["result"]

    assert refused.invalid_rows[0].error_dict == {"datasets": [f"Dataset “{foreign}” does not exist."]}
    assert missing.invalid_rows[0].error_dict == {"datasets": ["Dataset “Made up” does not exist."]}
    assert not User.objects.filter(username="maria").exists()
    assert not Membership.objects.filter(dataset=data_lead.other_dataset).exists()


def test_a_data_lead_cannot_put_a_colleague_on_another_teams_dataset(data_lead):
    colleague = UserFactory(username="rita", role="Annotator")

    response = upload(data_lead, HEADER + f"rita,,,,,Annotator,{data_lead.other_dataset.name}\n")

    assert "confirm_form" not in response.context
    assert not colleague.datasets.exists()


def test_a_data_lead_cannot_create_or_change_an_administrator(data_lead):
    root = UserFactory(username="root", first_name="Root", is_superuser=True)
    before = people_snapshot()

    response = upload(data_lead, HEADER + "root,Hacked,,root@evil.example,1,Annotator,\n")

    result = response.context["result"]
    assert "confirm_form" not in response.context
    assert result.invalid_rows[0].error_dict == {"username": ["No such person: “root”."]}
    assert people_snapshot() == before
    root.refresh_from_db()
    assert root.is_superuser and root.first_name == "Root"


def test_an_administrators_import_skips_unchanged_administrators_and_refuses_to_change_them(admin_persona):
    UserFactory(username="root", first_name="Root", is_superuser=True)

    unchanged = upload(admin_persona, "username,first_name,role\nroot,Root,\n").context["result"]
    changed = upload(admin_persona, "username,first_name,role\nroot,Hacked,\n").context["result"]

    assert unchanged.totals["skip"] == 1 and not unchanged.has_validation_errors()
    assert changed.invalid_rows[0].error_dict == {
        "username": ["“root” is an administrator: the import never changes administrators."]
    }
    assert User.objects.get(username="root").first_name == "Root"


def test_a_file_that_goes_bad_between_preview_and_confirm_writes_nothing(data_lead):
    preview = upload(data_lead, HEADER + f"maria,,,,,Annotator,\ntom,,,,,Annotator,{data_lead.dataset.name}\n")
    data_lead.dataset.memberships.filter(user=data_lead.user).delete()  # the importer no longer sees it

    response = confirm(data_lead, preview)

    assert not User.objects.filter(username__in=["maria", "tom"]).exists()
    assert response.redirect_chain[-1][0] == reverse("admin:auth_user_import")
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [f"Nothing was imported: row 2, datasets: Dataset “{data_lead.dataset.name}” does not exist."]


# --- Passwords of imported people -------------------------------------------------------------------


def twice(password: str) -> dict:
    return {"password1": password, "password2": password}


def test_the_preview_and_the_result_say_new_people_need_a_password(data_lead):
    preview = upload(data_lead, HEADER + "maria,,,,,Annotator,\n")
    assert "1 new person will have no password" in preview.text

    response = confirm(data_lead, preview)

    maria = User.objects.get(username="maria")
    assert "No password yet, so no sign-in" in response.text
    assert reverse("admin:auth_user_password_change", args=[maria.pk]) in response.text


def test_data_lead_sets_the_first_password_of_an_imported_person_once(data_lead):
    import_people(data_lead, HEADER + "maria,,,,,Annotator,\n")
    maria = User.objects.get(username="maria")
    url = reverse("admin:auth_user_password_change", args=[maria.pk])

    page = data_lead.client.get(url)
    saved = data_lead.client.post(url, twice("a long unusual passphrase 42"))
    again = data_lead.client.post(url, twice("another long passphrase 43"))

    maria.refresh_from_db()
    assert page.status_code == 200
    assert saved.status_code == 302
    assert again.status_code == 403  # now it is an existing password: never a data lead's to change
    assert maria.check_password("a long unusual passphrase 42")


def test_data_lead_cannot_change_an_existing_password_even_by_post(data_lead):
    colleague = UserFactory(username="rita", role="Annotator")
    url = reverse("admin:auth_user_password_change", args=[colleague.pk])

    response = data_lead.client.post(url, twice("takeover passphrase 42"))

    colleague.refresh_from_db()
    assert response.status_code == 403
    assert colleague.check_password("correct horse battery staple")


def test_an_administrators_password_page_does_not_exist_for_a_data_lead(data_lead):
    root = UserFactory(username="root", is_superuser=True)
    root.set_unusable_password()
    root.save()

    response = data_lead.client.get(reverse("admin:auth_user_password_change", args=[root.pk]))

    assert response.status_code == 404


def test_the_change_form_links_to_the_password_form_only_while_there_is_no_password(data_lead):
    newcomer = UserFactory(username="maria", role="Annotator")
    newcomer.set_unusable_password()
    newcomer.save()
    colleague = UserFactory(username="rita", role="Annotator")

    without = data_lead.client.get(reverse("admin:auth_user_change", args=[newcomer.pk]))
    with_password = data_lead.client.get(reverse("admin:auth_user_change", args=[colleague.pk]))

    assert 'href="../password/"' in without.text
    assert "No password yet" in without.text
    assert "../password/" not in with_password.text


def test_saving_the_change_form_of_a_person_without_password_keeps_it_unusable(data_lead):
    newcomer = UserFactory(username="maria", role="Annotator")
    newcomer.set_unusable_password()
    newcomer.save()

    response = data_lead.client.post(
        reverse("admin:auth_user_change", args=[newcomer.pk]),
        {"username": "maria", "first_name": "Maria", "is_active": "on", "role": "Annotator", "datasets": []},
    )

    newcomer.refresh_from_db()
    assert response.status_code == 302
    assert newcomer.first_name == "Maria"
    assert not newcomer.has_usable_password()


# --- Who may use the buttons ------------------------------------------------------------------------


@pytest.mark.parametrize("persona_name", ["annotator", "reviewer", "ml_engineer"])
@pytest.mark.parametrize("url_name", ["auth_user_import", "auth_user_process_import", "auth_user_export"])
def test_roles_that_do_not_manage_people_get_403_on_import_and_export(request, persona_name, url_name):
    persona = request.getfixturevalue(persona_name)

    response = persona.client.post(reverse(f"admin:{url_name}"), {"format": "0", "resource": "0"})

    assert response.status_code == 403


def test_the_people_list_shows_the_buttons_to_a_data_lead(data_lead):
    response = data_lead.client.get(reverse("admin:auth_user_changelist"))

    assert reverse("admin:auth_user_import") in response.text
    assert reverse("admin:auth_user_export") in response.text
