"""The dataset's “Import file” page in a real browser: a data lead uploads a file, chooses its
text column on the preview, imports it and reads the report; a bad file is refused with errors a
person can act on, and nothing of it is written."""

import csv
import unicodedata
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from corpus.models import Record
from tests.conftest import make_persona, sign_in
from tests.factories import RecordFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"

# (id, review, stars): a spreadsheet formula, markup that would run if rendered as HTML, a quoted
# cell over two lines holding the delimiter and quotes, and non-ASCII text whose "é" is decomposed
# (e + combining accent), so any Unicode normalization on the way in would show.
REVIEWS = [
    ("r-1", "=1+2", "5"),
    ("r-2", "<script>alert(1)</script><img src=x onerror=alert(2)>", "1"),
    ("r-3", 'Line one, with a comma\nline two said "hello"', "3"),
    ("r-4", "Cafe\u0301 crème brûlée — 日本語のレビュー 👍", "4"),
]


def import_url(dataset) -> str:
    return reverse("admin:corpus_dataset_import_file", args=[dataset.pk])


def write_csv(path: Path, header: list[str], rows) -> Path:
    """Written by Python's csv module as a spreadsheet exports it: CRLF rows, quotes only where needed."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def watch_for_script(page) -> list[str]:
    """Collects every dialog and page error: uploaded markup that runs shows up here."""
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def data_lead_on_the_import_page(page, live_server):
    """A data lead signed in through the login form, on the import page of their dataset."""
    persona = make_persona("data_lead")
    page.set_viewport_size({"width": 1440, "height": 960})
    sign_in(page, live_server, persona.user)
    page.goto(live_server.url + import_url(persona.dataset))
    return persona


def upload(page, path: Path) -> None:
    """Pick the file in the browser's file chooser with a click, as a mouse does, and ask for the preview."""
    with page.expect_file_chooser() as chooser:
        page.locator("input[type=file][name=file]").click()
    chooser.value.set_files(path)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_text(f"Preview of {path.name}")).to_be_visible()


def text_cells(page):
    """The “Text” column of the preview table, one cell per row."""
    return page.locator("#import-preview tbody tr td:nth-child(3)")


def test_data_lead_imports_a_csv_choosing_its_text_column_and_every_text_arrives_intact(
    live_server, page, transactional_db, tmp_path
):
    # Given a data lead with an empty dataset and a CSV whose text column is called "review"
    persona = make_persona("data_lead")
    dataset = persona.dataset
    dataset.name = "Product reviews"
    dataset.save()
    path = write_csv(tmp_path / "reviews-export.csv", ["id", "review", "stars"], REVIEWS)
    problems = watch_for_script(page)
    page.set_viewport_size({"width": 1440, "height": 960})
    ARTIFACTS.mkdir(exist_ok=True)

    # When they open their dataset, click “Import file” and upload the file
    sign_in(page, live_server, persona.user)
    page.goto(live_server.url + reverse("admin:corpus_dataset_changelist"))
    page.locator("#result_list").get_by_role("link", name="Product reviews").click()
    page.get_by_role("link", name="Import file").click()
    expect(page).to_have_url(live_server.url + import_url(dataset))
    upload(page, path)

    # Then the preview asks for the text column and lists the file's columns
    expect(page.get_by_role("alert")).to_contain_text(
        "reviews-export.csv, row 1: no text field found (looked for: text, content, sentence, body); "
        "name the one to use; the columns are: id, review, stars"
    )
    page.screenshot(path=str(ARTIFACTS / "import-mapping-needed.png"), full_page=True)

    # When they type the column's name and press Enter
    page.get_by_label("Text field").fill("review")
    page.get_by_label("Text field").press("Enter")

    # Then Enter only updates the preview: the mapping, and the rows as text, nothing run
    expect(page.locator("#import-mapping")).to_contain_text("csv · plain")
    mapping = {
        " ".join(row.locator("th").inner_text().split()): row.locator("td").inner_text()
        for row in page.locator("#import-mapping tr").all()
    }
    assert (mapping["Text"], mapping["Id"], mapping["Meta"]) == ("review", "id", "stars")
    expect(page.get_by_label("Id field")).to_have_value("id")  # what was detected, ready to change
    # Shown composed: Django's truncatechars applies NFC, a change of display only (stored text is checked below).
    assert text_cells(page).all_text_contents() == [unicodedata.normalize("NFC", text) for _, text, _ in REVIEWS]
    expect(page.locator("#import-preview")).to_contain_text("stars: 5")
    assert page.locator("#import-preview script, #import-preview img").count() == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert problems == []
    assert not Record.objects.filter(dataset=dataset).exists()
    page.screenshot(path=str(ARTIFACTS / "import-preview.png"), full_page=True)

    # When they import
    page.get_by_role("button", name="Import", exact=True).click()

    # Then the report counts the rows
    report = page.locator("#import-report")
    expect(report).to_contain_text("reviews-export.csv imported")
    counts = {
        row.locator("th").inner_text().strip(): row.locator("td").inner_text().strip()
        for row in page.locator("#import-counts tr").all()
    }
    assert counts == {"Rows read": "4", "Inserted": "4", "Duplicates skipped": "0"}
    page.screenshot(path=str(ARTIFACTS / "import-report.png"), full_page=True)

    # And every text is stored exactly as the file had it (equal strings are equal code points:
    # the decomposed "é", the newline and the quotes all survived), in file order
    stored = Record.objects.filter(dataset=dataset).order_by("pk").values_list("external_id", "text", "meta")
    assert list(stored) == [(ref, text, {"stars": stars}) for ref, text, stars in REVIEWS]
    assert problems == []


