"""Honest splits: train / validation / test, the same for the same data and seed, stratified by
label, and never with a text on both sides.

Records that must share a split form a *group*:
- exact duplicates: texts equal once case, punctuation and spacing are ignored ("Great food!"
  and "great food"); texts equal byte for byte cannot both be in one dataset (content hash);
- the chunks of one document: neighbouring chunks overlap, so a document split across train
  and test would leak its text;
- near-duplicates: records whose embeddings have a cosine similarity of at least a threshold
  (found with pgvector's HNSW index, k nearest neighbours per record, in batches).
Groups join transitively (connected components of the "must share" graph).

Each group takes the stratum (label set) of its representative, the member with the smallest
content key. Within a stratum, groups are shuffled by a hash of the seed and that content key,
then dealt out in that order so that each split's share of the stratum's records follows the
ratios. The order depends only on the texts, their labels and the seed: the same data and seed
give the same split in any database, and adding records moves few others.

The work is in numpy over a few arrays of 64-bit integers (about 40 bytes per record while
planning, 9 bytes kept for writing), never Python objects per record.
"""

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

SPLIT_NAMES = ("train", "validation", "test")
NO_DOCUMENT = 0  # primary keys start at 1

# Near-duplicates: neighbours asked of the HNSW index per record, and records per query. A group
# larger than the neighbour count still joins up through its members' own neighbours.
NEAR_NEIGHBOURS = 10
NEAR_BATCH = 256
NEAR_EF_SEARCH = 40
# Threads searching at once (each on its own connection): the database's cores do the work.
NEAR_WORKERS = min(4, os.cpu_count() or 1)

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
# ASCII bytes that are neither letters nor digits (NUL aside: it separates the texts below).
_NOT_ALNUM = bytes(b for b in range(1, 128) if not chr(b).isalnum())


def text_keys(texts: list[str], *, fallback: np.ndarray) -> np.ndarray:
    """A 64-bit key per text, equal for texts that differ only in case, spacing and ASCII
    punctuation ("Great food!" and "great food"); `fallback[i]` where nothing is left of text i.

    One pass over the batch joined into one string (NUL cannot occur in PostgreSQL text), so
    the work per text is in C; Python's hash of the remaining bytes is stable within a process,
    which is all a plan needs."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    parts = "\x00".join(texts).lower().encode().translate(None, _NOT_ALNUM).split(b"\x00")
    keys = np.fromiter(map(hash, parts), dtype=np.int64, count=len(parts))
    empty = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)) == 0
    keys[empty] = np.asarray(fallback, dtype=np.int64)[empty]
    return keys


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a fast, well-spread 64-bit hash of each value (wrapping arithmetic)."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & _MASK


@dataclass
class SplitPlan:
    """Which split each record goes to. `ids` is sorted; `splits[i]` indexes SPLIT_NAMES."""

    ids: np.ndarray
    splits: np.ndarray
    ratios: tuple[float, ...]
    exact_groups: int = 0  # duplicate texts kept together (groups of two or more)
    document_groups: int = 0  # documents whose chunks were kept together
    near_groups: int = 0  # groups of two or more that near-duplicates joined
    near_pairs: int = 0

    def split_of(self, record_ids: np.ndarray) -> np.ndarray:
        """Split indexes of `record_ids`; -1 for a record the plan does not know."""
        record_ids = np.asarray(record_ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(record_ids), -1, dtype=np.int8)
        positions = np.searchsorted(self.ids, record_ids)
        positions[positions >= len(self.ids)] = 0
        found = self.ids[positions] == record_ids
        return np.where(found, self.splits[positions], -1).astype(np.int8)

    def ids_in(self, split: int) -> np.ndarray:
        return self.ids[self.splits == split]

    def counts(self) -> dict[str, int]:
        counted = np.bincount(self.splits.astype(np.int64), minlength=len(SPLIT_NAMES))
        return {name: int(counted[i]) for i, name in enumerate(SPLIT_NAMES) if self.ratios[i] > 0}


def _equal_neighbours(keys: np.ndarray, *, ignore=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges joining positions with equal keys (a chain per value), and how many values occur
    twice or more. Positions whose key is `ignore` take no part."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if ignore is not None:
        same &= sorted_keys[1:] != ignore
    starts = same & ~np.concatenate([[False], same[:-1]])  # the first edge of each run
    return order[:-1][same], order[1:][same], int(starts.sum())


def _near_positions(ids: np.ndarray, near_pairs) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `ids` of the near-duplicate pairs whose records are both there."""
    if near_pairs is None or not len(near_pairs[0]):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n = len(ids)
    first = np.searchsorted(ids, near_pairs[0])
    second = np.searchsorted(ids, near_pairs[1])
    first[first >= n] = 0
    second[second >= n] = 0
    known = (ids[first] == near_pairs[0]) & (ids[second] == near_pairs[1]) & (first != second)
    return first[known], second[known]


