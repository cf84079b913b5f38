"""The records list: search by meaning and "more like this", within the user's datasets."""

import pytest
from django.urls import reverse

from corpus.inference import configured_embedder
from corpus.services.embed import embed_dataset
from tests.factories import RecordFactory

URL = reverse("admin:corpus_record_changelist")


def embed(*datasets) -> None:
    for dataset in datasets:
        embed_dataset(dataset_id=dataset.pk, embedder=configured_embedder())


@pytest.fixture
def records(reviewer):
    texts = {
        "late": "the parcel arrived late and broken",
        "later": "late parcel, broken box",
        "fabric": "soft fabric in a lovely colour",
    }
    made = {key: RecordFactory(dataset=reviewer.dataset, text=text) for key, text in texts.items()}
    embed(reviewer.dataset)
    return made


def listed_ids(response) -> list[int]:
    return [record.pk for record in response.context["cl"].result_list]


def test_search_by_meaning_lists_the_nearest_records_first(reviewer, records):
    response = reviewer.client.get(URL, {"meaning": "broken late parcel"})

    assert response.status_code == 200
    assert listed_ids(response)[:2] in (
        [records["late"].pk, records["later"].pk],
        [records["later"].pk, records["late"].pk],
    )
    assert listed_ids(response)[2] == records["fabric"].pk


def test_search_by_meaning_never_shows_records_of_other_datasets(reviewer, records):
    foreign = RecordFactory(dataset=reviewer.other_dataset, text="broken late parcel elsewhere")
    embed(reviewer.other_dataset)

    response = reviewer.client.get(URL, {"meaning": "broken late parcel"})

    assert foreign.pk not in listed_ids(response)
    assert b"elsewhere" not in response.content


def test_search_by_meaning_keeps_the_text_search(reviewer, records):
    response = reviewer.client.get(URL, {"meaning": "broken late parcel", "q": "box"})

    assert listed_ids(response) == [records["later"].pk]


def test_the_meaning_query_is_shown_escaped(reviewer, records):
    response = reviewer.client.get(URL, {"meaning": "<script>alert(1)</script>"})

    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_more_like_this_lists_the_neighbours_of_a_record(reviewer, records):
    response = reviewer.client.get(URL, {"like": records["late"].pk})

    assert response.status_code == 200
    assert listed_ids(response)[0] == records["later"].pk
    assert records["late"].pk not in listed_ids(response)


def test_more_like_this_of_a_foreign_record_is_not_found(reviewer, records):
    foreign = RecordFactory(dataset=reviewer.other_dataset)

    response = reviewer.client.get(URL, {"like": foreign.pk})

    assert response.status_code == 404


def test_the_record_page_links_to_more_like_this(reviewer, records):
    response = reviewer.client.get(reverse("admin:corpus_record_change", args=[records["late"].pk]))

    assert f"?like={records['late'].pk}".encode() in response.content
