"""The annotation queue over HTTP: 20 annotators against Tally served as in production (gunicorn).

Builds a dataset of 100k records (WordNet noun glosses from the demo file, repeated with a
suffix to stay distinct) with a single-label schema of 8 labels and 20 annotators, serves
config.wsgi with gunicorn (DEBUG off, generated SECRET_KEY, several workers) on a database of
its own on the embedded server, and lets 20 threads, each signed in as one annotator, use the
annotate screen's HTTP endpoints:

(a) at a human pace (one label every 1-3 s each): latency of "save this label and receive the
    next record" (p50/p95/p99) against the goal (p95 < 50 ms);
(b) with no pause: labels per second and p95.

The same-run baseline is a trivial authenticated admin request (GET /admin/jsi18n/) sent by the
same clients in between, under the same load: it costs the HTTP round trip, gunicorn, the
middleware and the session and user queries, so "N x baseline" is what the queue adds on top
of any signed-in request on this machine at that moment. gunicorn's access log gives the
worker's own share of each request ("in the worker"), and the load average says how busy the
machine was. After each phase the database is checked: no record with more human annotations
than the overlap, none served to more people than the overlap (in the database and in what the
clients received), no lost save (answered 200 but not stored). gunicorn stops and the bench
database is dropped at the end, on Ctrl-C too.

    .venv/bin/python bench/queue.py [--records 100000] [--annotators 20] [--human-seconds 60]
        [--burst-seconds 30] [--overlap 1 [2]] [--workers 4] [--worker-class sync] [--quick]
"""

import argparse
import math
import os
import random
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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

BENCH_DATABASE = "tally_bench_queue"
GOAL_P95_MS = 50.0
PASSWORD = "bench annotator passphrase"  # accounts of a database dropped at the end
BASELINE_PATH = "/admin/jsi18n/"
BURST_BASELINE_EVERY = 10  # with no pause, one baseline request per this many labels


# --- Data ------------------------------------------------------------------------------------


def create_annotators(count: int) -> list:
    """`count` Annotators. One password hash for all: hashing is slow on purpose (PBKDF2)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    password = make_password(PASSWORD)
    users = User.objects.bulk_create(
        User(username=f"annotator{n:02d}", password=password, is_staff=True) for n in range(1, count + 1)
    )
    annotator_role = Group.objects.get(name="Annotator")
    User.groups.through.objects.bulk_create(User.groups.through(user=user, group=annotator_role) for user in users)
    return users


def create_dataset(*, records: int, overlap: int, texts: list[str], members: list):
    """A dataset of `records` distinct real texts (one INSERT … SELECT), its single-label schema
    with the demo's 8 labels, and `members`. Returns the schema and its label ids."""
    from django.db import connection

    from corpus.models import Dataset, Membership
    from labeling.models import Label, LabelSchema
    from labeling.services.demo import LABELS
    from labeling.services.queue import prepare_queue

    dataset = Dataset.objects.create(name=f"Bench queue, overlap {overlap}", overlap=overlap)
    schema = LabelSchema.objects.create(dataset=dataset, name="Semantic class", kind=LabelSchema.Kind.SINGLE)
    labels = Label.objects.bulk_create(
        Label(schema=schema, name=name, hotkey=hotkey, color=color, description=description, order=order)
        for order, (name, hotkey, color, description) in enumerate(LABELS)
    )
    Membership.objects.bulk_create(Membership(dataset=dataset, user=user) for user in members)
    with connection.cursor() as cursor:
        insert_distinct_records(cursor, dataset_id=dataset.pk, records=records, texts=texts)
    prepare_queue(schema=schema)  # the annotate screen does it too; here it stays out of the timings
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE corpus_record, labeling_recordstate, labeling_assignment, labeling_annotation")
    return schema, [label.pk for label in labels]


# --- The server ------------------------------------------------------------------------------


