"""The Celery app for TASK_QUEUE=celery: Redis carries job ids; the job rows are the truth.

Run a worker with `python manage.py worker` (it uses the solo pool). `celery -A config.celery
worker -P solo` works too, but runs no stale-job sweeper beside it.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tally")
# Every CELERY_* setting in config/settings.py (broker, acks_late, prefetch, visibility timeout).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["jobs.queues.celery_queue"]
