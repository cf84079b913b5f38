"""Embedding records with the configured model and storing the vectors.

Texts longer than the model's window (all-MiniLM-L6-v2: 256 word pieces, about 200 words) are
truncated by the model: the vector describes the text's beginning. That is deliberate: the
importers split documents into chunks that fit the window, so only a long single record (a
pasted essay in a CSV cell) is cut, and averaging the vectors of windows would blur exactly the
records a search should tell apart. `ModelInfo.max_tokens` says where the cut is.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from pgvector.psycopg.vector import VectorBinaryDumper, VectorDumper
from psycopg.types import TypeInfo

from corpus.inference import configured_embedder
from corpus.models import Dataset, Record
from inference_client import Embedder
from jobs import register
from jobs.models import Job
from jobs.services import start_job

# Records read, encoded and written at once; within a chunk, texts are sorted by length so each
# model batch pads little. Small enough that the one write not hidden behind an encoding (the
# last) costs little, a cancel takes effect within seconds and heartbeats come often.
CHUNK_SIZE = 512
# A job over selected records carries their ids in its params; more than this: embed the dataset.
MAX_SELECTED_RECORDS = 10_000

Progress = Callable[..., None]


@dataclass(frozen=True)
class EmbedResult:
    embedded: int
    model: str


def allowed_models() -> list[str]:
    """The models people may pick in the admin: the configured one and EMBEDDING_MODEL_CHOICES.
    Never a free-typed path: a job must not load whatever folder a form names."""
    extra = [model for model in getattr(settings, "EMBEDDING_MODEL_CHOICES", []) if model != settings.EMBEDDING_MODEL]
    return [settings.EMBEDDING_MODEL, *extra]


def embed_dataset(*, dataset_id: int, embedder: Embedder, progress: Progress | None = None) -> EmbedResult:
    """Embed every record of the dataset that has no vector from this model for its current
    text. Incremental and safe to run twice: a second run finds nothing to do."""
    return embed_records(records=Record.objects.filter(dataset_id=dataset_id), embedder=embedder, progress=progress)


def embed_records(*, records: QuerySet, embedder: Embedder, progress: Progress | None = None) -> EmbedResult:
    """Embed those of `records` with no vector from this model for their current text.

    Progress counts the whole selection, so a run that resumes after a crash or a cancel starts
    where the last one stopped rather than at zero. `progress` may raise (JobCancelled) between
    chunks; every chunk written so far stays written."""
    model_name = embedder.info.name
    pending = records.needs_embedding(model_name)
    to_embed = pending.count()
    total = records.count() if progress else to_embed
    done = total - to_embed
    if progress:
        progress(done=done, total=total)
    embedded = 0

    def read_chunk(after_id: int) -> list[tuple[int, str, str]]:
        # Keyset over ids: each chunk is a short read, and work written so far stays written.
        chunk = list(
            pending.filter(id__gt=after_id).order_by("id").values_list("id", "text", "content_hash")[:CHUNK_SIZE]
        )
        chunk.sort(key=lambda row: len(row[1]))
        return chunk

    # The model encodes chunk n+1 in a thread while this thread writes chunk n: torch releases
    # the GIL, and the write (mostly the HNSW index insert) runs in the database server, so on
    # two cores the writes cost almost nothing. All database work stays on this thread's
    # connection (and transaction).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
    try:
        chunk = read_chunk(0)
        encoding = pool.submit(embedder.embed, [text for _, text, _ in chunk]) if chunk else None
        while chunk:
            vectors = encoding.result()
            following = read_chunk(max(row[0] for row in chunk))
            encoding = pool.submit(embedder.embed, [text for _, text, _ in following]) if following else None
            _store_vectors(
                ids=[row[0] for row in chunk],
                hashes=[row[2] for row in chunk],
                vectors=vectors,
                model_name=model_name,
            )
            embedded += len(chunk)
            # Records added while the job runs make the selection grow: the total follows.
            done += len(chunk)
            total = max(total, done)
            if progress:
                progress(done=done, total=total)  # may raise JobCancelled: what is written stays
            chunk = following
    finally:
        # A cancel must not wait for the encoding of a chunk nobody will store.
        pool.shutdown(wait=False, cancel_futures=True)
    return EmbedResult(embedded=embedded, model=model_name)


def _register_vector(pg_connection) -> None:
    """Dumpers that send numpy vectors as pgvector values on this database connection, its type
    looked up once per connection rather than once per chunk. On the connection, not one cursor:
    Django's debug SQL log renders the statement with a cursor of its own, which needs them too.
    Only dumpers: a loader would hand the ORM numpy arrays where VectorField expects text."""
    if getattr(pg_connection, "_tally_vector_registered", False):
        return
    oid = TypeInfo.fetch(pg_connection, "vector").oid
    for dumper in (VectorDumper, VectorBinaryDumper):  # the binary one last: used where it can be
        pg_connection.adapters.register_dumper("numpy.ndarray", type(dumper.__name__, (dumper,), {"oid": oid}))
    pg_connection._tally_vector_registered = True


def _store_vectors(*, ids: list[int], hashes: list[str], vectors, model_name: str) -> None:
    """One UPDATE for a whole chunk. The vectors go over the wire in pgvector's binary format,
    not as 200k floats formatted as text. The vector stays tied to the hash of the text it was
    computed from: if the text changed meanwhile, the record still needs embedding."""
    connection.ensure_connection()
    _register_vector(connection.connection)  # before the cursor, which copies the adapters it finds
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE corpus_record AS r
               SET embedding = v.embedding, embedding_model = %s, embedding_hash = v.hash
              FROM unnest(%s::bigint[], %s::vector[], %s::text[]) AS v(id, embedding, hash)
             WHERE r.id = v.id
            """,
            [model_name, ids, list(vectors), hashes],
        )


