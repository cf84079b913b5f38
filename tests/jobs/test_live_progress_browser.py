"""The job list refreshes its progress bars in a real browser without reloading the page."""

import pytest

from jobs.models import Job
from tests.conftest import make_persona, sign_in
from tests.factories import JobFactory

pytestmark = pytest.mark.browser


def test_job_progress_updates_live_on_the_job_list(live_server, page, transactional_db):
    # Given an ML engineer looking at the job list while a job runs
    persona = make_persona("ml_engineer")
    job = JobFactory(status=Job.Status.RUNNING, attempts=1, done=100, total=400, created_by=persona.user)
    sign_in(page, live_server, persona.user)
    page.goto(live_server.url + "/admin/jobs/job/")
    progress = page.locator(f'[data-job-live="progress"][data-job-id="{job.pk}"]')
    assert "100 / 400" in progress.inner_text()
    page.evaluate("window.notReloaded = true")

    # When the worker writes progress, and later finishes
    Job.objects.filter(pk=job.pk).update(done=300)
    page.wait_for_function(
        f"document.querySelector('[data-job-live=progress][data-job-id=\"{job.pk}\"]').innerText.includes('300 / 400')",
        timeout=10_000,
    )
    Job.objects.filter(pk=job.pk).update(done=400, status=Job.Status.SUCCEEDED)
    status = page.locator(f'[data-job-live="status"][data-job-id="{job.pk}"]')
    status.filter(has_text="Succeeded").wait_for(timeout=10_000)

    # Then the page showed both without reloading, and stopped polling the finished job
    assert page.evaluate("window.notReloaded") is True
    assert "75%" not in progress.inner_text() and "100%" in progress.inner_text()
    assert status.get_attribute("data-job-finished") == "1"
    page.goto("about:blank")  # no poll left in flight when the live server stops
