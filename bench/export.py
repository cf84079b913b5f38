"""Export speed and memory: Tally's streamed export of 1M records (JSON Lines and CSV, with a
seeded 80/10/10 split that keeps duplicates and documents' chunks together) against
django-import-export's export of a 20k sample of the same table, in the same run.

Data, made in SQL on a database of its own (`tally_bench_export` on the embedded server, dropped
at the end): the demo's 4,000 WordNet noun glosses repeated with a suffix up to --records; every
20th record is its predecessor in capitals with a "!" (a duplicate once case and punctuation are
ignored: 5% of the records, grouped by the split); 50,000 records are the chunks of 10,000
documents (5 each, kept together); meta {"source", "lexname"}; a single-label set of the demo's 8
labels; 90% of the records reviewed with their WordNet class as final label, 10% unlabeled.

Each export runs in a child process (`export_records` into a file under /tmp, as the job and the
command do) that reports rows/s and its peak RSS (VmHWM) — the goal: >= 100,000 rows/s and < 250 MB
at 1M. Near-duplicate grouping is timed separately on --near-records records with 384-dimension
vectors (random unit vectors, 5% of them near-copies of another at cosine ~0.99: the HNSW k-NN
search per record is what costs, whatever the vectors), HNSW-indexed as in production.

    .venv/bin/python bench/export.py [--records 1000000] [--baseline-records 20000] [--near-records 100000]
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401  # before anything of the project: see bench/_bootstrap.py

BENCH_DATABASE = "tally_bench_export"
MAIN_DATASET = "Bench export"
NEAR_DATASET = "Bench export, near-duplicates"
DOCUMENTS, CHUNKS_PER_DOCUMENT = 10_000, 5
DUPLICATE_EVERY = 20
SPLIT, SEED = (80, 10, 10), 42
GOAL_ROWS_PER_SECOND, GOAL_PEAK_MB = 100_000, 250
MODEL = "bench-vectors"


# --- Setup -------------------------------------------------------------------------------------


def setup_django(*, fresh: bool) -> None:
    from django.conf import settings

    from config import embedded_db

    if os.environ.get("DATABASE_URL"):
        sys.exit("bench/export.py makes its own database on the embedded server: unset DATABASE_URL")
    if fresh:
        drop_database(embedded_db.ensure_server(Path(settings.DATA_DIR), database="postgres"))
    embedded_db.ensure_server(Path(settings.DATA_DIR), database=BENCH_DATABASE)
    settings.DATABASES["default"]["NAME"] = BENCH_DATABASE
    import django

    django.setup()


def drop_database(socket_dir: Path | None = None) -> None:
    import psycopg
    from django.conf import settings
    from psycopg import sql

    from config import embedded_db

    socket_dir = socket_dir or embedded_db.ensure_server(Path(settings.DATA_DIR), database="postgres")
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DATABASE)))


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM; not getrusage, which carries a parent's peak over exec)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def demo_rows() -> list[tuple[str, str]]:
    from labeling.services.demo import DEMO_FILE

    with DEMO_FILE.open(newline="", encoding="utf-8") as source:
        return [(row["text"], row["label"]) for row in csv.DictReader(source)]


def create_main_dataset(records: int) -> int:
    """The dataset the exports read (see the module docstring), in a few INSERT ... SELECTs.
    Returns how many records are document chunks."""
    from django.db import connection

    from corpus.models import Dataset
    from labeling.models import Label, LabelSchema
    from labeling.services.demo import LABELS

    rows = demo_rows()
    dataset = Dataset.objects.create(name=MAIN_DATASET)
    schema = LabelSchema.objects.create(dataset=dataset, name="Semantic class")
    Label.objects.bulk_create(
        Label(schema=schema, name=name, hotkey=key, color=color, order=order)
        for order, (name, key, color, _) in enumerate(LABELS)
    )
    documents = min(DOCUMENTS, records // (4 * CHUNKS_PER_DOCUMENT))
    chunk_start = records // 2
    with connection.cursor() as cursor:
        # The trigram index serves the records list's text search, not exports: building it for a
        # million bench rows would only slow the setup down.
        cursor.execute("DROP INDEX IF EXISTS record_text_trgm")
        cursor.execute(
            """
            INSERT INTO corpus_document (dataset_id, file, original_name, sha256, kind, size_bytes, created_at)
            SELECT %s, 'bench/doc-' || n || '.txt', 'doc-' || n || '.txt', lpad(to_hex(n), 64, '0'), 'txt', 0, now()
              FROM generate_series(1, %s) AS n
            """,
            [dataset.pk, documents],
        )
        cursor.execute("SELECT min(id) FROM corpus_document WHERE dataset_id = %s", [dataset.pk])
        (first_document,) = cursor.fetchone()
        # Record j's base text: demo text j mod 4,000, with " (copy k)" past the first 4,000. Every
        # 20th record repeats its predecessor's text in capitals with a "!". The content hash is
        # corpus.text.content_hash's (NFC, whitespace collapsed, sha256), in SQL.
        cursor.execute(
            r"""
            INSERT INTO corpus_record (dataset_id, text, meta, external_id, content_hash, document_id, position,
                                       embedding_model, embedding_hash, created_at)
            SELECT %(dataset)s, x.text, jsonb_build_object('source', 'WordNet 3.0 (bench copy)', 'lexname', x.label),
                   'bench-' || x.i,
                   encode(sha256(convert_to(btrim(regexp_replace(normalize(x.text, NFC), '\s+', ' ', 'g')), 'UTF8')),
                          'hex'),
                   CASE WHEN x.chunk >= 0 AND x.chunk < %(chunks)s THEN %(first_document)s + x.chunk / %(per)s END,
                   CASE WHEN x.chunk >= 0 AND x.chunk < %(chunks)s THEN x.chunk %% %(per)s END,
                   '', '', now()
              FROM (
                SELECT b.i, b.label, b.i - %(chunk_start)s AS chunk,
                       CASE WHEN b.i %% %(every)s = %(every)s - 1 THEN upper(b.base) || '!' ELSE b.base END AS text
                  FROM (
                    SELECT i, t.label,
                           CASE WHEN j < %(count)s THEN t.text
                                ELSE t.text || ' (copy ' || j / %(count)s || ')' END AS base
                      FROM generate_series(0, %(records)s - 1) AS i
                     CROSS JOIN LATERAL (
                           SELECT CASE WHEN i %% %(every)s = %(every)s - 1 THEN i - 1 ELSE i END AS j
                           ) AS jj
                      JOIN unnest(%(texts)s::text[], %(labels)s::text[]) WITH ORDINALITY AS t (text, label, n)
                        ON t.n = 1 + jj.j %% %(count)s
                  ) AS b
              ) AS x
             ORDER BY x.i
            """,
            {
                "dataset": dataset.pk,
                "records": records,
                "texts": [text for text, _ in rows],
                "labels": [label for _, label in rows],
                "count": len(rows),
                "every": DUPLICATE_EVERY,
                "chunk_start": chunk_start,
                "chunks": documents * CHUNKS_PER_DOCUMENT,
                "per": CHUNKS_PER_DOCUMENT,
                "first_document": first_document,
            },
        )
        cursor.execute(
            """
            INSERT INTO labeling_recordstate (record_id, schema_id, status, review_reason, human_annotations,
                                              random_key, version, updated_at, reviewed_at)
            SELECT r.id, %(schema)s, CASE WHEN r.id %% 10 = 0 THEN 'unlabeled' ELSE 'reviewed' END, '', 0,
                   random(), 1, now(), CASE WHEN r.id %% 10 = 0 THEN NULL ELSE now() END
              FROM corpus_record r WHERE r.dataset_id = %(dataset)s
            """,
            {"schema": schema.pk, "dataset": dataset.pk},
        )
        cursor.execute(
            """
            INSERT INTO labeling_recordstate_final_labels (recordstate_id, label_id)
            SELECT s.id, l.id
              FROM labeling_recordstate s
              JOIN corpus_record r ON r.id = s.record_id
              JOIN labeling_label l ON l.schema_id = %(schema)s AND l.name = r.meta ->> 'lexname'
             WHERE s.schema_id = %(schema)s AND s.status = 'reviewed'
            """,
            {"schema": schema.pk},
        )
        cursor.execute("VACUUM (ANALYZE) corpus_record, labeling_recordstate, labeling_recordstate_final_labels")
    return documents * CHUNKS_PER_DOCUMENT


def create_near_dataset(records: int) -> int:
    """Records with 384-dimension vectors, 5% of them near-copies of another, and the HNSW index."""
    from datetime import UTC, datetime

    import numpy as np
    from django.db import connection
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from corpus.models import Dataset
    from corpus.text import content_hash

    dataset = Dataset.objects.create(name=NEAR_DATASET)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(records, 384)).astype(np.float32)
    copies = rng.choice(records, size=records // 20, replace=False)
    originals = rng.integers(0, records, size=len(copies))
    vectors[copies] = vectors[originals] + rng.normal(scale=0.05, size=(len(copies), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = demo_rows()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS record_embedding_hnsw")
    raw = connection.connection
    register_vector(raw)
    columns = (
        "dataset_id, text, meta, external_id, content_hash, embedding, embedding_model, embedding_hash, created_at"
    )
    now = datetime.now(UTC)
    with raw.cursor() as cursor, cursor.copy(f"COPY corpus_record ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["bigint", "text", "jsonb", "varchar", "varchar", "vector", "varchar", "varchar", "timestamptz"])
        for i, vector in enumerate(vectors):
            text = f"{rows[i % len(rows)][0]} (vector {i})"
            digest = content_hash(text)
            copy.write_row([dataset.pk, text, Jsonb({}), f"near-{i}", digest, vector, MODEL, digest, now])
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "CREATE INDEX record_embedding_hnsw ON corpus_record USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("VACUUM (ANALYZE) corpus_record")
    return dataset.pk


# --- Children: one measurement each --------------------------------------------------------------


def child_export(fmt: str, dataset_name: str, split: bool, threshold: float | None) -> dict:
    from corpus.models import Dataset
    from labeling.services.export import ExportOptions, export_records

    dataset = Dataset.objects.get(name=dataset_name)
    options = ExportOptions(fmt=fmt, split=SPLIT if split else None, seed=SEED, near_duplicate_threshold=threshold)
    start_mb = peak_rss_mb()
    with tempfile.NamedTemporaryFile(prefix="tally-bench-export-", suffix=f".{fmt}") as out:
        started = time.perf_counter()
        report = export_records(dataset=dataset, options=options, out=out)
        out.flush()
        seconds = time.perf_counter() - started
        size = os.path.getsize(out.name)
    return {
        "rows": report.rows,
        "seconds": seconds,
        "bytes": size,
        "peak_mb": peak_rss_mb(),
        "start_mb": start_mb,
        "splits": report.splits,
        "groups": report.groups,
        "near": report.near_duplicates,
    }


def child_baseline(rows: int) -> dict:
    """django-import-export's ModelResource export (the admin's Export button) of the first `rows`
    records: fields only, no labels (they would cost one query per row more)."""
    from import_export import resources

    from corpus.models import Dataset, Record

    class RecordResource(resources.ModelResource):
        class Meta:
            model = Record
            fields = ["id", "external_id", "text", "meta"]

    dataset = Dataset.objects.get(name=MAIN_DATASET)
    queryset = Record.objects.filter(dataset=dataset).order_by("id")[:rows]
    start_mb = peak_rss_mb()
    started = time.perf_counter()
    data = RecordResource().export(queryset=queryset)
    text = data.csv
    seconds = time.perf_counter() - started
    return {
        "rows": len(data),
        "seconds": seconds,
        "bytes": len(text.encode()),
        "peak_mb": peak_rss_mb(),
        "start_mb": start_mb,
    }


def run_child(*arguments: str) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--child", *arguments], capture_output=True, text=True, check=False
    )
    if child.returncode:
        sys.exit(f"bench/export.py child {arguments} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def best_of(repeat: int, *arguments: str) -> dict:
    """The fastest of `repeat` runs (each in a fresh child), with the highest peak RSS of them all
    and every run's rate: on a shared machine the slow runs measure the neighbours."""
    runs = [run_child(*arguments) for _ in range(repeat)]
    best = max(runs, key=lambda figures: figures["rows"] / figures["seconds"])
    return best | {
        "peak_mb": max(figures["peak_mb"] for figures in runs),
        "rates": [figures["rows"] / figures["seconds"] for figures in runs],
    }


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- Main ----------------------------------------------------------------------------------------