def test_empty_text_cells_are_reported_by_file_row_and_field_and_nothing_is_written(
    live_server, page, transactional_db, tmp_path
):
    # Given a dataset with two records, and a CSV whose rows 3 and 4 have no text and row 5 a
    # stray delimiter, between good rows
    persona = data_lead_on_the_import_page(page, live_server)
    RecordFactory.create_batch(2, dataset=persona.dataset)
    path = write_csv(
        tmp_path / "broken.csv",
        ["id", "text"],
        [("a1", "The first row is fine."), ("a2", ""), ("a3", "   "), ("a4", "Too", "many", "fields"), ("a5", "Fine.")],
    )
    upload(page, path)
    where = page.locator("#import-preview tbody tr td:first-child")
    expect(where).to_have_text(["row 2", "row 3", "row 4", "row 5", "row 6"])
    # and the preview already marks every row the import will refuse
    for row, message in [
        ("row 3", "broken.csv, row 3, field “text”: the text is empty"),
        ("row 4", "broken.csv, row 4, field “text”: the text is empty"),
        ("row 5", "broken.csv, row 5: the row has 4 fields, the header has 2"),
    ]:
        expect(page.locator("#import-preview tbody tr", has_text=row)).to_contain_text(message)

    # When they import it anyway
    page.get_by_role("button", name="Import", exact=True).click()

    # Then the report names the file, the row and the field of every error, and writes nothing
    report = page.locator("#import-report")
    expect(report).to_contain_text("broken.csv was not imported")
    expect(report).to_contain_text("3 errors; nothing was written.")
    expect(report.get_by_role("alert").locator("li")).to_have_text(
        [
            "broken.csv, row 3, field “text”: the text is empty",
            "broken.csv, row 4, field “text”: the text is empty",
            "broken.csv, row 5: the row has 4 fields, the header has 2",
        ]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-error.png"), full_page=True)
    assert Record.objects.filter(dataset=persona.dataset).count() == 2
    assert not Record.objects.filter(text="The first row is fine.").exists()


def test_a_jsonl_file_cut_off_mid_line_is_flagged_in_the_preview_and_refused(
    live_server, page, transactional_db, tmp_path
):
    # Given a dataset with a record, and a JSON Lines export cut off in its third line, under a
    # file name that is itself markup (the name is shown in the preview and in every error)
    persona = data_lead_on_the_import_page(page, live_server)
    RecordFactory(dataset=persona.dataset)
    problems = watch_for_script(page)
    name = "tickets<img src=x onerror=alert(7)>.jsonl"
    path = tmp_path / name
    path.write_bytes(
        b'{"id": "t1", "text": "Printer on floor 3 is jammed again."}\n'
        b'{"id": "t2", "text": "VPN drops every ten minutes."}\n'
        b'{"id": "t3", "text": "The laptop will not boot aft'
    )

    # When they upload it, the preview marks the cut line
    upload(page, path)
    cut = page.locator("#import-preview tbody tr", has_text="line 3")
    expect(cut).to_contain_text(f"{name}, line 3: invalid JSON: Unterminated string")
    expect(text_cells(page)).to_have_text(["Printer on floor 3 is jammed again.", "VPN drops every ten minutes."])

    # And when they import it anyway, the report names the file and the line, and nothing is written
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.locator("#import-report")
    expect(report).to_contain_text(f"{name} was not imported")
    expect(report.get_by_role("alert")).to_contain_text(f"{name}, line 3: invalid JSON: Unterminated string")
    assert page.locator("#content img[src=x]").count() == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert problems == []
    assert Record.objects.filter(dataset=persona.dataset).count() == 1
