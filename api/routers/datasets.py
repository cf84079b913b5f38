from django.db.models import Prefetch
from ninja import Router

from api.auth import TokenAuth
from api.schemas import DatasetDetail, DatasetOut, Id, Message
from api.scoping import find_visible
from corpus.models import Dataset
from labeling.models import Label, LabelSchema

router = Router(tags=["datasets"])


def _with_label_sets(queryset, user):
    label_sets = LabelSchema.objects.order_by("name").prefetch_related(
        Prefetch("labels", queryset=Label.objects.order_by("order", "name"))
    )
    if not user.has_perm("labeling.view_labelschema"):
        label_sets = label_sets.none()
    return queryset.prefetch_related(Prefetch("label_schemas", queryset=label_sets))


def _dataset(dataset: Dataset) -> dict:
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "description": dataset.description,
        "instructions": dataset.instructions,
        "overlap": dataset.overlap,
        "lease_minutes": dataset.lease_minutes,
        "queue_order": dataset.queue_order,
        "show_suggestions": dataset.show_suggestions,
        "created_at": dataset.created_at,
        "label_sets": [
            {
                "id": schema.pk,
                "name": schema.name,
                "kind": schema.kind,
                "labels": [
                    {
                        "id": label.pk,
                        "name": label.name,
                        "description": label.description,
                        "hotkey": label.hotkey,
                        "color": label.color,
                    }
                    for label in schema.labels.all()
                ],
            }
            for schema in dataset.label_schemas.all()
        ],
    }


@router.get("", response=list[DatasetOut], auth=TokenAuth("corpus.view_dataset"), summary="Your datasets")
def list_datasets(request):
    """The datasets you are a member of (all of them for administrators), with their label sets."""
    datasets = _with_label_sets(Dataset.objects.visible_to(request.auth).order_by("name"), request.auth)
    return [_dataset(dataset) for dataset in datasets]


@router.get(
    "/{dataset_id}",
    response={200: DatasetDetail, 404: Message},
    auth=TokenAuth("corpus.view_dataset"),
    summary="One dataset",
)
def get_dataset(request, dataset_id: Id):
    datasets = _with_label_sets(Dataset.objects.visible_to(request.auth), request.auth)
    dataset = find_visible(datasets, dataset_id, "Dataset")
    return {**_dataset(dataset), "record_count": dataset.records.count()}
