"""Search by meaning at 100k real embeddings: the app's search function (HNSW, iterative scan)
against exact search over the same vectors (sequential scan, index disabled), in the same run.

    .venv/bin/python bench/search.py [--records 100000] [--real 20000] [--queries 200]

Vectors: WordNet glosses (Debian wordnet-base) embedded with the real model; past --real texts,
records are real vectors plus small Gaussian noise (renormalised), as the issue allows. The
vectors of the real texts are cached under var/bench/ so a second run skips the model.
Runs in its own database (tally_bench_search) on the embedded server, dropped at the end; the dev
data stays untouched.
Reports p95 latency of unfiltered search and of search filtered to one dataset holding 10%,
recall@10 against exact search, ef_search, index build time and size.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _bootstrap import ROOT  # before anything of the project: see bench/_bootstrap.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.harness import drop_database, setup_django

BENCH_DATABASE = "tally_bench_search"
MODEL = "all-MiniLM-L6-v2"
DATASETS = 10  # record i belongs to dataset i % 10: each holds 10%
WORDNET = Path("/usr/share/wordnet")


def wordnet_glosses(limit: int) -> list[str]:
    glosses, seen = [], set()
    for part in ("noun", "verb", "adj", "adv"):
        path = WORDNET / f"data.{part}"
        if not path.exists():
            sys.exit(f"{path} is missing: apt-get install -y wordnet-base")
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or " | " not in line:
                continue  # the licence header
            gloss = line.split(" | ", 1)[1].strip()
            if gloss and gloss not in seen:
                seen.add(gloss)
                glosses.append(gloss)
                if len(glosses) >= limit:
                    return glosses
    return glosses


def real_vectors(texts: list[str]) -> np.ndarray:
    cache = ROOT / "var" / "bench" / f"wordnet-{MODEL}-{len(texts)}.npy"
    if cache.exists():
        return np.load(cache)
    from inference_client import get_embedder

    embedder = get_embedder("local", model=MODEL, threads=int(os.environ.get("TORCH_THREADS", "0")))
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    print(f"embedded {len(texts):,} glosses with {MODEL} in {time.perf_counter() - started:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def corpus_vectors(real: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """`real`, then noisy copies of it up to `total` rows (noise norm ~0.2: cosine ~0.98)."""
    parts = [real]
    while sum(len(p) for p in parts) < total:
        need = min(len(real), total - sum(len(p) for p in parts))
        noisy = real[:need] + rng.normal(0, 0.01, size=(need, real.shape[1])).astype(np.float32)
        parts.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    return np.concatenate(parts)[:total].astype(np.float32)


class PrecomputedEmbedder:
    """The query vectors are computed before timing: the figures are the search, not the model
    (which adds ~5-10 ms per query on these cores; reported separately)."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        from inference_client import ModelInfo

        self.vectors = vectors
        self.info = ModelInfo(name=MODEL, dimensions=384, max_tokens=256)

    def embed(self, texts):
        return np.stack([self.vectors[text] for text in texts])


