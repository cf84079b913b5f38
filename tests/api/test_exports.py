"""Exports through the API: a job with the admin's options, then a download that only its creator
may open, found from the job alone (no path from the request ever reaches the disk)."""

import json

from jobs.models import Job
from labeling.models import RecordState
from tests.api.conftest import caller_for, finished_export, make_caller
from tests.conftest import make_persona
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory


def labeled_dataset(dataset, count=10):
    schema = LabelSchemaFactory(dataset=dataset)
    positive = LabelFactory(schema=schema, name="positive")
    for n in range(count):
        state = RecordState.objects.create(
            record=RecordFactory(dataset=dataset, text=f"Review {n}: =SUM(A1)"),
            schema=schema,
            status=RecordState.Status.REVIEWED,
        )
        state.final_labels.set([positive])
    return schema


def test_a_whole_export_runs_and_downloads_through_the_api(db, django_capture_on_commit_callbacks):
    caller = make_caller("data_lead")
    schema = labeled_dataset(caller.persona.dataset)

    with django_capture_on_commit_callbacks(execute=True):  # TASK_QUEUE=immediate: the job runs here
        started = caller.post(
            "/jobs/export",
            {"dataset_id": caller.persona.dataset.pk, "label_set_id": schema.pk, "format": "jsonl", "split": [8, 1, 1]},
        )
    assert started.status_code == 202, started.content
    job = caller.get(f"/jobs/{started.json()['id']}").json()
    assert job["status"] == "succeeded", job["error"]
    download = caller.client.get(job["download_url"], headers=caller._headers())

    assert download.status_code == 200
    rows = [json.loads(line) for line in b"".join(download.streaming_content).decode().splitlines()]
    assert len(rows) == 10
    assert {row["label"] for row in rows} == {"positive"}
    assert "no-store" in download["Cache-Control"]


def test_export_options_reach_the_job(db, django_capture_on_commit_callbacks):
    caller = make_caller("data_lead")
    schema = labeled_dataset(caller.persona.dataset, count=1)

    with django_capture_on_commit_callbacks(execute=False):
        response = caller.post(
            "/jobs/export",
            {
                "dataset_id": caller.persona.dataset.pk,
                "label_set_id": schema.pk,
                "format": "csv",
                "statuses": ["reviewed", "gold"],
                "split": [80, 10, 10],
                "seed": 7,
                "escape_formulas": False,
            },
        )

    options = Job.objects.get(pk=response.json()["id"]).params["options"]
    assert (options["fmt"], options["schema_id"], options["statuses"]) == ("csv", schema.pk, ["reviewed", "gold"])
    assert (options["split"], options["seed"], options["escape_formulas"]) == ([80, 10, 10], 7, False)


def test_options_that_make_no_export_are_a_400_naming_the_field(db):
    caller = make_caller("data_lead")
    theirs = LabelSchemaFactory(dataset=caller.persona.other_dataset)

    wrong_set = caller.post("/jobs/export", {"dataset_id": caller.persona.dataset.pk, "label_set_id": theirs.pk})
    no_split = caller.post("/jobs/export", {"dataset_id": caller.persona.dataset.pk, "near_duplicate_threshold": 0.9})

    assert wrong_set.status_code == 400
    assert wrong_set.json()["detail"].startswith("label_set_id:")
    assert no_split.status_code == 400
    assert no_split.json()["detail"].startswith("near_duplicate_threshold:")
    assert not Job.objects.filter(kind="export").exists()


def test_an_unknown_format_is_a_422_listing_the_known_ones(db):
    caller = make_caller("data_lead")

    response = caller.post("/jobs/export", {"dataset_id": caller.persona.dataset.pk, "format": "parquet"})

    assert response.status_code == 422
    assert "labelstudio" in response.content.decode()


def test_a_colleague_of_the_same_dataset_cannot_download_my_export(db):
    mine = make_caller("data_lead")
    colleague = caller_for(make_persona("ml_engineer"))
    colleague.persona.user.groups.set(mine.persona.user.groups.all())  # a second data lead
    mine.persona.dataset.memberships.create(user=colleague.persona.user)
    job = finished_export(user=mine.persona.user, dataset=mine.persona.dataset)

    assert mine.get(f"/exports/{job.pk}/download").status_code == 200
    assert colleague.get(f"/exports/{job.pk}/download").status_code == 404


def test_an_export_of_a_dataset_no_longer_mine_is_a_404(db):
    caller = make_caller("data_lead")
    job = finished_export(user=caller.persona.user, dataset=caller.persona.dataset)

    caller.persona.dataset.memberships.filter(user=caller.persona.user).delete()

    assert caller.get(f"/exports/{job.pk}/download").status_code == 404


def test_a_job_naming_a_file_outside_its_folder_serves_nothing(db, data_dir):
    caller = make_caller("data_lead")
    (data_dir / "secret.txt").write_text("not for download")
    job = finished_export(user=caller.persona.user, dataset=caller.persona.dataset)

    for name in ("../../secret.txt", "/etc/passwd", "..", ""):
        Job.objects.filter(pk=job.pk).update(result={"file": name})
        response = caller.get(f"/exports/{job.pk}/download")
        assert response.status_code == 404, name


def test_a_job_that_is_not_an_export_has_nothing_to_download(db):
    caller = make_caller("data_lead")
    job = finished_export(user=caller.persona.user, dataset=caller.persona.dataset)
    Job.objects.filter(pk=job.pk).update(kind="embed")

    assert caller.get(f"/exports/{job.pk}/download").status_code == 404
