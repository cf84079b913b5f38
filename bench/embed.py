"""Embedding speed: Tally's embedding pipeline against a bare `model.encode`, and re-embedding
an unchanged 100k-record dataset.

1. Pipeline vs bare model: N distinct real texts (WordNet glosses from Debian's `wordnet-base`)
   are embedded by `embed_dataset` (read in chunks, sort by length, encode, one bulk UPDATE per
   chunk) and, in the same run with the same loaded model, by a bare `model.encode` of the same
   texts. Prints records/s of both and their ratio (goal: >= 0.9x).
2. Re-embed of an unchanged dataset: 100k records that already carry a current vector; an
   embedding job over them (the real handler through `run_job`) must find nothing to do
   (goal: < 5 s). Baseline in the same run: the time embedding those records again would take
   at the rate measured in part 1.

Runs in a scratch database `tally_bench_embed` on the embedded server (created, migrated and
dropped), so the development data is never touched. In that scratch database the HNSW index is
dropped before the 100k rows go in: it does not serve the query measured here, and building it
over 100k identical placeholder vectors would only slow the setup down.

    .venv/bin/python bench/embed.py [--texts 4000] [--records 100000]
"""

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

from _bootstrap import ROOT  # before anything of the project: see bench/_bootstrap.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["TASK_QUEUE"] = "immediate"
os.environ["INFERENCE_BACKEND"] = "local"

WORDNET = Path("/usr/share/wordnet")
SCRATCH_DB = "tally_bench_embed"


def wordnet_glosses() -> list[str]:
    """Every distinct gloss of WordNet, in file order (about 117k)."""
    if not (WORDNET / "data.noun").exists():
        sys.exit("WordNet is missing: apt-get install -y wordnet-base")
    seen, glosses = set(), []
    for part in ("noun", "verb", "adj", "adv"):
        with (WORDNET / f"data.{part}").open(encoding="latin-1") as lines:
            for line in lines:
                if line.startswith(" ") or "|" not in line:
                    continue
                gloss = re.sub(r"\s+", " ", line.split("|", 1)[1]).strip()
                if gloss and gloss not in seen:
                    seen.add(gloss)
                    glosses.append(gloss)
    return glosses


def use_scratch_database() -> None:
    import psycopg

    from config import embedded_db

    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var")).resolve()
    socket_dir = embedded_db.ensure_server(data_dir, database="postgres")
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        # A fresh one each run: an interrupted run leaves its scratch database behind.
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
    os.environ["DATABASE_URL"] = f"postgres://postgres@{quote(str(socket_dir), safe='')}/{SCRATCH_DB}"


def drop_scratch_database() -> None:
    import psycopg
    from django.db import connection

    host = connection.settings_dict["HOST"]
    connection.close()
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000, help="texts for pipeline vs bare model")
    parser.add_argument("--records", type=int, default=100_000, help="records for the unchanged re-embed")
    args = parser.parse_args()

    glosses = wordnet_glosses()
    if len(glosses) < args.records:
        sys.exit(f"WordNet has {len(glosses):,} distinct glosses; ask for --records {len(glosses)} or fewer")

    use_scratch_database()
    import django

    django.setup()
    from django.core.management import call_command

    print(f"scratch database {SCRATCH_DB}: migrating ...", flush=True)
    call_command("migrate", verbosity=0)
    try:
        run(glosses, texts=args.texts, records=args.records)
    finally:
        drop_scratch_database()


def run(glosses: list[str], *, texts: int, records: int) -> None:
    from django.conf import settings

    from corpus.inference import configured_embedder

    embedder = configured_embedder()
    embedder.embed(["warm up the model once, outside every measurement"])
    threads = settings.TORCH_THREADS or "torch's choice"
    print(f"model {embedder.info.name}, max {embedder.info.max_tokens} word pieces, torch threads: {threads}")
    pipeline_rate = measure_pipeline(embedder, glosses[:texts])
    if records:
        measure_unchanged_reembed(embedder, glosses[:records], pipeline_rate=pipeline_rate)