def load(records: np.ndarray, texts: list[str]) -> tuple[list[int], float, int]:
    """Migrate the bench database, load the records with binary COPY, build the HNSW index."""
    from django.core.management import call_command
    from django.db import connection
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from corpus.models import Dataset, Record
    from corpus.text import content_hash

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE corpus_record, corpus_dataset RESTART IDENTITY CASCADE")
        cursor.execute("DROP INDEX IF EXISTS record_embedding_hnsw")
        # Text search plays no part here; keeping its trigram index up to date row by row would
        # triple the load time at 1M.
        cursor.execute("DROP INDEX IF EXISTS record_text_trgm")
    datasets = [Dataset.objects.create(name=f"bench {n}").pk for n in range(DATASETS)]
    raw = connection.connection
    register_vector(raw)
    columns = (
        "dataset_id, text, meta, external_id, content_hash, embedding, embedding_model, embedding_hash, created_at"
    )
    started = time.perf_counter()
    with raw.cursor() as cursor, cursor.copy(f"COPY corpus_record ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["bigint", "text", "jsonb", "varchar", "varchar", "vector", "varchar", "varchar", "timestamptz"])
        now = datetime.now(UTC)
        for i, vector in enumerate(records):
            text = texts[i % len(texts)] if i < len(texts) else f"{texts[i % len(texts)]} (variant {i // len(texts)})"
            digest = content_hash(text)
            copy.write_row([datasets[i % DATASETS], text, Jsonb({}), "", digest, vector, MODEL, digest, now])
    print(f"loaded {len(records):,} records in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE corpus_record")
        # The graph must fit in memory or pgvector builds on disk, many times slower: ~2 KiB per
        # 384-dimension vector with m = 16 (1.5 GB at 1M), so 2.5 KiB per record and at least 1 GB.
        cursor.execute(f"SET maintenance_work_mem = '{max(1024, len(records) * 5 // 2 // 1024)}MB'")
        started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX record_embedding_hnsw ON corpus_record USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        build_seconds = time.perf_counter() - started
        cursor.execute("SHOW maintenance_work_mem")
        print(f"HNSW index built with maintenance_work_mem {cursor.fetchone()[0]}")
        cursor.execute("SELECT pg_relation_size('record_embedding_hnsw')")
        index_bytes = cursor.fetchone()[0]
        cursor.execute("RESET maintenance_work_mem")
    assert Record.objects.count() == len(records)
    return datasets, build_seconds, index_bytes


def exact_search(vector: np.ndarray, dataset_ids: list[int], *, plan: str = "seqscan", limit: int = 10) -> list[int]:
    """The baseline: the same query with the HNSW index disabled. `seqscan`: a sequential scan
    of the table and a top-N sort (no index at all); `btree`: the dataset's rows found through
    its b-tree index (a bitmap scan), then sorted exactly — the best exact plan for a filter."""
    from django.db import connection, transaction
    from pgvector.django import CosineDistance

    from corpus.models import Record

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        if plan == "seqscan":
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        return list(
            Record.objects.filter(dataset_id__in=dataset_ids, embedding_model=MODEL)
            .exclude(embedding=None)
            .annotate(distance=CosineDistance("embedding", vector.tolist()))
            .order_by("distance")
            .values_list("pk", flat=True)[:limit]
        )


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def measure(*, name: str, queries: list[str], embedder, vectors, dataset_ids: list[int], ef_search: int) -> dict:
    from corpus.services.search import search_similar

    def app(query):
        return [
            hit.record.pk
            for hit in search_similar(
                dataset_ids=dataset_ids, query=query, embedder=embedder, limit=10, ef_search=ef_search
            )
        ]

    filtered = len(dataset_ids) < DATASETS
    for query in queries[:20]:  # warm the caches for every path
        app(query)
        exact_search(vectors[query], dataset_ids)
        if filtered:
            exact_search(vectors[query], dataset_ids, plan="btree")
    app_ms, exact_ms, btree_ms, recalls = [], [], [], []
    for query in queries:
        started = time.perf_counter()
        found = app(query)
        app_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        truth = exact_search(vectors[query], dataset_ids)
        exact_ms.append((time.perf_counter() - started) * 1000)
        if filtered:
            started = time.perf_counter()
            exact_search(vectors[query], dataset_ids, plan="btree")
            btree_ms.append((time.perf_counter() - started) * 1000)
        recalls.append(len(set(found) & set(truth)) / len(truth))
    result = {
        "name": name,
        "ef_search": ef_search,
        "p95_ms": p95(app_ms),
        "p50_ms": statistics.median(app_ms),
        "exact_p95_ms": p95(exact_ms),
        "btree_p95_ms": p95(btree_ms) if btree_ms else None,
        "recall": statistics.mean(recalls),
    }
    line = (
        f"  {name:<20} ef_search={ef_search:<4} p95 {result['p95_ms']:5.1f} ms (p50 {result['p50_ms']:4.1f})"
        f" | exact (seq scan) p95 {result['exact_p95_ms']:6.1f} ms = {result['exact_p95_ms'] / result['p95_ms']:4.1f}x"
    )
    if btree_ms:
        line += (
            f" | exact (dataset b-tree) p95 {result['btree_p95_ms']:5.1f} ms"
            f" = {result['btree_p95_ms'] / result['p95_ms']:4.1f}x"
        )
    print(line + f" | recall@10 {result['recall']:.3f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=20_000, help="records with their own real text and vector")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="*", help="ef_search values to compare (default: the app's)")
    args = parser.parse_args()

    socket_dir = setup_django(database=BENCH_DATABASE, script="bench/search.py")
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(socket_dir, BENCH_DATABASE)  # a million vectors take gigabytes


def run(args: argparse.Namespace) -> None:
    from corpus.services.search import DEFAULT_EF_SEARCH

    glosses = wordnet_glosses(args.real + args.queries)
    texts, query_texts = glosses[: args.real], glosses[args.real : args.real + args.queries]
    all_vectors = real_vectors(glosses)
    rng = np.random.default_rng(7)
    records = corpus_vectors(all_vectors[: args.real], args.records, rng)
    query_vectors = dict(zip(query_texts, all_vectors[args.real :], strict=True))
    embedder = PrecomputedEmbedder(query_vectors)

    datasets, build_seconds, index_bytes = load(records, texts)
    print(
        f"HNSW index (m=16, ef_construction=64) over {args.records:,} vectors: built in {build_seconds:.1f} s, "
        f"{index_bytes / 2**20:.0f} MiB (pg_relation_size)"
    )
    results = []
    for ef in args.ef_search or [DEFAULT_EF_SEARCH]:
        for name, dataset_ids in (("unfiltered", datasets), ("one dataset of 10%", datasets[:1])):
            results.append(
                measure(
                    name=name,
                    queries=query_texts,
                    embedder=embedder,
                    vectors=query_vectors,
                    dataset_ids=dataset_ids,
                    ef_search=ef,
                )
            )
    for result in results:
        if result["ef_search"] != DEFAULT_EF_SEARCH:
            continue
        goals = (
            result["p95_ms"] < 20,
            result["exact_p95_ms"] >= 10 * result["p95_ms"],
            result["recall"] >= 0.95,
        )
        btree = ""
        if result["btree_p95_ms"]:
            btree = (
                f" (and {result['btree_p95_ms'] / result['p95_ms']:.1f}x exact search through the dataset's b-tree, "
                f"{result['btree_p95_ms']:.1f} ms)"
            )
        print(
            f"search ({result['name']}): p95 {result['p95_ms']:.1f} ms = "
            f"{result['exact_p95_ms'] / result['p95_ms']:.1f}x exact search by sequential scan "
            f"({result['exact_p95_ms']:.1f} ms){btree} in this run, recall@10 {result['recall']:.3f}, "
            f"ef_search {result['ef_search']} — goals (<20 ms, >=10x, >=0.95): {'met' if all(goals) else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
