"""Production settings: no start without a secret, and `check --deploy` has nothing to say."""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from config.env import env_bool, load_dotenv

BASE_DIR = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_env(tmp_path: Path, **extra: str) -> dict:
    db = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "DJANGO_SETTINGS_MODULE",
            "TASK_QUEUE",
            "INFERENCE_BACKEND",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        {
            "ENV_FILE": str(tmp_path / "absent.env"),  # no developer .env may sneak in
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}",
            "ALLOWED_HOSTS": "tally.example.com",
        }
    )
    env.update(extra)
    return env


def test_production_refuses_to_start_without_a_secret_key(db, tmp_path):
    result = manage("check", env=production_env(tmp_path))

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_with_production_settings(db, tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "DEBUG", env=production_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(50))
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_catches_debug_left_on(db, tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), DEBUG="1"),
    )

    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


def test_dotenv_fills_only_what_the_environment_leaves_unset(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nTALLY_TEST_A=from-file\nTALLY_TEST_B='quoted value'\n\n", encoding="utf-8")
    monkeypatch.setenv("TALLY_TEST_A", "from-environment")
    monkeypatch.delenv("TALLY_TEST_B", raising=False)

    load_dotenv(env_file)

    assert os.environ["TALLY_TEST_A"] == "from-environment"
    assert os.environ["TALLY_TEST_B"] == "quoted value"
    monkeypatch.delenv("TALLY_TEST_B")


def test_a_malformed_dotenv_line_is_named(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\nthis is not a setting\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"\.env, line 2: expected KEY=value"):
        load_dotenv(env_file)


def test_a_boolean_that_is_not_one_is_refused(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")

    with pytest.raises(ValueError, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG")