class Server(Gunicorn):
    """gunicorn serving the annotate screen; the access log gives each save's worker time."""

    def __init__(self, *, socket_dir: Path, workers: int, worker_class: str, threads: int) -> None:
        super().__init__(
            socket_dir=socket_dir,
            database=BENCH_DATABASE,
            ready_path="/admin/login/",
            access_format="%(m)s %(U)s %(s)s %(D)s",
            workers=workers,
            worker_class=worker_class,
            threads=threads,
        )

    def access_log_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_ms(self, *, since: int) -> dict[str, list[float]]:
        """Worker time (ms) of the saves and baseline requests logged after byte `since`."""
        times: dict[str, list[float]] = {"save": [], "baseline": []}
        with self.access_log.open("rb") as log:
            log.seek(since)
            for line in log.read().decode(errors="replace").splitlines():
                method, path, status, micros = line.split()
                if status != "200":
                    continue
                if method == "POST" and path.endswith("/annotate/save/"):
                    times["save"].append(int(micros) / 1000)
                elif method == "GET" and path == BASELINE_PATH:
                    times["baseline"].append(int(micros) / 1000)
        return times


# --- The annotators --------------------------------------------------------------------------


def proxy_headers(port: int) -> dict[str, str]:
    """What a TLS-terminating proxy in front of gunicorn passes on (settings' SECURE_PROXY_SSL_HEADER)."""
    return {**PROXY_HEADERS, "Origin": f"https://127.0.0.1:{port}"}


def over_the_proxy_hop(client):
    """The app marks its cookies Secure (HTTPS only). Between the proxy and gunicorn the hop is
    plain HTTP, so the client must send them back over it: it forgets the flag once stored.
    (A cookie policy would not do: httpx copies the jar into a default one for each request.)"""

    def forget_secure_flag(response) -> None:
        for cookie in client.cookies.jar:
            cookie.secure = False

    client.event_hooks["response"].append(forget_secure_flag)
    return client


class SaveFailed(Exception):
    """The server answers neither the save nor a plain "next": this annotator cannot go on."""


@dataclass
class Annotator:
    """One person at the annotate screen: a signed-in HTTP session, the record in front of them,
    and what the server answered."""

    user_id: int
    username: str
    client: object
    record_id: int | None = None
    save_ms: list[tuple[float, float]] = field(default_factory=list)  # (finished at, ms)
    baseline_ms: list[float] = field(default_factory=list)
    saved: list[int] = field(default_factory=list)  # record ids the server said it saved
    served: set[int] = field(default_factory=set)  # record ids the server put in front of me
    errors: list[str] = field(default_factory=list)
    done: bool = False

    def sign_in(self) -> None:
        page = self.client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or token is None:
            raise RuntimeError(f"{self.username}: login page answered {page.status_code}")
        answer = self.client.post(
            "/admin/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token[1], "next": "/admin/"},
        )
        if answer.status_code != 302:
            raise RuntimeError(f"{self.username}: login answered {answer.status_code}, not a redirect")

    def csrf_token(self) -> str:
        return next(cookie.value for cookie in self.client.cookies.jar if cookie.name == "csrftoken")

    def open_screen(self, schema_id: int) -> None:
        """The annotate page (leases the first record), then the record it shows, as JSON."""
        base = f"/admin/labeling/labelschema/{schema_id}/annotate/"
        page = self.client.get(base)
        if page.status_code != 200:
            raise RuntimeError(f"{self.username}: the annotate page answered {page.status_code}: {page.text[:300]}")
        answer = self.client.get(base + "next/")
        if answer.status_code != 200:
            raise RuntimeError(f"{self.username}: annotate/next/ answered {answer.status_code}: {answer.text[:300]}")
        self.show(answer.json().get("item"))

    def show(self, item: dict | None) -> None:
        if item is None:
            self.record_id, self.done = None, True
        else:
            self.record_id = int(item["record_id"])
            self.served.add(self.record_id)

    def baseline(self) -> None:
        started = time.perf_counter()
        answer = self.client.get(BASELINE_PATH)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code == 200:
            self.baseline_ms.append(elapsed)
        else:
            self.errors.append(f"baseline {answer.status_code}")

    def save(self, *, schema_id: int, label_id: int, seconds_spent: float) -> None:
        """Label the record in front of me and receive the next: the request the bench times.
        A failed request is counted and the person carries on, as at the screen."""
        import httpx

        base = f"/admin/labeling/labelschema/{schema_id}/annotate/"
        record_id = self.record_id
        started = time.perf_counter()
        try:
            answer = self.client.post(
                base + "save/",
                json={
                    "record_id": record_id,
                    "label_ids": [label_id],
                    "unsure": False,
                    "comment": "",
                    "seconds_spent": round(seconds_spent, 2),
                },
                headers={"X-CSRFToken": self.csrf_token()},
            )
        except httpx.TransportError as error:
            self.errors.append(f"save: {error!r}")
            return  # the lease is still mine: the same record again
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code == 200 and body.get("saved") is True:
            self.save_ms.append((time.monotonic(), elapsed))
            self.saved.append(record_id)
        else:
            self.errors.append(f"save {answer.status_code}: {answer.text[:200]}")
        if "item" not in body:  # an error page rather than the screen's JSON: ask for the record again
            answer = self.client.get(base + "next/")
            if answer.status_code != 200:
                raise SaveFailed(f"{self.username}: {self.errors[-1]}")
            body = answer.json()
        self.show(body["item"])