def _components(n: int, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """A group label per record (the smallest position in its group), given the edges that join
    them: connected components by hooking each edge's larger root onto its smaller one, then
    pointer jumping until every record points at its root (a few rounds, all in numpy)."""
    parent = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    if not len(rows):
        return parent
    while True:
        first, second = parent[rows], parent[columns]
        low, high = np.minimum(first, second), np.maximum(first, second)
        apart = low != high
        if not apart.any():
            break
        np.minimum.at(parent, high[apart], low[apart])
        del first, second, low, high, apart
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def _deal(*, group_of: np.ndarray, strata: np.ndarray, content_keys: np.ndarray, shares, seed: int) -> np.ndarray:
    """The split index of each record: its group's, dealt out stratum by stratum in rank order.
    Written for a million records in little memory: per-record arrays are few and freed early,
    the rest is per group."""
    n = len(group_of)
    small = np.int32 if n < 2**31 else np.int64
    # Records sorted by group, then content key: each group is a run, its first record the
    # group's representative (smallest content key).
    order = np.lexsort((content_keys, group_of)).astype(small)
    sorted_groups = group_of[order]
    first_of_group = np.empty(n, dtype=bool)
    first_of_group[0] = True
    np.not_equal(sorted_groups[1:], sorted_groups[:-1], out=first_of_group[1:])
    del sorted_groups
    run_of_record = np.cumsum(first_of_group, dtype=small) - 1  # in `order`'s order
    starts = np.flatnonzero(first_of_group)
    del first_of_group
    representative = order[starts]
    sizes = np.diff(np.append(starts, n))
    del starts
    group_strata = strata[representative]
    rank = _mix(content_keys[representative].view(np.uint64) ^ _mix(np.array([seed], dtype=np.int64))[0])
    del representative

    # A group goes to the split in whose share of its stratum the middle of its run of records falls.
    dealt = np.lexsort((rank, group_strata))
    del rank
    stratum_sorted = group_strata[dealt]
    del group_strata
    size_sorted = sizes[dealt]
    del sizes
    new_stratum = np.empty(len(dealt), dtype=bool)
    new_stratum[0] = True
    np.not_equal(stratum_sorted[1:], stratum_sorted[:-1], out=new_stratum[1:])
    del stratum_sorted
    stratum_index = np.cumsum(new_stratum, dtype=small) - 1
    before = np.cumsum(size_sorted) - size_sorted  # records dealt before this group, overall
    middle = before - before[new_stratum][stratum_index] + size_sorted / 2  # ... within its stratum
    del before, new_stratum
    middle /= np.bincount(stratum_index, weights=size_sorted)[stratum_index]
    del stratum_index, size_sorted
    group_split = np.empty(len(dealt), dtype=np.int8)
    group_split[dealt] = np.searchsorted(np.cumsum(shares)[:-1], middle, side="right")
    del middle, dealt
    splits = np.empty(n, dtype=np.int8)
    splits[order] = group_split[run_of_record]
    return splits


def assign_splits(
    *,
    ids: np.ndarray,
    strata: np.ndarray,
    content_keys: np.ndarray,
    text_keys: np.ndarray,
    document_ids: np.ndarray,
    near_pairs: tuple[np.ndarray, np.ndarray] | None = None,
    ratios: tuple[int, ...],
    seed: int,
) -> SplitPlan:
    """Plan the split of the records `ids` (sorted, unique).

    Per record: `strata` (its label set as a number), `content_keys` (a hash of its text, unique
    per record: the order of groups follows it), `text_keys` (a hash of its loosely normalized
    text: equal keys are duplicates), `document_ids` (NO_DOCUMENT for none). `near_pairs` are
    (record id, record id) arrays of near-duplicates. `ratios` has one weight per split."""
    if len(ratios) != len(SPLIT_NAMES) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"ratios must be {len(SPLIT_NAMES)} non-negative numbers with a positive sum")
    shares = tuple(r / float(sum(ratios)) for r in ratios)
    if not len(ids):
        return SplitPlan(ids=np.zeros(0, np.int64), splits=np.zeros(0, np.int8), ratios=shares)
    ids = np.asarray(ids, dtype=np.int64)
    exact_a, exact_b, exact_groups = _equal_neighbours(np.asarray(text_keys, dtype=np.int64))
    doc_a, doc_b, document_groups = _equal_neighbours(np.asarray(document_ids, dtype=np.int64), ignore=NO_DOCUMENT)
    del text_keys, document_ids  # a caller that handed them over frees them here
    near_a, near_b = _near_positions(ids, near_pairs)
    group_of = _components(len(ids), np.concatenate([exact_a, doc_a, near_a]), np.concatenate([exact_b, doc_b, near_b]))
    near_groups = len(np.unique(group_of[near_a]))
    splits = _deal(
        group_of=group_of,
        strata=np.asarray(strata),
        content_keys=np.asarray(content_keys, dtype=np.int64),
        shares=shares,
        seed=seed,
    )
    return SplitPlan(
        ids=ids,
        splits=splits,
        ratios=shares,
        exact_groups=exact_groups,
        document_groups=document_groups,
        near_groups=near_groups,
        near_pairs=len(near_a),
    )


