"""The REST API's records list over a 1M-record dataset, served as in production (gunicorn).

Builds a dataset of 1,000,000 records (WordNet noun glosses from the demo file, repeated with a
suffix to stay distinct; one INSERT … SELECT), a label set whose every record has a state and
every third one a final label, and a Reviewer with an API token; serves config.wsgi with
gunicorn (DEBUG off, generated SECRET_KEY) on a database of its own on the embedded server; then
one client asks, round after round:

    GET /api/v1/records?dataset=…&page_size=100                  the first page
    GET /api/v1/records?dataset=…&page_size=100&cursor=…         a page after 900,000 records
    GET /api/v1/records?dataset=…&page_size=500&cursor=…         the same depth, 500 per page
    GET /api/v1/me                                               the same-run baseline

p50/p95/p99 of each against the goal (p95 < 30 ms at any depth), and the p95 as a ratio of the
baseline's: a request with the same token check, permission lookups, middleware and JSON, and
nothing else, so "N x baseline" is what listing records adds on this machine at this moment.
gunicorn stops and the bench database is dropped at the end, Ctrl-C too.

    .venv/bin/python bench/api.py [--records 1000000] [--requests 300] [--workers 2] [--quick]
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import _bootstrap  # noqa: F401  # before anything of the project: see bench/_bootstrap.py

from bench.harness import (
    PROXY_HEADERS,
    Gunicorn,
    demo_texts,
    drop_database,
    insert_distinct_records,
    percentile,
    setup_django,
)

BENCH_DATABASE = "tally_bench_api"
GOAL_P95_MS = 30.0
DEPTH_SHARE = 0.9  # the deep page starts after this share of the dataset
BASELINE_PATH = "/api/v1/me"


# --- Data ------------------------------------------------------------------------------------


def create_dataset(*, records: int) -> tuple[int, str]:
    """The dataset, its label set and states, and a Reviewer member with a token: (dataset id, token)."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from api.tokens import create_token
    from corpus.models import Dataset, Membership
    from labeling.models import Label, LabelSchema
    from labeling.services.demo import LABELS
    from labeling.services.queue import prepare_queue

    texts = demo_texts()
    dataset = Dataset.objects.create(name="Bench API")
    schema = LabelSchema.objects.create(dataset=dataset, name="Semantic class", kind=LabelSchema.Kind.SINGLE)
    labels = Label.objects.bulk_create(
        Label(schema=schema, name=name, hotkey=hotkey, color=color, description=description, order=order)
        for order, (name, hotkey, color, description) in enumerate(LABELS)
    )
    reader = User.objects.create_user("bench-reviewer", password=None, is_staff=True)
    reader.groups.add(Group.objects.get(name="Reviewer"))
    Membership.objects.create(dataset=dataset, user=reader)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        insert_distinct_records(cursor, dataset_id=dataset.pk, records=records, texts=texts)
        print(f"  {records:,} records inserted in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    prepare_queue(schema=schema)
    with connection.cursor() as cursor:
        # Every third record labeled, with a final label: the list shows status and final labels.
        cursor.execute(
            """
            UPDATE labeling_recordstate SET status = 'labeled', human_annotations = 1
             WHERE schema_id = %s AND record_id %% 3 = 0
            """,
            [schema.pk],
        )
        cursor.execute(
            """
            INSERT INTO labeling_recordstate_final_labels (recordstate_id, label_id)
            SELECT s.id, (%s::bigint[])[1 + s.record_id %% %s] FROM labeling_recordstate s
             WHERE s.schema_id = %s AND s.status = 'labeled'
            """,
            [[label.pk for label in labels], len(labels), schema.pk],
        )
        cursor.execute("VACUUM ANALYZE corpus_record")
        cursor.execute("VACUUM ANALYZE labeling_recordstate")
        cursor.execute("VACUUM ANALYZE labeling_recordstate_final_labels")
    print(f"  label states (a third labeled) and statistics in {time.perf_counter() - started:.0f} s")
    return dataset.pk, create_token(user=reader, name="bench")[1]


def deep_cursor(dataset_id: int, records: int) -> tuple[str, int]:
    """The cursor of the page after DEPTH_SHARE of the dataset, and how many records precede it."""
    from api.cursors import cursor_after
    from corpus.models import Record

    before = int(records * DEPTH_SHARE)
    last_id = Record.objects.filter(dataset_id=dataset_id).order_by("pk").values_list("pk", flat=True)[before - 1]
    return cursor_after(last_id), before


# --- The server ------------------------------------------------------------------------------


class Server(Gunicorn):
    """gunicorn serving the API; the access log gives each tagged request's worker time."""

    def __init__(self, *, socket_dir: Path, workers: int) -> None:
        super().__init__(
            socket_dir=socket_dir,
            database=BENCH_DATABASE,
            ready_path="/api/v1/openapi.json",
            access_format="%(m)s|%(U)s|%(q)s|%(s)s|%(D)s",
            workers=workers,
        )

    def worker_ms(self) -> dict[str, list[float]]:
        """Worker time (ms) of each kind of request, from the access log."""
        times: dict[str, list[float]] = {}
        for line in self.access_log.read_text(errors="replace").splitlines():
            method, _path, query, status, micros = line.split("|")
            if method == "GET" and status == "200" and "bench=" in query:
                kind = query.split("bench=")[1].split("&")[0]
                times.setdefault(kind, []).append(int(micros) / 1000)
        return times


# --- Measuring -------------------------------------------------------------------------------


def requests_to_time(dataset_id: int, cursor: str) -> dict[str, str]:
    """kind -> path. `bench=` tags each request in the access log (the API ignores it)."""
    records = "/api/v1/records?" + urlencode({"dataset": dataset_id, "page_size": 100})
    deep = "/api/v1/records?" + urlencode({"dataset": dataset_id, "page_size": 100, "cursor": cursor})
    deep500 = "/api/v1/records?" + urlencode({"dataset": dataset_id, "page_size": 500, "cursor": cursor})
    return {
        "baseline": f"{BASELINE_PATH}?bench=baseline",
        "first": f"{records}&bench=first",
        "deep": f"{deep}&bench=deep",
        "deep500": f"{deep500}&bench=deep500",
    }


def measure(server: Server, token: str, paths: dict[str, str], *, rounds: int) -> dict[str, list[float]]:
    """One client, round after round, each kind once per round (so noise falls on all alike)."""
    import httpx

    headers = {**PROXY_HEADERS, "Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {kind: [] for kind in paths}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        for kind, path in paths.items():  # the answers are what they should be
            answer = client.get(path)
            if answer.status_code != 200:
                raise RuntimeError(f"{kind}: {answer.status_code} {answer.text[:300]}")
            if kind != "baseline":
                body = answer.json()
                want = 500 if kind == "deep500" else 100
                if len(body["items"]) != want or body["next_cursor"] is None:
                    raise RuntimeError(f"{kind}: {len(body['items'])} items, next_cursor {body['next_cursor']}")
        for _ in range(20):  # warm-up: each worker has loaded its code and connections
            for path in paths.values():
                client.get(path)
        server.access_log.write_text("")  # only the timed requests below
        for _ in range(rounds):
            for kind, path in paths.items():
                started = time.perf_counter()
                answer = client.get(path)
                answer.read()
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"{kind}: {answer.status_code} {answer.text[:300]}")
                timings[kind].append(elapsed)
    return timings


NAMES = {
    "baseline": f"GET {BASELINE_PATH} (baseline)",
    "first": "records, first page (100)",
    "deep": "records, after {depth:,} (100)",
    "deep500": "records, after {depth:,} (500)",
}


def report(timings: dict, worker: dict, *, depth: int, records: int, server: Server, rounds: int) -> None:
    print()
    print(
        f"{rounds} rounds, one client, {records:,} records, gunicorn {server.workers} sync workers, DEBUG off, "
        f"{os.cpu_count()} CPUs shared by server, database and client; load {os.getloadavg()[0]:.1f}"
    )
    print(f"  {'request':<34}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'x base p95':>12}{'worker p95':>12}")
    base95 = percentile(timings["baseline"], 95)
    for kind, samples in timings.items():
        name = NAMES[kind].format(depth=depth)
        p50, p95, p99 = (percentile(samples, q) for q in (50, 95, 99))
        w95 = percentile(worker.get(kind, []), 95)
        print(f"  {name:<34}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{p95 / base95:>12.1f}{w95:>12.1f}")
    print()
    first95, deep95 = percentile(timings["first"], 95), percentile(timings["deep"], 95)
    worst = max(first95, deep95)
    goal = "met" if worst < GOAL_P95_MS else "NOT met"
    print(
        f"api records list ({records:,} records, 100 per page): p95 first page {first95:.1f} ms, "
        f"after {depth:,} {deep95:.1f} ms (goal < {GOAL_P95_MS:.0f} ms at any depth: {goal}) "
        f"= {worst / base95:.1f}x GET {BASELINE_PATH} (p95 {base95:.1f} ms) in this run"
    )


# --- Main ------------------------------------------------------------------------------------


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests of each kind")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--quick", action="store_true", help="100,000 records, 100 requests of each kind")
    args = parser.parse_args()
    if args.quick:
        args.records, args.requests = 100_000, 100
    signal.signal(signal.SIGTERM, interrupt)
    socket_dir = setup_django(database=BENCH_DATABASE, script="bench/api.py")
    server = None
    try:
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"bench database migrated in {time.perf_counter() - started:.0f} s; building the dataset:")
        dataset_id, token = create_dataset(records=args.records)
        cursor, depth = deep_cursor(dataset_id, args.records)
        server = Server(socket_dir=socket_dir, workers=args.workers)
        server.start()
        timings = measure(server, token, requests_to_time(dataset_id, cursor), rounds=args.requests)
        report(timings, server.worker_ms(), depth=depth, records=args.records, server=server, rounds=args.requests)
    except KeyboardInterrupt:
        print("interrupted: stopping gunicorn and dropping the bench database", file=sys.stderr)
        raise SystemExit(130) from None
    except RuntimeError as error:
        tail = server.log_tail() if server else ""
        sys.exit(f"bench/api.py: {error}" + (f"\n--- gunicorn log ---\n{tail}" if tail else ""))
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        drop_database(socket_dir, BENCH_DATABASE)


if __name__ == "__main__":
    main()