def make_annotators(users: list, port: int) -> list[Annotator]:
    import httpx

    return [
        Annotator(
            user_id=user.pk,
            username=user.username,
            client=over_the_proxy_hop(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=proxy_headers(port), timeout=30)
            ),
        )
        for user in users
    ]


def run_all(annotators: list[Annotator], work) -> None:
    """Run `work(annotator)` in one thread per annotator; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(annotator: Annotator) -> None:
        try:
            work(annotator)
        except Exception as error:  # noqa: BLE001 - reported below, with its annotator
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(a,), daemon=True) for a in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)  # short joins: Ctrl-C reaches the main thread
    if failures:
        raise RuntimeError(f"{len(failures)} annotator(s) failed; the first: {failures[0]}")


def human_pace(annotator: Annotator, *, schema_id: int, labels: list[int], until: float, rng: random.Random) -> None:
    """Read for 1-3 s, press a label key; a baseline request at a random moment while reading."""
    while not annotator.done and time.monotonic() < until:
        reading = rng.uniform(1.0, 3.0)
        started = time.monotonic()
        time.sleep(rng.uniform(0, reading))
        annotator.baseline()
        time.sleep(max(0.0, reading - (time.monotonic() - started)))
        if time.monotonic() >= until:
            return
        annotator.save(schema_id=schema_id, label_id=rng.choice(labels), seconds_spent=reading)


def no_pause(annotator: Annotator, *, schema_id: int, labels: list[int], until: float, rng: random.Random) -> None:
    count = 0
    while not annotator.done and time.monotonic() < until:
        if count % BURST_BASELINE_EVERY == 0:
            annotator.baseline()
        annotator.save(schema_id=schema_id, label_id=rng.choice(labels), seconds_spent=0.1)
        count += 1


# --- Figures and checks ----------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    seconds: float
    labels: int
    save_ms: list[float]
    baseline_ms: list[float]
    errors: list[str]
    checks: dict[str, int]
    load: float  # the machine's 1-minute load average at the end: how busy the CPUs were
    server_save_ms: list[float]  # gunicorn's worker time for the same saves (its access log)
    server_baseline_ms: list[float]

    @property
    def rate(self) -> float:
        return self.labels / self.seconds


def run_phase(
    name: str, annotators: list[Annotator], work, *, server: Server, seconds: float, schema_id: int, labels, seed: int
):
    logged_before = server.access_log_size()
    for annotator in annotators:
        annotator.save_ms, annotator.baseline_ms, annotator.errors = [], [], []
    started = time.monotonic()
    until = started + seconds
    rngs = {a.user_id: random.Random(seed * 1000 + a.user_id) for a in annotators}

    run_all(annotators, lambda a: work(a, schema_id=schema_id, labels=labels, until=until, rng=rngs[a.user_id]))
    ended = min(time.monotonic(), until)
    save_ms = [ms for a in annotators for finished, ms in a.save_ms if finished <= until]
    time.sleep(0.2)  # the last access log lines
    server_ms = server.server_ms(since=logged_before)
    return PhaseResult(
        name=name,
        seconds=ended - started,
        labels=len(save_ms),
        save_ms=save_ms,
        baseline_ms=[ms for a in annotators for ms in a.baseline_ms],
        errors=[error for a in annotators for error in a.errors],
        checks={},
        load=os.getloadavg()[0],
        server_save_ms=server_ms["save"],
        server_baseline_ms=server_ms["baseline"],
    )


def check_database(*, schema_id: int, overlap: int, annotators: list[Annotator]) -> dict[str, int]:
    """What must be 0 after any run, read from the database (and from what clients received)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT record_id FROM labeling_annotation
                WHERE schema_id = %s AND source = 'human' GROUP BY record_id HAVING count(*) > %s
            ) AS over
            """,
            [schema_id, overlap],
        )
        over_overlap = cursor.fetchone()[0]
        # Every person a record was served to keeps an assignment row (leased or done; the bench
        # never skips or undoes): more rows than the overlap is a double assignment, past or present.
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT a.state_id FROM labeling_assignment a JOIN labeling_recordstate s ON s.id = a.state_id
                WHERE s.schema_id = %s AND a.status IN ('leased', 'done')
                GROUP BY a.state_id HAVING count(*) > %s
            ) AS over
            """,
            [schema_id, overlap],
        )
        leased_beyond = cursor.fetchone()[0]
        cursor.execute(
            """
            SELECT count(*) FROM labeling_recordstate s
            WHERE s.schema_id = %s AND s.human_annotations <> (
                SELECT count(*) FROM labeling_annotation n
                WHERE n.record_id = s.record_id AND n.schema_id = s.schema_id AND n.source = 'human'
            )
            """,
            [schema_id],
        )
        counters_off = cursor.fetchone()[0]
        cursor.execute(
            "SELECT annotator_id, record_id FROM labeling_annotation WHERE schema_id = %s AND source = 'human'",
            [schema_id],
        )
        stored = set(cursor.fetchall())
    said_saved = {(a.user_id, record_id) for a in annotators for record_id in a.saved}
    served_to: dict[int, int] = {}
    for annotator in annotators:
        for record_id in annotator.served:
            served_to[record_id] = served_to.get(record_id, 0) + 1
    return {
        "records with more human annotations than the overlap": over_overlap,
        "records served to more people than the overlap (database)": leased_beyond,
        "records served to more people than the overlap (HTTP answers)": sum(
            1 for count in served_to.values() if count > overlap
        ),
        "lost saves (200 and saved, but no annotation stored)": len(said_saved - stored),
        "record states whose annotation count is off": counters_off,
    }