# --- Near-duplicates with pgvector --------------------------------------------------------------


@dataclass
class NearDuplicates:
    pairs: tuple[np.ndarray, np.ndarray]
    model: str | None  # the embedding model compared; None when the records have no embeddings
    records_checked: int
    seconds: float


def dominant_model(*, dataset_id: int) -> str | None:
    """The embedding model most of the dataset's records have a current vector from."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT embedding_model FROM corpus_record
             WHERE dataset_id = %s AND embedding_model <> '' AND embedding IS NOT NULL
             GROUP BY embedding_model ORDER BY count(*) DESC, embedding_model LIMIT 1
            """,
            [dataset_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _nearest(*, dataset_id: int, model: str, batch: list[int], neighbours: int, max_distance: float) -> list[tuple]:
    """(record, neighbour) pairs of one batch: each record's `neighbours` nearest records of the
    dataset by the HNSW index, those within `max_distance`."""
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL (set_config(..., true)): the settings end with this transaction. The iterative
        # scan keeps walking the graph until `neighbours` rows of this dataset and model survive
        # the filter.
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %s, true)",
            [str(max(NEAR_EF_SEARCH, neighbours))],
        )
        cursor.execute(
            """
            SELECT r.id, n.id
              FROM corpus_record r
             CROSS JOIN LATERAL (
                   SELECT o.id, o.embedding <=> r.embedding AS distance
                     FROM corpus_record o
                    WHERE o.dataset_id = %(dataset)s AND o.embedding_model = %(model)s AND o.id <> r.id
                    ORDER BY o.embedding <=> r.embedding
                    LIMIT %(k)s
                   ) AS n
             WHERE r.id = ANY(%(ids)s) AND r.embedding IS NOT NULL AND r.embedding_model = %(model)s
               AND n.distance <= %(max_distance)s
            """,
            {"dataset": dataset_id, "model": model, "k": neighbours, "ids": batch, "max_distance": max_distance},
        )
        return cursor.fetchall()


def _in_threads(batches: list[list[int]], search: Callable[[list[int]], list[tuple]]) -> Iterator[tuple[int, list]]:
    """(batch size, pairs) per batch, searched by NEAR_WORKERS threads on connections of their
    own: each HNSW search is PostgreSQL's work, so the searches run in parallel on its cores.
    Closing the generator (a cancelled job) stops the threads after their current batch."""
    results: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work(mine: list[list[int]]) -> None:
        try:
            for batch in mine:
                if stop.is_set():
                    break
                results.put(("batch", len(batch), search(batch)))
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread, raised there)
            results.put(("error", 0, error))
        finally:
            connection.close()  # this thread's own connection
            results.put(("done", 0, None))

    workers = [
        threading.Thread(target=work, args=(batches[i::NEAR_WORKERS],), daemon=True) for i in range(NEAR_WORKERS)
    ]
    for worker in workers:
        worker.start()
    try:
        running = len(workers)
        while running:
            kind, size, payload = results.get()
            if kind == "done":
                running -= 1
            elif kind == "error":
                raise payload
            else:
                yield size, payload
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def find_near_duplicates(
    *,
    dataset_id: int,
    record_ids: np.ndarray,
    threshold: float,
    neighbours: int = NEAR_NEIGHBOURS,
    heartbeat: Callable[[int], None] | None = None,
) -> NearDuplicates:
    """Pairs of records among `record_ids` whose current embeddings (of the dataset's dominant
    model) have a cosine similarity of at least `threshold`: each record's `neighbours` nearest
    records by the HNSW index, a few hundred records per query. `heartbeat(checked)` is called
    after each query (a job's progress report: it also lets the job be cancelled).

    Outside a transaction the queries run in NEAR_WORKERS threads; inside one (tests, an atomic
    block) other connections could not see its data, so they run here, one after the other."""
    started = time.perf_counter()
    model = dominant_model(dataset_id=dataset_id)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if model is None or not len(record_ids):
        return NearDuplicates(empty, model, 0, time.perf_counter() - started)

    def search(batch: list[int]) -> list[tuple]:
        return _nearest(
            dataset_id=dataset_id, model=model, batch=batch, neighbours=neighbours, max_distance=1.0 - threshold
        )

    batches = [record_ids[start : start + NEAR_BATCH].tolist() for start in range(0, len(record_ids), NEAR_BATCH)]
    if connection.in_atomic_block or NEAR_WORKERS < 2 or len(batches) < 2:
        searched = ((len(batch), search(batch)) for batch in batches)
    else:
        searched = _in_threads(batches, search)
    found: list[tuple] = []
    checked = 0
    try:
        for size, pairs in searched:
            found.extend(pairs)
            checked += size
            if heartbeat is not None:
                heartbeat(checked)  # may raise (a cancelled job): the threads stop below
    finally:
        searched.close()
    if not found:
        return NearDuplicates(empty, model, checked, time.perf_counter() - started)
    pairs = np.array(found, dtype=np.int64)
    return NearDuplicates((pairs[:, 0], pairs[:, 1]), model, checked, time.perf_counter() - started)