def describe(name: str, figures: dict, baseline_rate: float | None = None) -> str:
    rate = figures["rows"] / figures["seconds"]
    line = (
        f"{name}: {figures['rows']:,} rows in {figures['seconds']:.2f} s = {rate:,.0f} rows/s, "
        f"peak RSS {figures['peak_mb']:.0f} MB (after setup {figures['start_mb']:.0f} MB), "
        f"{figures['bytes'] / 1e6:,.0f} MB written"
    )
    if baseline_rate:
        line += f" = {rate / baseline_rate:,.0f}x django-import-export ({baseline_rate:,.0f} rows/s) in this run"
    if len(figures.get("rates", [])) > 1:
        line += f"; best of {len(figures['rates'])}: " + ", ".join(f"{r:,.0f}" for r in figures["rates"])
    return line


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--baseline-records", type=int, default=20_000)
    parser.add_argument("--near-records", type=int, default=100_000, help="0: skip the near-duplicate timing")
    parser.add_argument("--near-threshold", type=float, default=0.95)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported")
    parser.add_argument("--keep", action="store_true", help="keep the bench database (and reuse a kept one)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_as_child(arguments: list[str]) -> None:
    setup_django(fresh=False)
    kind, *rest = arguments
    if kind == "baseline":
        figures = child_baseline(int(rest[0]))
    else:
        fmt, dataset_name, split, threshold = rest
        figures = child_export(fmt, dataset_name, split == "split", float(threshold) if threshold != "none" else None)
    print(json.dumps(figures))


def prepare_main_dataset(records: int) -> None:
    from corpus.models import Dataset

    started = time.perf_counter()
    kept = Dataset.objects.filter(name=MAIN_DATASET).first()
    if kept is not None and kept.records.count() != records:
        sys.exit(f"the kept bench database has {kept.records.count():,} records: run once without --keep")
    if kept is None:
        chunks = create_main_dataset(records)
        print(
            f"{records:,} records ({100 // DUPLICATE_EVERY}% duplicates, {chunks:,} document chunks) made in "
            f"{time.perf_counter() - started:.0f} s"
        )


def measure_near_duplicates(records: int, threshold: float) -> None:
    from corpus.models import Dataset

    started = time.perf_counter()
    if not Dataset.objects.filter(name=NEAR_DATASET).exists():
        create_near_dataset(records)
        print(f"{records:,} records with vectors and their HNSW index made in {time.perf_counter() - started:.0f} s")
    near = run_child("export", "jsonl", NEAR_DATASET, "split", str(threshold))
    print(describe(f"export jsonl with near-duplicates >= {threshold}", near))
    found = near["near"]
    print(
        f"  near-duplicate search: {found['records_checked']:,} records in {found['seconds']:.1f} s "
        f"= {found['records_checked'] / max(found['seconds'], 1e-9):,.0f} records/s; "
        f"{found['pairs']:,} pairs, groups kept together {near['groups']}"
    )


def measure(args: argparse.Namespace) -> None:
    print(f"load average (1, 5, 15 min) before: {load_average()} on {os.cpu_count()} CPUs")
    baseline = best_of(args.repeat, "baseline", str(args.baseline_records))
    baseline_rate = baseline["rows"] / baseline["seconds"]
    print(describe(f"django-import-export, {args.baseline_records:,}-record sample (csv)", baseline))
    results = {}
    for fmt in ("jsonl", "csv"):
        results[fmt] = best_of(args.repeat, "export", fmt, MAIN_DATASET, "split", "none")
        print(describe(f"export {fmt}, split {SPLIT} seed {SEED}", results[fmt], baseline_rate))
    print(f"  splits {results['jsonl']['splits']}, groups kept together {results['jsonl']['groups']}")
    plain = best_of(args.repeat, "export", "jsonl", MAIN_DATASET, "nosplit", "none")
    print(describe("export jsonl, no split", plain, baseline_rate))
    if args.near_records:
        measure_near_duplicates(args.near_records, args.near_threshold)
    print(f"load average (1, 5, 15 min) after: {load_average()}")
    print()
    for fmt in ("jsonl", "csv"):
        figures = results[fmt]
        rate = figures["rows"] / figures["seconds"]
        verdict = "met" if rate >= GOAL_ROWS_PER_SECOND and figures["peak_mb"] < GOAL_PEAK_MB else "NOT met"
        print(
            f"export {fmt}: {rate:,.0f} rows/s = {rate / baseline_rate:,.0f}x django-import-export "
            f"({baseline_rate:,.0f} rows/s) in this run; peak RSS {figures['peak_mb']:.0f} MB at "
            f"{figures['rows']:,} rows (goal >= {GOAL_ROWS_PER_SECOND:,} rows/s, < {GOAL_PEAK_MB} MB: {verdict})"
        )


def main() -> None:
    args = parse_args()
    if args.child:
        run_as_child(args.child)
        return
    signal.signal(signal.SIGTERM, interrupt)
    setup_django(fresh=not args.keep)
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        prepare_main_dataset(args.records)
        measure(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