CHECK_NAMES = {
    "records with more human annotations than the overlap": "over overlap",
    "records served to more people than the overlap (database)": "served beyond (db)",
    "records served to more people than the overlap (HTTP answers)": "served beyond (http)",
    "lost saves (200 and saved, but no annotation stored)": "lost saves",
    "record states whose annotation count is off": "counts off",
}


def print_phase(result: PhaseResult) -> None:
    """As it happens: the figures, failed requests, and every check by its full name."""
    print(
        f"  {result.name}: {result.labels:,} labels in {result.seconds:.0f} s ({result.rate:.1f}/s), "
        f"save+next p95 {percentile(result.save_ms, 95):.1f} ms "
        f"(in the worker {percentile(result.server_save_ms, 95):.1f} ms), "
        f"baseline p95 {percentile(result.baseline_ms, 95):.1f} ms ({len(result.baseline_ms):,} requests), "
        f"load average {result.load:.1f}"
    )
    if result.errors:
        print(f"    {len(result.errors)} failed requests, e.g. {result.errors[0]}")
    for check, count in result.checks.items():
        print(f"    {'ok  ' if count == 0 else 'FAIL'} {check}: {count}")


def print_summary(results: list[tuple[int, PhaseResult]]) -> None:
    goal_name = f"goal p95 < {GOAL_P95_MS:.0f} ms"
    # (group, column, width): a group heads the columns up to the next group.
    columns = [
        ("", "overlap", 7),
        ("", "phase", 19),
        ("", "labels", 7),
        ("", "labels/s", 8),
        ("save + next, over HTTP (ms)", "p50", 7),
        ("", "p95", 7),
        ("", "p99", 7),
        ("", "max", 7),
        ("in the worker", "p50", 6),
        ("", "p95", 6),
        (f"baseline {BASELINE_PATH}", "p50", 6),
        ("", "p95", 6),
        ("", "worker p95", 10),
        ("", "p95 ratio", 9),
        ("", goal_name, len(goal_name)),
        ("", "load", 4),
    ]
    groups, heads = "", ""
    for group, head, width in columns:
        if group:
            groups = groups.ljust(len(heads)) + "  " + group
        heads += f"  {head:>{width}}" if head != "phase" else f"  {head:<{width}}"
    print(groups)
    print(heads)
    for overlap, r in results:
        goal = ("met" if percentile(r.save_ms, 95) < GOAL_P95_MS else "NOT met") if r.name.startswith("human") else "-"
        values = [
            str(overlap),
            r.name,
            f"{r.labels:,}",
            f"{r.rate:.1f}",
            *(f"{percentile(r.save_ms, q):.1f}" for q in (50, 95, 99)),
            f"{max(r.save_ms, default=math.nan):.1f}",
            *(f"{percentile(r.server_save_ms, q):.1f}" for q in (50, 95)),
            *(f"{percentile(r.baseline_ms, q):.1f}" for q in (50, 95)),
            f"{percentile(r.server_baseline_ms, 95):.1f}",
            f"{percentile(r.save_ms, 95) / percentile(r.baseline_ms, 95):.1f}x",
            goal,
            f"{r.load:.1f}",
        ]
        print(
            "".join(
                f"  {value:<{width}}" if head == "phase" else f"  {value:>{width}}"
                for value, (_, head, width) in zip(values, columns, strict=True)
            )
        )
    print()
    names = [*CHECK_NAMES.values(), "failed requests"]
    print(f"  {'overlap':>7}  {'checks: all must be 0':<21}" + "".join(f"  {name:>20}" for name in names))
    for overlap, r in results:
        counts = [r.checks[check] for check in CHECK_NAMES] + [len(r.errors)]
        print(f"  {overlap:>7}  {r.name:<21}" + "".join(f"  {count:>20,}" for count in counts))


