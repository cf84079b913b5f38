"""Exports: start one as a background job (its file lands under DATA_DIR/exports/<job id>/), and
download the file when the job is done — only its creator (or an administrator), only while they
may still see the dataset, the file found from the job alone, never from a path in the request."""

from django.http import FileResponse
from django.utils.cache import patch_cache_control
from ninja import Router, Status
from ninja.errors import HttpError

from api.auth import TokenAuth
from api.routers.jobs import DOWNLOADS, job_out
from api.schemas import ExportJob, Id, JobOut, Message
from api.scoping import find_visible
from corpus.models import Dataset
from jobs.models import Job
from labeling.services.export import ExportError, ExportOptions, export_file, start_export

PERMISSION = "labeling.export_dataset"
router = Router(tags=["exports"])  # mounted under /jobs
download_router = Router(tags=["exports"])  # mounted under /exports
DOWNLOADS["export"] = lambda job: f"/api/v1/exports/{job.pk}/download"


@router.post(
    "/export",
    response={202: JobOut, 400: Message, 403: Message, 404: Message},
    auth=TokenAuth(PERMISSION),
    summary="Export a dataset",
)
def start(request, body: ExportJob):
    """Queue an export of the dataset in the chosen format, with the same options as the admin's
    Export page. Follow the job; when it has succeeded, `download_url` serves the file."""
    dataset = find_visible(Dataset.objects.visible_to(request.auth), body.dataset_id, "Dataset")
    options = ExportOptions(
        fmt=body.format.value,
        schema_id=body.label_set_id,
        annotations=body.annotations,
        predictions=body.predictions,
        meta=body.meta,
        provenance=body.provenance,
        statuses=[status.value for status in body.statuses],
        min_agreement=body.min_agreement,
        label_ids=body.label_ids,
        date_from=body.date_from,
        date_to=body.date_to,
        annotator_ids=body.annotator_ids,
        split=tuple(body.split) if body.split else None,
        seed=body.seed,
        near_duplicate_threshold=body.near_duplicate_threshold,
        escape_formulas=body.escape_formulas,
    )
    try:
        job = start_export(dataset=dataset, options=options, user=request.auth)
    except ExportError as error:
        field = {"fmt": "format", "schema_id": "label_set_id"}.get(error.field, error.field)
        raise HttpError(400, f"{field}: {error.message}" if field else error.message) from None
    return Status(202, job_out(job))


@download_router.get(
    "/{job_id}/download",
    response={200: bytes, 403: Message, 404: Message},
    auth=TokenAuth(PERMISSION),
    summary="Download a finished export",
    openapi_extra={
        "responses": {200: {"description": "The export's file.", "content": {"application/octet-stream": {}}}}
    },
)
def download(request, job_id: Id):
    user = request.auth
    job = Job.objects.filter(pk=job_id, kind="export").first()
    # Someone else's export, one of a dataset no longer theirs, and none at all read the same.
    if job is None or not (user.is_superuser or job.created_by_id == user.pk):
        raise HttpError(404, f"Export {job_id} not found.")
    find_visible(Dataset.objects.visible_to(user), (job.params or {}).get("dataset_id") or 0, "Export")
    path = export_file(job)
    if path is None:
        raise HttpError(404, f"Export {job_id} has no file (not finished, failed, or removed).")
    response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
    patch_cache_control(response, private=True, no_store=True)
    return response
