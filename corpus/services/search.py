"""Search by meaning: a query's (or a record's) vector → the nearest records by cosine distance,
served by the HNSW index `record_embedding_hnsw` (vector_cosine_ops).

Filters (a dataset, the records list's filters) are applied *while* the index is walked:
pgvector 0.8's iterative index scan keeps reading the graph until `limit` rows survive the
filter, so a selective filter still returns `limit` results instead of the few that happened to
sit among the first `ef_search` candidates.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from pgvector.django import CosineDistance

from corpus.models import Record
from inference_client import Embedder

# Candidates the HNSW scan keeps per step. 40 (pgvector's default) gave recall@10 below 0.95 on
# 100k real MiniLM vectors in bench/search.py; 100 keeps it above at ~1-2 ms extra.
DEFAULT_EF_SEARCH = 100
# How far an iterative scan may walk before giving up (pgvector's default is 20,000): a filter
# matching 0.1% of a million rows needs ~10,000 visited tuples for 10 results.
MAX_SCAN_TUPLES = 40_000
MAX_LIMIT = 1000


@dataclass(frozen=True)
class SimilarRecord:
    record: Record
    distance: float  # cosine distance, 0 (same direction) .. 2 (opposite)

    @property
    def similarity(self) -> float:
        return 1.0 - self.distance


def search_similar(
    *,
    dataset_ids: Iterable[int],
    embedder: Embedder,
    query: str | None = None,
    record: Record | None = None,
    limit: int = 10,
    filters: Q | QuerySet | None = None,
    ef_search: int = DEFAULT_EF_SEARCH,
) -> list[SimilarRecord]:
    """The `limit` records of `dataset_ids` nearest in meaning to `query` (a text) or to `record`
    (more like this; the record itself is left out), most similar first.

    Only records embedded with `embedder`'s model take part: vectors of another model live in
    another space. `filters` narrows the candidates further (a Q over Record, or a Record
    queryset such as the records list's filtered one)."""
    if (query is None) == (record is None):
        raise ValueError("search_similar needs exactly one of `query` or `record`")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    model_name = embedder.info.name
    candidates = Record.objects.filter(dataset_id__in=list(dataset_ids), embedding_model=model_name).exclude(
        embedding=None
    )
    if record is not None:
        vector = _vector_of(record=record, embedder=embedder)
        candidates = candidates.exclude(pk=record.pk)
    else:
        if not query.strip():
            return []
        vector = embedder.embed([query])[0]
    if isinstance(filters, QuerySet):
        candidates = candidates.filter(pk__in=filters.values("pk"))
    elif filters is not None:
        candidates = candidates.filter(filters)
    nearest = (
        candidates.annotate(distance=CosineDistance("embedding", vector.tolist()))
        .defer("embedding")
        .order_by("distance")[:limit]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # set_config(..., true) is SET LOCAL: the settings end with this transaction and never
        # leak into other queries of a pooled connection.
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
            " set_config('hnsw.ef_search', %s, true), set_config('hnsw.max_scan_tuples', %s, true)",
            [str(max(ef_search, limit)), str(MAX_SCAN_TUPLES)],
        )
        rows = list(nearest)
    # relaxed_order may hand back neighbours slightly out of order: sort the few we got.
    rows.sort(key=lambda row: row.distance)
    return [SimilarRecord(record=row, distance=float(row.distance)) for row in rows]


def _vector_of(*, record: Record, embedder: Embedder) -> np.ndarray:
    """The record's stored vector when it is current for this model, otherwise a fresh one."""
    stored = Record.objects.filter(pk=record.pk).values_list("embedding", "embedding_model", "embedding_hash").first()
    if stored and stored[0] is not None and stored[1] == embedder.info.name and stored[2] == record.content_hash:
        return np.asarray(stored[0], dtype=np.float32)
    return embedder.embed([record.text])[0]
