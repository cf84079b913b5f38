"""Exports in the admin and on the terminal: who may open the export page (403 / 404 per role),
small exports streamed to the browser, large ones as a job whose file only its creator (or an
administrator) downloads, the records list's "Export selected…", and `manage.py export_dataset`."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.urls import reverse

from corpus.models import Record
from jobs.models import Job, JobCancelled
from labeling.services.export import ExportOptions, export_file, run_export, start_export
from tests.conftest import make_persona
from tests.factories import (
    AnnotationFactory,
    DatasetFactory,
    JobFactory,
    LabelFactory,
    LabelSchemaFactory,
    RecordFactory,
    UserFactory,
)

ROLES = ["annotator", "reviewer", "data_lead", "ml_engineer", "admin"]
MAY_EXPORT = {"annotator": 403, "reviewer": 403, "data_lead": 200, "ml_engineer": 403, "admin": 200}
FORM = {"format": "jsonl", "annotations": "final", "meta": "on", "seed": "42", "escape_formulas": "on"}


def page_url(dataset) -> str:
    return reverse("admin:corpus_dataset_export_dataset", args=[dataset.pk])


def download_url(job) -> str:
    return reverse("admin:labeling_export_download", args=[job.pk])


def labeled(dataset, n: int = 3):
    schema = LabelSchemaFactory(dataset=dataset)
    label = LabelFactory(schema=schema, name="positive")
    records = [RecordFactory(dataset=dataset, text=f"Lovely stay number {i}", external_id=f"s{i}") for i in range(n)]
    for record in records:
        AnnotationFactory(record=record, schema=schema, annotator=None, source="imported", labels=[label])
    return records


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- The page, per role ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_export_page_answers_each_role_inside_their_datasets(db, role):
    persona = make_persona(role)

    response = persona.client.get(page_url(persona.dataset))

    assert response.status_code == MAY_EXPORT[role]


@pytest.mark.parametrize("role", ROLES)
def test_exporting_another_teams_dataset_is_404_never_data(db, role):
    persona = make_persona(role)
    secret = RecordFactory(dataset=persona.other_dataset, text="Their confidential review")

    response = persona.client.post(page_url(persona.other_dataset), FORM)

    expected = {**MAY_EXPORT, "data_lead": 404}[role]
    assert response.status_code == expected
    if role != "admin":
        assert secret.text.encode() not in body(response)


def test_signed_out_people_are_sent_to_the_login(db):
    dataset = DatasetFactory()

    response = make_persona("anonymous").client.get(page_url(dataset))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_dataset_page_offers_the_export_button_to_those_who_may_export(db):
    lead, reviewer = make_persona("data_lead"), make_persona("reviewer")

    shown = lead.client.get(reverse("admin:corpus_dataset_change", args=[lead.dataset.pk]))
    hidden = reviewer.client.get(reverse("admin:corpus_dataset_change", args=[reviewer.dataset.pk]))

    assert page_url(lead.dataset).encode() in shown.content
    assert page_url(reviewer.dataset).encode() not in hidden.content


# --- Streamed or a job -----------------------------------------------------------------------


def test_a_small_export_streams_straight_to_the_browser(data_lead):
    labeled(data_lead.dataset)

    response = data_lead.client.post(page_url(data_lead.dataset), {**FORM, "split": "80/10/10"})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert "no-store" in response["Cache-Control"]
    rows = [json.loads(line) for line in body(response).splitlines()]
    assert sorted(row["id"] for row in rows) == ["s0", "s1", "s2"]
    assert {row["label"] for row in rows} == {"positive"}


def test_form_errors_are_shown_on_the_page_and_nothing_is_exported(data_lead):
    response = data_lead.client.post(page_url(data_lead.dataset), {**FORM, "split": "eighty/twenty"})

    assert response.status_code == 200
    assert not response.streaming
    assert "a split is two or three whole numbers" in response.content.decode()


def test_a_large_export_runs_as_a_job_whose_page_links_the_file(
    data_lead, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_STREAM_MAX_RECORDS = 2
    settings.DATA_DIR = tmp_path
    labeled(data_lead.dataset, n=3)

    with django_capture_on_commit_callbacks(execute=True):
        response = data_lead.client.post(page_url(data_lead.dataset), FORM)

    job = Job.objects.get(kind="export")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:jobs_job_change", args=[job.pk])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["rows"] == 3
    job_page = data_lead.client.get(response["Location"])
    assert download_url(job).encode() in job_page.content
    download = data_lead.client.get(download_url(job))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert len(body(download).splitlines()) == 3
    assert Path(tmp_path, "exports", str(job.pk), job.result["file"]).is_file()


# --- Downloads -------------------------------------------------------------------------------


@pytest.fixture
def finished_export(settings, tmp_path, django_capture_on_commit_callbacks):
    """An export job of a data lead (member of the dataset), run to the end."""
    settings.DATA_DIR = tmp_path

    def make(creator, dataset) -> Job:
        labeled(dataset, n=2)
        with django_capture_on_commit_callbacks(execute=True):
            job = start_export(dataset=dataset, options=ExportOptions(fmt="csv"), user=creator)
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        return job

    return make


def test_the_creator_downloads_their_export(data_lead, finished_export):
    job = finished_export(data_lead.user, data_lead.dataset)

    response = data_lead.client.get(download_url(job))

    assert response.status_code == 200
    assert b"Lovely stay number 0" in body(response)


def test_another_persons_export_is_404_even_in_the_same_dataset(data_lead, finished_export):
    colleague = UserFactory(role="Data lead")
    data_lead.dataset.memberships.create(user=colleague)
    job = finished_export(colleague, data_lead.dataset)

    response = data_lead.client.get(download_url(job))

    assert response.status_code == 404
    assert b"Lovely stay" not in body(response)


def test_an_administrator_downloads_anyones_export(admin_persona, finished_export):
    lead = UserFactory(role="Data lead")
    job = finished_export(lead, admin_persona.other_dataset)

    assert admin_persona.client.get(download_url(job)).status_code == 200


@pytest.mark.parametrize("role", ["annotator", "reviewer", "ml_engineer"])
def test_roles_that_never_export_get_403_for_a_download(db, role, finished_export):
    persona = make_persona(role)
    job = finished_export(persona.user, persona.dataset)  # even their own (say, from before a role change)

    assert persona.client.get(download_url(job)).status_code == 403


def test_an_export_of_a_dataset_one_left_is_404(data_lead, finished_export):
    job = finished_export(data_lead.user, data_lead.dataset)
    data_lead.dataset.memberships.filter(user=data_lead.user).delete()

    assert data_lead.client.get(download_url(job)).status_code == 404


def test_a_job_that_is_not_an_export_or_not_finished_is_404(data_lead):
    embed = JobFactory(kind="embed", created_by=data_lead.user, status=Job.Status.SUCCEEDED)
    running = JobFactory(
        kind="export", created_by=data_lead.user, status=Job.Status.RUNNING, params={"dataset_id": data_lead.dataset.pk}
    )

    assert data_lead.client.get(download_url(embed)).status_code == 404
    assert data_lead.client.get(download_url(running)).status_code == 404
    assert data_lead.client.get(reverse("admin:labeling_export_download", args=[987654])).status_code == 404


def test_a_download_never_follows_a_path_out_of_the_job_s_folder(data_lead, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    secret = tmp_path / "data" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the database password")
    jobs = [
        JobFactory(
            kind="export",
            created_by=data_lead.user,
            status=Job.Status.SUCCEEDED,
            params={"dataset_id": data_lead.dataset.pk},
            result={"file": name},
        )
        for name in ["../../secret.txt", "/etc/passwd", str(secret), "..", ""]
    ]

    for job in jobs:
        response = data_lead.client.get(download_url(job))
        assert response.status_code == 404
        assert b"password" not in body(response)


def test_download_urls_take_a_number_and_nothing_else(data_lead):
    # Not the download route at all: the admin's catch-all sends it to a dataset "change" page, 404.
    response = data_lead.client.get("/admin/corpus/dataset/export/..%2F..%2Fsettings.py/download/", follow=True)

    assert response.status_code == 404
    assert b"SECRET_KEY" not in response.content


# --- The records list's "Export selected…" ----------------------------------------------------


def test_exporting_selected_records_asks_for_the_options_then_streams_only_those(data_lead):
    records = labeled(data_lead.dataset, n=4)
    chosen = [records[1].pk, records[3].pk]
    url = reverse("admin:corpus_record_changelist")
    selection = {"action": "export_selected", "_selected_action": chosen, "select_across": "0"}

    form_page = data_lead.client.post(url, selection)
    export = data_lead.client.post(url, {**selection, **FORM, "apply_export": "1"})

    assert form_page.status_code == 200
    assert b'name="apply_export"' in form_page.content
    assert export.status_code == 200
    assert sorted(json.loads(line)["id"] for line in body(export).splitlines()) == ["s1", "s3"]


def test_export_selected_is_offered_only_to_those_who_may_export(db):
    lead, engineer = make_persona("data_lead"), make_persona("ml_engineer")
    url = reverse("admin:corpus_record_changelist")

    def actions(persona) -> set[str]:
        return {name for name, _ in persona.client.get(url).context["action_form"].fields["action"].choices}

    assert "export_selected" in actions(lead)
    assert "export_selected" not in actions(engineer)


def test_selected_records_of_two_datasets_are_not_exported_together(admin_persona):
    mine, theirs = RecordFactory(dataset=admin_persona.dataset), RecordFactory(dataset=admin_persona.other_dataset)
    url = reverse("admin:corpus_record_changelist")

    response = admin_persona.client.post(
        url, {"action": "export_selected", "_selected_action": [mine.pk, theirs.pk]}, follow=True
    )

    assert "Select records of one dataset" in response.content.decode()


# --- The command -----------------------------------------------------------------------------


def test_the_command_writes_the_export_and_prints_the_report(db, tmp_path):
    dataset = DatasetFactory(name="Hotel reviews")
    labeled(dataset, n=10)
    out_file, printed = tmp_path / "reviews.jsonl", io.StringIO()

    call_command(
        "export_dataset", "Hotel reviews", "--split", "80/10/10", "--seed", "3", "--out", str(out_file),
        "--no-progress", stdout=printed,
    )  # fmt: skip

    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 10
    assert {row["split"] for row in rows} <= {"train", "validation", "test"}
    assert "10 records as jsonl" in printed.getvalue()
    assert "train 8 / validation 1 / test 1" in printed.getvalue()


def test_the_command_names_what_is_wrong(db):
    DatasetFactory(name="Hotel reviews")

    with pytest.raises(CommandError, match="a split is two or three whole numbers"):
        call_command("export_dataset", "Hotel reviews", "--split", "80/x", "--no-progress")
    with pytest.raises(CommandError, match="no dataset"):
        call_command("export_dataset", "Nothing like it", "--no-progress")


def test_the_command_filters_by_status_and_label_names(db, tmp_path):
    dataset = DatasetFactory(name="Hotel reviews")
    labeled(dataset, n=3)
    out_file = tmp_path / "none.csv"

    call_command(
        "export_dataset", "Hotel reviews", "--format", "csv", "--status", "gold", "--labels", "positive",
        "--out", str(out_file), "--no-progress", stdout=io.StringIO(),
    )  # fmt: skip

    assert out_file.read_text(encoding="utf-8-sig").splitlines() == ["id,text,label"]
    assert Record.objects.filter(dataset=dataset).count() == 3


def test_a_cancelled_export_job_leaves_no_file(data_lead, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    labeled(data_lead.dataset, n=2)
    job = JobFactory(
        kind="export",
        created_by=data_lead.user,
        status=Job.Status.RUNNING,
        attempts=1,
        cancel_requested=True,
        params={"dataset_id": data_lead.dataset.pk, "options": ExportOptions(fmt="jsonl").to_params()},
    )

    with pytest.raises(JobCancelled):
        run_export(job)

    assert list((tmp_path / "exports" / str(job.pk)).iterdir()) == []
    assert export_file(job) is None
