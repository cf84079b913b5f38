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
