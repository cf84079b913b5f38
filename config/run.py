"""`make run`: bring up the whole app on this machine with demo data, and stop it on Ctrl-C.

First run: writes .env (DEBUG=1, a generated SECRET_KEY), starts the embedded PostgreSQL,
migrates, creates the `admin` account with a generated password, loads the demo dataset. Every
run: starts the huey worker and the web server, and prints the URL and the login.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
ADMIN_USERNAME = "admin"


def write_env_file() -> None:
    if ENV_FILE.exists():
        return
    ENV_FILE.write_text(
        "# Written by `make run` for this machine only; git-ignored. Never commit it.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n",
        encoding="utf-8",
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE.name} with DEBUG=1 and a generated SECRET_KEY.")


def ensure_admin(data_dir: Path) -> str:
    """The `admin` superuser, with a generated password kept in a file only its owner reads."""
    from django.contrib.auth import get_user_model

    password_file = data_dir / "admin-password.txt"
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if user and password_file.exists():
        return password_file.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    if user is None:
        user_model.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
    else:
        # The file was removed: the old password cannot be shown again, so make a new one.
        user.set_password(password)
        user.save(update_fields=["password"])
    password_file.touch(mode=0o600)
    password_file.chmod(0o600)
    password_file.write_text(password + "\n", encoding="utf-8")
    return password


def main() -> int:
    write_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    started = time.monotonic()
    django.setup()  # starts (or reuses) the embedded PostgreSQL when there is no DATABASE_URL
    from django.conf import settings
    from django.core.management import call_command

    from config import embedded_db

    call_command("migrate", interactive=False, verbosity=0)
    password = ensure_admin(settings.DATA_DIR)
    call_command("load_demo", member=[ADMIN_USERNAME])

    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    children = [
        subprocess.Popen([*manage, "worker"], cwd=BASE_DIR),
        subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"], cwd=BASE_DIR),
    ]
    print(
        "\n"
        f"  Tally is up after {time.monotonic() - started:.1f} s.\n"
        f"  Open   http://{host}:{port}/admin/\n"
        f"  Login  {ADMIN_USERNAME} / {password}   (kept in {settings.DATA_DIR / 'admin-password.txt'})\n"
        "  Ctrl-C stops the server, the worker and the database.\n",
        flush=True,
    )

    def stop(*_):
        raise KeyboardInterrupt

    # Explicit handlers: a process started in the background inherits SIGINT as ignored.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A process of Tally exited; stopping the others.", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 0
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    if not settings.DATABASE_URL:
        from django.db import connections

        connections.close_all()
        embedded_db.stop_server(settings.DATA_DIR)
        print("Stopped the server, the worker and the embedded PostgreSQL.")
    return status


if __name__ == "__main__":
    sys.exit(main())
