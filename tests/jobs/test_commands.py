"""`manage.py sweep_jobs` and `manage.py worker` from the command line."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job
from tests.factories import DatasetFactory, JobFactory


def test_sweep_jobs_command_requeues_stale_jobs_and_says_so(db, settings, capsys):
    settings.JOB_STALE_SECONDS = 60
    stale = JobFactory(
        kind="embed",
        params={"dataset_id": DatasetFactory().pk},
        status=Job.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    Job.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=6))

    call_command("sweep_jobs")

    out = capsys.readouterr().out
    assert f"re-queued 1 job(s) of lost workers [{stale.pk}]" in out
    stale.refresh_from_db()
    assert (stale.status, stale.attempts) == (Job.Status.SUCCEEDED, 2)  # immediate queue: run again at once


def test_worker_command_refuses_the_immediate_queue(settings):
    settings.TASK_QUEUE = "immediate"

    with pytest.raises(CommandError, match="runs jobs in the calling process; no worker needed"):
        call_command("worker")


def test_celery_worker_runs_one_job_at_a_time(settings):
    settings.TASK_QUEUE = "celery"

    with pytest.raises(CommandError, match="solo pool"):
        call_command("worker", "--workers", "2")


def test_an_unknown_task_queue_is_refused_at_start(tmp_path):
    import os
    import subprocess
    import sys

    from tests.jobs.processes import BASE_DIR

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "TASK_QUEUE": "rabbit"}
    command = [sys.executable, "manage.py", "check"]
    result = subprocess.run(command, check=False, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert "TASK_QUEUE='rabbit': expected 'huey', 'celery' or 'immediate'" in result.stderr
