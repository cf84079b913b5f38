"""Search by meaning: the records of a dataset nearest to a text, as the records list's search."""

from ninja import Router
from ninja.errors import HttpError

from api.auth import TokenAuth
from api.routers.records import records_out
from api.schemas import Message, SearchHit, SearchQuery
from api.scoping import find_visible
from corpus.inference import configured_embedder
from corpus.models import Dataset, Record
from corpus.services.search import search_similar
from inference_client import InferenceError

router = Router(tags=["search"])


@router.post(
    "",
    response={200: list[SearchHit], 403: Message, 404: Message, 503: Message},
    auth=TokenAuth("corpus.view_record"),
    summary="Records nearest in meaning to a text",
)
def search(request, body: SearchQuery):
    """The `k` records of the dataset most similar in meaning to `query`, most similar first.
    Only records with a vector of the configured model take part (embed the dataset first)."""
    dataset = find_visible(Dataset.objects.visible_to(request.auth), body.dataset_id, "Dataset")
    try:
        hits = search_similar(dataset_ids=[dataset.pk], embedder=configured_embedder(), query=body.query, limit=body.k)
    except InferenceError as error:
        raise HttpError(503, f"Search by meaning is unavailable: {error}") from None
    records = {
        record["id"]: record for record in records_out(Record.objects.filter(pk__in=[hit.record.pk for hit in hits]))
    }
    return [
        {"similarity": hit.similarity, "record": records[hit.record.pk]} for hit in hits if hit.record.pk in records
    ]
