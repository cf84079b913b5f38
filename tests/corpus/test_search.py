"""Search by meaning through pgvector: nearest first, within the datasets and filters asked for."""

import pytest
from django.db import connection
from django.db.models import Q

from corpus.inference import configured_embedder
from corpus.models import Record
from corpus.services.embed import embed_dataset
from corpus.services.search import search_similar
from inference_client import get_embedder
from tests.factories import DatasetFactory, RecordFactory

TEXTS = [
    "the parcel arrived broken and late",
    "delivery was late again, parcel broken",
    "lovely colour and soft fabric",
    "the fabric feels soft, lovely",
    "refund took three weeks",
]


@pytest.fixture
def embedder():
    return configured_embedder()


@pytest.fixture
def dataset(db, embedder):
    dataset = DatasetFactory()
    for text in TEXTS:
        RecordFactory(dataset=dataset, text=text)
    embed_dataset(dataset_id=dataset.pk, embedder=embedder)
    return dataset


def texts(results) -> list[str]:
    return [hit.record.text for hit in results]


def test_records_sharing_the_query_words_come_first(dataset, embedder):
    results = search_similar(dataset_ids=[dataset.pk], query="late broken parcel", embedder=embedder, limit=2)

    assert set(texts(results)) == {TEXTS[0], TEXTS[1]}


def test_results_are_ordered_by_growing_distance(dataset, embedder):
    results = search_similar(dataset_ids=[dataset.pk], query="soft fabric", embedder=embedder, limit=5)

    distances = [hit.distance for hit in results]
    assert distances == sorted(distances)
    assert texts(results)[:2] in ([TEXTS[2], TEXTS[3]], [TEXTS[3], TEXTS[2]])


def test_more_like_this_finds_the_neighbour_and_leaves_the_record_itself_out(dataset, embedder):
    record = Record.objects.get(text=TEXTS[2])

    results = search_similar(dataset_ids=[dataset.pk], record=record, embedder=embedder, limit=3)

    assert record.pk not in [hit.record.pk for hit in results]
    assert texts(results)[0] == TEXTS[3]


def test_records_of_other_datasets_are_never_returned(dataset, embedder):
    other = DatasetFactory()
    RecordFactory(dataset=other, text="late broken parcel")
    embed_dataset(dataset_id=other.pk, embedder=embedder)

    results = search_similar(dataset_ids=[dataset.pk], query="late broken parcel", embedder=embedder, limit=10)

    assert {hit.record.dataset_id for hit in results} == {dataset.pk}


def test_records_without_a_vector_of_this_model_are_left_out(dataset, embedder):
    unembedded = RecordFactory(dataset=dataset, text="late broken parcel exactly")

    results = search_similar(dataset_ids=[dataset.pk], query="late broken parcel", embedder=embedder, limit=10)

    assert unembedded.pk not in [hit.record.pk for hit in results]
    assert len(results) == len(TEXTS)


def test_vectors_of_another_model_are_not_compared(dataset, embedder):
    results = search_similar(
        dataset_ids=[dataset.pk], query="late broken parcel", embedder=configured_embedder("other"), limit=10
    )

    assert results == []


def test_a_selective_filter_still_returns_the_full_limit(db, embedder):
    # Given 400 near-identical records, of which only 12 pass the filter, far from the query.
    dataset = DatasetFactory()
    Record.objects.bulk_create(
        RecordFactory.build(dataset=dataset, text=f"late broken parcel number {n}", external_id=f"common-{n}")
        for n in range(400)
    )
    Record.objects.bulk_create(
        RecordFactory.build(dataset=dataset, text=f"soft fabric colour {n}", external_id=f"rare-{n}") for n in range(12)
    )
    embed_dataset(dataset_id=dataset.pk, embedder=embedder)
    with connection.cursor() as cursor:
        # A table this small would be sorted exactly; make the planner walk the HNSW index.
        for plan in ("seqscan", "bitmapscan", "sort"):
            cursor.execute(f"SET LOCAL enable_{plan} = off")

    # When searching with ef_search far below the number of better matches that fail the filter
    results = search_similar(
        dataset_ids=[dataset.pk],
        query="late broken parcel",
        embedder=embedder,
        limit=10,
        filters=Q(external_id__startswith="rare-"),
        ef_search=10,
    )

    # Then the iterative scan walked on until ten rows passed the filter.
    assert len(results) == 10
    assert all(hit.record.external_id.startswith("rare-") for hit in results)


def test_a_queryset_filter_narrows_the_candidates(dataset, embedder):
    allowed = Record.objects.filter(text__in=[TEXTS[1], TEXTS[4]])

    results = search_similar(
        dataset_ids=[dataset.pk], query="late broken parcel", embedder=embedder, limit=10, filters=allowed
    )

    assert texts(results) == [TEXTS[1], TEXTS[4]]


def test_a_blank_query_finds_nothing(dataset, embedder):
    assert search_similar(dataset_ids=[dataset.pk], query="   ", embedder=embedder) == []


def test_asking_for_both_a_query_and_a_record_is_refused(dataset, embedder):
    with pytest.raises(ValueError, match="exactly one"):
        search_similar(dataset_ids=[dataset.pk], query="x", record=Record.objects.first(), embedder=embedder)


@pytest.mark.slow
def test_the_real_model_finds_a_paraphrase_without_shared_words(db):
    # Given records embedded with the real model
    embedder = get_embedder("local", model="all-MiniLM-L6-v2", threads=1)
    dataset = DatasetFactory()
    for text in ["My package never showed up.", "The sweater is a beautiful shade of blue.", "I want my money back."]:
        RecordFactory(dataset=dataset, text=text)
    embed_dataset(dataset_id=dataset.pk, embedder=embedder)

    # When searching with words none of the records use
    results = search_similar(dataset_ids=[dataset.pk], query="the delivery got lost", embedder=embedder, limit=1)

    # Then the paraphrase is found by meaning
    assert texts(results) == ["My package never showed up."]
