"""The sweeper loop that runs beside every worker (`manage.py worker`), so a killed worker's
job or a job the broker refused is picked up again without anyone running a command."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from jobs.services import sweep_jobs

logger = logging.getLogger(__name__)


def start_sweeper_thread() -> threading.Event:
    """Sweep now and then every JOB_SWEEP_SECONDS in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep_jobs()
            except Exception:
                # The database or broker may be away for a moment: log it and sweep again later.
                logger.exception("sweep failed; trying again in %s s", settings.JOB_SWEEP_SECONDS)
            finally:
                close_old_connections()
            if stop.wait(settings.JOB_SWEEP_SECONDS):
                return

    threading.Thread(target=loop, name="job-sweeper", daemon=True).start()
    return stop
