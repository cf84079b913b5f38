"""Embedding a dataset's records with the configured model and storing the vectors."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from corpus.inference import configured_embedder
from corpus.models import Dataset, Record
from inference_client import Embedder
from jobs import register
from jobs.models import Job
from jobs.services import start_job

# Records read from the database at once; within a chunk, texts are sorted by length so each
# model batch pads little.
CHUNK_SIZE = 1024

Progress = Callable[..., None]


@dataclass(frozen=True)
class EmbedResult:
    embedded: int
    model: str


def embed_dataset(*, dataset_id: int, embedder: Embedder, progress: Progress | None = None) -> EmbedResult:
    """Embed every record of the dataset that has no vector from this model for its current
    text. Incremental and safe to run twice: a second run finds nothing to do."""
    model_name = embedder.info.name
    pending = Record.objects.filter(dataset_id=dataset_id).needs_embedding(model_name)
    total = pending.count()
    if progress:
        progress(done=0, total=total)
    done = 0
    last_id = 0
    while True:
        # Keyset over ids: each chunk is a short read, and work written so far stays written.
        chunk = list(
            pending.filter(id__gt=last_id).order_by("id").values_list("id", "text", "content_hash")[:CHUNK_SIZE]
        )
        if not chunk:
            break
        last_id = chunk[-1][0]
        chunk.sort(key=lambda row: len(row[1]))
        vectors = embedder.embed([text for _, text, _ in chunk])
        _store_vectors(
            ids=[row[0] for row in chunk],
            hashes=[row[2] for row in chunk],
            vectors=vectors,
            model_name=model_name,
        )
        done = min(total, done + len(chunk)) if total else done + len(chunk)
        if progress:
            progress(done=done, total=max(total, done))
    return EmbedResult(embedded=done, model=model_name)


def _store_vectors(*, ids: list[int], hashes: list[str], vectors, model_name: str) -> None:
    """One UPDATE for a whole chunk. The vector stays tied to the hash of the text it was
    computed from: if the text changed meanwhile, the record still needs embedding."""
    literals = ["[" + ",".join(map(repr, vector.tolist())) + "]" for vector in vectors]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE corpus_record AS r
               SET embedding = v.embedding::vector, embedding_model = %s, embedding_hash = v.hash
              FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, embedding, hash)
             WHERE r.id = v.id
            """,
            [model_name, ids, literals, hashes],
        )


def start_embedding(*, dataset: Dataset, user, model: str | None = None) -> Job:
    """Queue an embedding job for the dataset; the worker does the work."""
    params = {"dataset_id": dataset.pk}
    if model:
        params["model"] = model
    return start_job(kind="embed", params=params, user=user)


@register("embed")
def run_embed(job: Job) -> None:
    embedder = configured_embedder(job.params.get("model"))
    result = embed_dataset(dataset_id=job.params["dataset_id"], embedder=embedder, progress=job.report)
    Job.objects.filter(pk=job.pk).update(result={"embedded": result.embedded, "model": result.model})