def start_embedding(*, dataset: Dataset, user, model: str | None = None) -> Job:
    """Queue an embedding job for the dataset; the worker does the work."""
    params = {"dataset_id": dataset.pk}
    if model:
        params["model"] = model
    return start_job(kind="embed", params=params, user=user)


def embed_after_import(*, dataset: Dataset, inserted: int, user) -> Job | None:
    """After an import: queue embedding of the dataset's new records, when EMBED_AFTER_IMPORT is on
    and the import added any. Embedding is incremental, so only the new records are encoded."""
    if not settings.EMBED_AFTER_IMPORT or inserted <= 0:
        return None
    return start_embedding(dataset=dataset, user=user)


def start_embedding_records(*, record_ids: list[int], user, model: str | None = None) -> Job:
    """Queue an embedding job for selected records (at most MAX_SELECTED_RECORDS of them)."""
    if not record_ids:
        raise ValueError("no records selected")
    if len(record_ids) > MAX_SELECTED_RECORDS:
        raise ValueError(
            f"{len(record_ids):,} records selected; at most {MAX_SELECTED_RECORDS:,} — embed the dataset instead"
        )
    params = {"record_ids": sorted(record_ids)}
    if model:
        params["model"] = model
    return start_job(kind="embed", params=params, user=user)


@register("embed")
def run_embed(job: Job) -> None:
    model = job.params.get("model")
    if model and model not in allowed_models():
        raise ValueError(f"model {model!r} is not one of the allowed models {allowed_models()}")
    embedder = configured_embedder(model)
    if "record_ids" in job.params:
        records = Record.objects.filter(pk__in=job.params["record_ids"])
    else:
        records = Record.objects.filter(dataset_id=job.params["dataset_id"])
    result = embed_records(records=records, embedder=embedder, progress=job.report)
    Job.objects.filter(pk=job.pk).update(result={"embedded": result.embedded, "model": result.model})
    job.add_log(f"embedded {result.embedded:,} record(s) with {result.model}")
