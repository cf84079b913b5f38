"""What the HTTP benchmarks (bench/api.py, bench/queue.py) share: a database of their own on the
embedded server, the demo's real texts, a free port, percentiles. Imported as `bench.harness`
(each script puts the project root on sys.path first)."""

import csv
import logging
import math
import os
import socket
import sys
from pathlib import Path


def setup_django(*, database: str, script: str) -> Path:
    """Point this process at a fresh `database` on the embedded server; return its socket folder."""
    from django.conf import settings

    from config import embedded_db

    if os.environ.get("DATABASE_URL"):
        sys.exit(f"{script} makes its own database on the embedded server: unset DATABASE_URL")
    socket_dir = embedded_db.ensure_server(Path(settings.DATA_DIR), database="postgres")
    drop_database(socket_dir, database)  # what an interrupted earlier run may have left
    embedded_db.ensure_server(Path(settings.DATA_DIR), database=database)
    settings.DATABASES["default"]["NAME"] = database
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    return socket_dir


def drop_database(socket_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def demo_texts() -> list[str]:
    """The demo's 4,000 WordNet glosses: real text to build bench datasets from."""
    from labeling.services.demo import DEMO_FILE

    with DEMO_FILE.open(newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    """Nearest rank: a value that was actually measured."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


TRIGRAM_INDEX = "CREATE INDEX record_text_trgm ON corpus_record USING gin ((upper(text)) gin_trgm_ops)"


def insert_distinct_records(cursor, *, dataset_id: int, records: int, texts: list[str]) -> None:
    """`records` distinct real texts into the dataset in one INSERT … SELECT: `texts`, then copies
    with a suffix (every text distinct, as dedupe demands). The hash is corpus.text.content_hash's
    (NFC, whitespace collapsed, sha256) in SQL. The trigram index is built once afterwards:
    several times faster than keeping it up to date row by row."""
    cursor.execute("DROP INDEX record_text_trgm")
    cursor.execute(
        r"""
        INSERT INTO corpus_record
            (dataset_id, text, meta, external_id, content_hash, embedding_model, embedding_hash, created_at)
        SELECT %(dataset)s, x.text, '{"source": "WordNet 3.0 (bench copy)"}'::jsonb, 'bench-' || x.i,
               encode(sha256(convert_to(btrim(regexp_replace(normalize(x.text, NFC), '\s+', ' ', 'g')),
                                        'UTF8')), 'hex'),
               '', '', now()
        FROM (
            SELECT i, CASE WHEN i < %(count)s THEN t.text ELSE t.text || ' (copy ' || i / %(count)s || ')' END
            FROM generate_series(0, %(records)s - 1) AS i
            JOIN unnest(%(texts)s::text[]) WITH ORDINALITY AS t (text, n) ON t.n = 1 + i %% %(count)s
        ) AS x (i, text)
        ORDER BY x.i
        """,
        {"dataset": dataset_id, "records": records, "texts": texts, "count": len(texts)},
    )
    cursor.execute(TRIGRAM_INDEX)


class Gunicorn:
    """gunicorn serving config.wsgi as in production, on a database of the bench's own: DEBUG off,
    a generated SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, static files collected, TASK_QUEUE=immediate,
    INFERENCE_BACKEND=fake. The bench plays the TLS-terminating proxy: plain HTTP to gunicorn with
    X-Forwarded-Proto (PROXY_HEADERS), so no redirect, and HSTS, secure cookies and CSRF behave as
    in production. Each request's worker time (%(D)s, microseconds: without the wait in the listen
    queue or the client) goes to the access log in `access_format`."""

    def __init__(
        self,
        *,
        socket_dir: Path,
        database: str,
        ready_path: str,
        access_format: str,
        workers: int,
        worker_class: str = "sync",
        threads: int = 1,
    ) -> None:
        import secrets
        import tempfile
        from urllib.parse import quote

        self.folder = Path(tempfile.mkdtemp(prefix=f"{database}-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ready_path, self.access_format = ready_path, access_format
        self.workers, self.worker_class, self.threads = workers, worker_class, threads
        self.process = None
        self.log = self.folder / "gunicorn.log"
        self.access_log = self.folder / "access.log"
        self.env = {
            key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "ENV_FILE": str(self.folder / "no.env"),  # never a developer's .env (DEBUG=1)
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "0",
                "DATABASE_URL": f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{database}",
                "DATA_DIR": str(self.folder),
                "TASK_QUEUE": "immediate",
                "INFERENCE_BACKEND": "fake",
                "LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1",
            }
        )

    def start(self) -> None:
        import subprocess

        python = Path(sys.executable)
        root = Path(__file__).resolve().parents[1]
        # DEBUG off serves hashed static files from a manifest: collect them as a deploy would.
        subprocess.run(
            [str(python), "manage.py", "collectstatic", "--noinput", "-v0"], cwd=root, env=self.env, check=True
        )
        command = [
            str(python.parent / "gunicorn"),
            "config.wsgi",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            f"--worker-class={self.worker_class}",
            f"--error-logfile={self.log}",
            "--log-level=warning",
            "--graceful-timeout=5",  # the bench's own requests are all it would wait for
            f"--access-logfile={self.access_log}",
            f"--access-logformat={self.access_format}",
        ]
        if self.worker_class == "gthread":
            command.append(f"--threads={self.threads}")
        # Its own session: a Ctrl-C reaches the bench, which stops gunicorn in order.
        with self.log.open("ab") as log:  # Django's own log lines (stderr) go with gunicorn's
            self.process = subprocess.Popen(
                command, cwd=root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        import time

        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}{self.ready_path}", headers=PROXY_HEADERS).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        import shutil
        import signal
        import subprocess

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn and its workers (their own group)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}, DEBUG off"


PROXY_HEADERS = {"X-Forwarded-Proto": "https"}  # what a TLS-terminating proxy passes on