def measure_pipeline(embedder, sample: list[str]) -> float:
    """Records/s of embed_dataset against a bare model.encode of the same texts; returns the former."""
    from corpus.models import Dataset, Record
    from corpus.services import embed as embed_service
    from corpus.services.embed import embed_dataset
    from corpus.text import content_hash

    model = embedder._model  # the very model object the pipeline uses
    dataset = Dataset.objects.create(name="bench: pipeline")
    Record.objects.bulk_create(
        [Record(dataset=dataset, text=text, content_hash=content_hash(text)) for text in sample], batch_size=5000
    )
    bare_times, pipeline_times, write_seconds = [], [], []
    store = embed_service._store_vectors

    def timed_store(**kwargs) -> None:
        # How long the writes take (UPDATE + index maintenance), hidden or not behind encoding.
        started = time.perf_counter()
        store(**kwargs)
        write_seconds.append(time.perf_counter() - started)

    embed_service._store_vectors = timed_store
    try:
        for _ in range(2):  # interleaved, so a noisy neighbour hurts both alike
            started = time.perf_counter()
            model.encode(
                sample,
                batch_size=embedder.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            bare_times.append(time.perf_counter() - started)

            Record.objects.filter(dataset=dataset).update(embedding=None, embedding_model="", embedding_hash="")
            started = time.perf_counter()
            result = embed_dataset(dataset_id=dataset.pk, embedder=embedder)
            pipeline_times.append(time.perf_counter() - started)
            assert result.embedded == len(sample), result
    finally:
        embed_service._store_vectors = store
    bare_rate = len(sample) / statistics.median(bare_times)
    pipeline_rate = len(sample) / statistics.median(pipeline_times)
    print(
        f"  (writing the vectors took {sum(write_seconds) / len(pipeline_times):.1f} s a run, overlapped with "
        f"encoding; chunks of {embed_service.CHUNK_SIZE}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"embedding pipeline: {pipeline_rate:,.0f} records/s = {pipeline_rate / bare_rate:.2f}x "
        f"a bare model.encode of the same {len(sample):,} texts ({bare_rate:,.0f} texts/s) in this run "
        f"(goal >= 0.9x; medians of {len(bare_times)} interleaved runs)"
    )
    return pipeline_rate


def measure_unchanged_reembed(embedder, texts: list[str], *, pipeline_rate: float) -> None:
    """An embed job over records that all carry a current vector: it must find nothing to do."""
    import numpy as np
    from django.db import connection

    from corpus.models import Dataset, Record
    from corpus.text import content_hash
    from jobs.models import Job
    from jobs.runner import run_job

    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS record_embedding_hnsw")  # scratch database only; see above
    big = Dataset.objects.create(name="bench: unchanged")
    vector = "[" + ",".join([repr(float(1 / np.sqrt(384)))] * 384) + "]"
    started = time.perf_counter()
    Record.objects.bulk_create(
        (Record(dataset=big, text=text, content_hash=content_hash(text)) for text in texts), batch_size=5000
    )
    with connection.cursor() as cursor:
        # Every record current: a vector from this model for its text's hash.
        cursor.execute(
            "UPDATE corpus_record SET embedding = %s::vector, embedding_model = %s, embedding_hash = content_hash"
            " WHERE dataset_id = %s",
            [vector, embedder.info.name, big.pk],
        )
        cursor.execute("VACUUM ANALYZE corpus_record")
    print(f"  (set-up: {len(texts):,} records with a current vector inserted in {time.perf_counter() - started:.1f} s)")

    job = Job.objects.create(kind="embed", params={"dataset_id": big.pk})
    started = time.perf_counter()
    run_job(job.pk)
    rerun = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["embedded"] == 0, (job.status, job.result, job.error)
    again = len(texts) / pipeline_rate
    print(
        f"re-embed of an unchanged {len(texts):,}-record dataset: {rerun:.2f} s through the embed job "
        f"(goal < 5 s) = {again / rerun:,.0f}x faster than embedding them again at the rate above "
        f"({again:,.0f} s, extrapolated); job {job.done:,}/{job.total:,}, embedded {job.result['embedded']}"
    )


if __name__ == "__main__":
    main()
