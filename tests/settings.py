"""Test settings: config/settings.py with the values tests need, set before it is read."""

import os
import secrets
import tempfile
from pathlib import Path

_scratch = Path(tempfile.mkdtemp(prefix="tally-test-"))
os.environ.update(
    {
        "ENV_FILE": str(_scratch / "no.env"),  # never a developer's .env
        "SECRET_KEY": secrets.token_urlsafe(50),  # a fresh one per run; nothing to leak
        "DEBUG": "1",  # the one-machine branch (no HTTPS redirect); Django's test runner turns DEBUG off
        "TASK_QUEUE": "immediate",
        "INFERENCE_BACKEND": "fake",
        "EMBED_AFTER_IMPORT": "0",  # tests that want it turn it on
        "HUEY_FILE": str(_scratch / "huey.sqlite3"),
        "TORCH_THREADS": os.environ.get("TORCH_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
    }
)

from config.settings import *  # noqa: E402, F403

MEDIA_ROOT = _scratch / "media"
STATIC_ROOT = _scratch / "static"
STATIC_ROOT.mkdir()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise's manifest storage 404s hashed files under live_server.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Two test runs on one machine share the embedded server: each gets databases of its own.
DATABASES["default"]["TEST"] = {"NAME": f"test_tally_{os.getpid()}"}  # noqa: F405
