"""The jobs admin: live progress, cancel and retry (scoped, permission-checked, POST only), and
the log and error shown escaped."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from jobs.queues import QueueUnavailable
from tests.factories import JobFactory, RecordFactory, UserFactory

LIST = reverse("admin:jobs_job_changelist")
LIVE = reverse("admin:jobs_job_live")


def change_url(job):
    return reverse("admin:jobs_job_change", args=[job.pk])


def test_job_list_shows_progress_rate_and_eta(ml_engineer):
    now = timezone.now()
    JobFactory(
        status=Job.Status.RUNNING, done=250, total=1000, created_by=ml_engineer.user,
        started_at=now - timedelta(seconds=10), heartbeat_at=now,
    )  # fmt: skip

    response = ml_engineer.client.get(LIST)

    assert "250 / 1,000" in response.text
    assert "width: 25%" in response.text
    assert "25/s" in response.text and "30 s left" in response.text
    assert 'data-job-finished="0"' in response.text
    assert "jobs/live.js" in response.text


def test_live_endpoint_returns_fresh_progress_of_the_jobs_asked_for(ml_engineer):
    job = JobFactory(status=Job.Status.RUNNING, done=10, total=40, created_by=ml_engineer.user)
    Job.objects.filter(pk=job.pk).update(done=30)

    data = ml_engineer.client.get(LIVE, {"ids": f"{job.pk}"}).json()

    entry = data["jobs"][str(job.pk)]
    assert entry["finished"] is False
    assert "30 / 40" in entry["progress"] and "width: 75%" in entry["progress"]
    assert "Running" in entry["status"]


def test_live_endpoint_leaves_out_jobs_the_user_may_not_see(data_lead):
    mine = JobFactory(created_by=data_lead.user)
    theirs = JobFactory(created_by=UserFactory())

    data = data_lead.client.get(LIVE, {"ids": f"{mine.pk},{theirs.pk}"}).json()

    assert list(data["jobs"]) == [str(mine.pk)]


def test_live_endpoint_rejects_ids_that_are_not_numbers(ml_engineer):
    assert ml_engineer.client.get(LIVE, {"ids": "1,drop"}).status_code == 400


def test_live_endpoint_is_closed_to_roles_without_jobs(annotator):
    job = JobFactory(created_by=annotator.user)

    response = annotator.client.get(LIVE, {"ids": f"{job.pk}"})

    assert response.status_code == 404


def test_log_and_error_are_shown_escaped(ml_engineer):
    job = JobFactory(
        status=Job.Status.FAILED, error="ValueError: <script>alert(1)</script>", created_by=ml_engineer.user
    )
    job.add_log("imported <img src=x onerror=alert(2)>")

    page = ml_engineer.client.get(change_url(job)).text

    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_cancel_from_the_list_asks_a_running_job_to_stop(ml_engineer):
    job = JobFactory(status=Job.Status.RUNNING, attempts=1)

    response = ml_engineer.client.post(LIST, {"action": "cancel_selected", "_selected_action": [job.pk]}, follow=True)

    job.refresh_from_db()
    assert job.cancel_requested and job.status == Job.Status.RUNNING
    assert f"#{job.pk}" in response.text


def test_retry_from_the_list_runs_a_failed_job_again(ml_engineer, django_capture_on_commit_callbacks):
    RecordFactory.create_batch(2, dataset=ml_engineer.dataset)
    job = JobFactory(status=Job.Status.FAILED, attempts=1, params={"dataset_id": ml_engineer.dataset.pk})

    with django_capture_on_commit_callbacks(execute=True):
        ml_engineer.client.post(LIST, {"action": "retry_selected", "_selected_action": [job.pk]})

    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 2)


def test_the_cancel_button_asks_first_and_acts_only_on_post(ml_engineer):
    job = JobFactory(status=Job.Status.QUEUED)
    url = reverse("admin:jobs_job_cancel_detail", args=[job.pk])

    page = ml_engineer.client.get(change_url(job)).text
    asked = ml_engineer.client.get(url)
    job.refresh_from_db()
    assert url in page
    assert asked.status_code == 200 and job.status == Job.Status.QUEUED

    done = ml_engineer.client.post(url)

    job.refresh_from_db()
    assert done.status_code == 302 and job.status == Job.Status.CANCELLED


def test_a_finished_job_offers_retry_but_not_cancel(ml_engineer):
    job = JobFactory(status=Job.Status.FAILED)

    page = ml_engineer.client.get(change_url(job)).text

    assert reverse("admin:jobs_job_retry_detail", args=[job.pk]) in page
    assert reverse("admin:jobs_job_cancel_detail", args=[job.pk]) not in page


def test_people_without_change_job_cannot_cancel(data_lead):
    job = JobFactory(status=Job.Status.RUNNING, attempts=1, created_by=data_lead.user)

    listing = data_lead.client.get(LIST).text
    data_lead.client.post(LIST, {"action": "cancel_selected", "_selected_action": [job.pk]})
    button = data_lead.client.post(reverse("admin:jobs_job_cancel_detail", args=[job.pk]))

    job.refresh_from_db()
    assert "cancel_selected" not in listing
    assert button.status_code == 403
    assert not job.cancel_requested


def test_cancel_of_a_job_outside_ones_reach_answers_404(data_lead):
    data_lead.user.user_permissions.add(Permission.objects.get(codename="change_job"))
    theirs = JobFactory(status=Job.Status.QUEUED, created_by=UserFactory())

    response = data_lead.client.post(reverse("admin:jobs_job_cancel_detail", args=[theirs.pk]))

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert theirs.status == Job.Status.QUEUED


@pytest.mark.parametrize("where", ["list", "page"])
def test_the_admin_says_when_the_queue_is_unavailable(
    ml_engineer, monkeypatch, django_capture_on_commit_callbacks, where
):
    def broker_down(job_id):
        raise QueueUnavailable("ConnectionError: Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr("jobs.services.enqueue", broker_down)
    RecordFactory(dataset=ml_engineer.dataset)
    with django_capture_on_commit_callbacks(execute=True):
        ml_engineer.client.post(
            reverse("admin:corpus_dataset_changelist"),
            {"action": "embed_records", "_selected_action": [ml_engineer.dataset.pk]},
        )
    job = Job.objects.get()

    page = ml_engineer.client.get(LIST if where == "list" else change_url(job)).text

    assert job.status == Job.Status.QUEUED
    assert "queue unavailable, will retry" in page
    if where == "page":
        assert "Connection refused" in page