def headline(result: PhaseResult, *, overlap: int) -> str:
    p95 = percentile(result.save_ms, 95)
    b95 = percentile(result.baseline_ms, 95)
    integrity = "0 double assignments, 0 lost saves" if not any(result.checks.values()) else "INTEGRITY CHECKS FAILED"
    ratio = f"= {p95 / b95:.1f}x a trivial signed-in request (GET {BASELINE_PATH}, p95 {b95:.1f} ms) in this run"
    if result.name.startswith("human"):
        goal = "met" if p95 < GOAL_P95_MS else "NOT met"
        return (
            f"queue (human pace, overlap {overlap}): p95 {p95:.1f} ms to save a label and receive the next "
            f"(goal < {GOAL_P95_MS:.0f} ms: {goal}) {ratio}; {integrity}"
        )
    return f"queue (no pause, overlap {overlap}): {result.rate:,.0f} labels/s, p95 {p95:.1f} ms {ratio}; {integrity}"


# --- Main ------------------------------------------------------------------------------------


def interrupt(signum, frame) -> None:
    """SIGTERM ends the run like Ctrl-C does: through main's cleanup."""
    raise KeyboardInterrupt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--human-seconds", type=float, default=60, help="length of (a), one label every 1-3 s each")
    parser.add_argument("--burst-seconds", type=float, default=30, help="length of (b), no pause")
    parser.add_argument("--overlap", type=int, nargs="+", default=[1], help="one run per value, e.g. --overlap 1 2")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--quick", action="store_true", help="about 30 s: (a) 10 s, (b) 5 s")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.human_seconds, args.burst_seconds = 10, 5
    return args


