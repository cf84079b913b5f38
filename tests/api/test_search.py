"""Search by meaning through the API: the nearest records of one dataset, most similar first."""

from corpus.inference import configured_embedder
from corpus.models import Record
from corpus.services.embed import embed_records
from tests.api.conftest import make_caller
from tests.factories import RecordFactory


def test_search_returns_the_nearest_records_of_the_dataset_first(db):
    caller = make_caller("reviewer")
    dataset = caller.persona.dataset
    texts = ["The parcel arrived late.", "Lovely soft fabric.", "Terrible customer service."]
    for text in texts:
        RecordFactory(dataset=dataset, text=text)
    RecordFactory(dataset=caller.persona.other_dataset, text="The parcel arrived late!")
    embed_records(records=Record.objects.all(), embedder=configured_embedder())

    response = caller.post("/search", {"dataset_id": dataset.pk, "query": "The parcel arrived late.", "k": 2})

    assert response.status_code == 200
    hits = response.json()
    assert hits[0]["record"]["text"] == "The parcel arrived late."
    assert len(hits) == 2
    assert all(hit["record"]["dataset_id"] == dataset.pk for hit in hits)
    assert hits[0]["similarity"] >= hits[1]["similarity"]


def test_more_than_100_results_is_a_422(db):
    caller = make_caller("reviewer")

    response = caller.post("/search", {"dataset_id": caller.persona.dataset.pk, "query": "late", "k": 101})

    assert response.status_code == 422
