"""The People list's Import button in a real browser: a data lead uploads the team as a CSV, reads
the preview (new people, no password yet), confirms, and gives a newcomer the first password."""

import csv
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import expect

from tests.conftest import make_persona, sign_in

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
MARKUP = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def write_team(path: Path, dataset_name: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["username", "first_name", "last_name", "email", "is_active", "role", "datasets"])
        writer.writerow(["maria", "Maria", "Okafor", "maria@example.com", "1", "Annotator", dataset_name])
        writer.writerow(["tom", MARKUP, "=1+2", "tom@example.com", "1", "Reviewer", dataset_name])
    return path


def test_data_lead_imports_the_team_and_sets_a_newcomers_first_password(live_server, page, transactional_db, tmp_path):
    # Given a data lead on the People list, and a CSV of two new people
    persona = make_persona("data_lead")
    team = write_team(tmp_path / "team.csv", persona.dataset.name)
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size({"width": 1440, "height": 960})
    sign_in(page, live_server, persona.user)
    page.goto(live_server.url + reverse("admin:auth_user_changelist"))

    # When they open Import, choose the file and ask for the preview
    page.get_by_role("link", name="Import").click()
    page.locator("input[type=file][name=import_file]").set_input_files(team)
    page.select_option("select[name=format]", label="csv")
    page.get_by_role("button", name="Submit").click()

    # Then the preview lists both as new, says they will have no password, and runs no markup
    expect(page.get_by_text("2 new people will have no password")).to_be_visible()
    expect(page.locator("tr.new")).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "people-import-preview.png"), full_page=True)
    assert not User.objects.filter(username__in=["maria", "tom"]).exists()

    # When they confirm
    page.get_by_role("button", name="Confirm import").click()

    # Then both exist without a password, and the page links to each one's password form
    expect(page.get_by_text("Import finished: 2 new")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "people-import-done.png"), full_page=True)
    assert User.objects.get(username="tom").first_name == MARKUP  # stored as given, shown escaped
    assert not User.objects.get(username="maria").has_usable_password()

    # When they follow maria's link and set her first password
    page.get_by_role("link", name="maria", exact=True).first.click()
    maria = User.objects.get(username="maria")
    expect(page).to_have_url(live_server.url + reverse("admin:auth_user_password_change", args=[maria.pk]))
    page.fill("input[name=password1]", "a long unusual passphrase 42")
    page.fill("input[name=password2]", "a long unusual passphrase 42")
    page.get_by_role("button", name="Change password").click()

    # Then maria can sign in with it, and no uploaded markup ever ran
    expect(page.get_by_text("Password changed successfully.")).to_be_visible()
    maria.refresh_from_db()
    assert maria.check_password("a long unusual passphrase 42")
    assert problems == []


def test_a_bad_team_file_shows_each_rows_problem_and_writes_nothing(live_server, page, transactional_db, tmp_path):
    # Given a data lead, and a file with a good row, an unknown role and another team's dataset
    persona = make_persona("data_lead")
    team = tmp_path / "team.csv"
    team.write_text(
        "username,email,role,datasets\n"
        f"maria,maria@example.com,Annotator,{persona.dataset.name}\n"
        "tom,not-an-email,Boss,\n"
        f"rita,rita@example.com,Reviewer,{persona.other_dataset.name}\n",
        encoding="utf-8",
    )
    page.set_viewport_size({"width": 1440, "height": 960})
    sign_in(page, live_server, persona.user)

    # When they upload it
    page.goto(live_server.url + reverse("admin:auth_user_import"))
    page.locator("input[type=file][name=import_file]").set_input_files(team)
    page.select_option("select[name=format]", label="csv")
    page.get_by_role("button", name="Submit").click()

    # Then each bad row is shown with its field and message, there is nothing to confirm, and
    # nobody was created
    expect(page.get_by_text("Unknown role “Boss”")).to_be_visible()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_text(f"Dataset “{persona.other_dataset.name}” does not exist.")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "people-import-errors.png"), full_page=True)
    assert not User.objects.filter(username__in=["maria", "tom", "rita"]).exists()