def prepare_data(args: argparse.Namespace) -> tuple[list, list[tuple[int, int, list[int]]]]:
    """Annotators, and one dataset per overlap: [(overlap, schema id, label ids)]."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    users = create_annotators(args.annotators)
    print(f"bench database migrated, {args.annotators} annotators created in {time.perf_counter() - started:.1f} s")
    texts = demo_texts()
    runs = []
    for overlap in args.overlap:
        started = time.perf_counter()
        schema, labels = create_dataset(records=args.records, overlap=overlap, texts=texts, members=users)
        runs.append((overlap, schema.pk, labels))
        print(
            f"dataset with overlap {overlap}: {args.records:,} records (WordNet glosses), {len(labels)} labels, "
            f"queue prepared in {time.perf_counter() - started:.1f} s"
        )
    return users, runs


def measure(args: argparse.Namespace, server: Server, users: list, runs) -> None:
    started = time.perf_counter()
    server.start()
    annotators = make_annotators(users, server.port)
    run_all(annotators, Annotator.sign_in)
    print(f"{server.describe()} up, {len(annotators)} annotators signed in in {time.perf_counter() - started:.1f} s")

    results: list[tuple[int, PhaseResult]] = []
    for number, (overlap, schema_id, labels) in enumerate(runs):
        for annotator in annotators:
            annotator.saved, annotator.served, annotator.done = [], set(), False
        # Warm-up: every annotator opens the screen (its first record is leased) and sends a few
        # baseline requests, so each worker has loaded its templates and URLs before the timing.
        run_all(annotators, lambda a, s=schema_id: a.open_screen(s))
        run_all(annotators, lambda a: [a.baseline() for _ in range(5)])
        print(f"overlap {overlap}:")
        for name, work, seconds in (
            ("human pace (1-3 s)", human_pace, args.human_seconds),
            ("no pause", no_pause, args.burst_seconds),
        ):
            result = run_phase(
                name,
                annotators,
                work,
                server=server,
                seconds=seconds,
                schema_id=schema_id,
                labels=labels,
                seed=args.seed + number,
            )
            result.checks = check_database(schema_id=schema_id, overlap=overlap, annotators=annotators)
            print_phase(result)
            results.append((overlap, result))

    print()
    print(
        f"{args.annotators} annotators over HTTP, {args.records:,} records, {server.describe()}, "
        f"{os.cpu_count()} CPUs shared by server, database and clients (load: 1-minute load average "
        "at the end of the phase):"
    )
    print_summary(results)
    print()
    for overlap, result in results:
        print(headline(result, overlap=overlap))


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupt)
    socket_dir = setup_django(database=BENCH_DATABASE, script="bench/queue.py")
    server = None
    try:
        users, runs = prepare_data(args)
        server = Server(
            socket_dir=socket_dir, workers=args.workers, worker_class=args.worker_class, threads=args.threads
        )
        measure(args, server, users, runs)
    except KeyboardInterrupt:
        print("interrupted: stopping gunicorn and dropping the bench database", file=sys.stderr)
        raise SystemExit(130) from None
    except RuntimeError as error:
        tail = server.log_tail() if server else ""
        sys.exit(f"bench/queue.py: {error}" + (f"\n--- gunicorn log ---\n{tail}" if tail else ""))
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        drop_database(socket_dir, BENCH_DATABASE)


if __name__ == "__main__":
    main()
