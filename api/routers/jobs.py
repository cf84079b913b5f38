"""Background jobs: start embedding and classification (and exports, in api/routers/exports.py),
follow a job's progress, cancel it. The same permissions as the admin's actions."""

from collections.abc import Callable

from ninja import Router, Status
from ninja.errors import HttpError

from api.auth import TokenAuth
from api.schemas import ClassifyJob, EmbedJob, Id, JobOut, Message
from api.scoping import find_visible
from corpus.models import Dataset
from corpus.services.embed import allowed_models, start_embedding
from jobs.models import Job
from jobs.services import cancel_job
from labeling.models import ClassifierVersion, LabelSchema
from labeling.services.classify import start_classification

router = Router(tags=["jobs"])

# Each kind of job that makes a file says where the API serves it (exports add theirs).
DOWNLOADS: dict[str, Callable[[Job], str]] = {}


def job_out(job: Job) -> dict:
    download = DOWNLOADS.get(job.kind)
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "params": job.params,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "download_url": download(job) if download and job.status == Job.Status.SUCCEEDED else None,
    }


@router.post(
    "/embed",
    response={202: JobOut, 400: Message, 403: Message, 404: Message},
    auth=TokenAuth("corpus.embed_dataset"),
    summary="Embed a dataset",
)
def start_embed(request, body: EmbedJob):
    """Queue embedding of the dataset's records that have no vector of the model for their
    current text (incremental: nearly free when all have one)."""
    dataset = find_visible(Dataset.objects.visible_to(request.auth), body.dataset_id, "Dataset")
    if body.model is not None and body.model not in allowed_models():
        raise HttpError(400, f"“{body.model}” is not an allowed model; choose one of: {', '.join(allowed_models())}.")
    return Status(202, job_out(start_embedding(dataset=dataset, user=request.auth, model=body.model)))


@router.post(
    "/classify",
    response={202: JobOut, 403: Message, 404: Message},
    auth=TokenAuth("labeling.run_classifier"),
    summary="Classify a label set's records",
)
def start_classify(request, body: ClassifyJob):
    """Queue predictions for every embedded record of the label set's dataset, by the given
    classifier version or the newest one (zero-shot from the label names when there is none)."""
    schema = find_visible(LabelSchema.objects.visible_to(request.auth), body.label_set_id, "Label set")
    classifier = None
    if body.classifier_id is not None:
        classifier = find_visible(ClassifierVersion.objects.filter(schema=schema), body.classifier_id, "Classifier")
    return Status(202, job_out(start_classification(schema=schema, user=request.auth, classifier=classifier)))


@router.get(
    "/{job_id}",
    response={200: JobOut, 404: Message},
    auth=TokenAuth("jobs.view_job"),
    summary="A job's status and progress",
)
def get_job(request, job_id: Id):
    """Your own jobs; everyone's for roles that see all jobs (ML engineers, administrators)."""
    return job_out(find_visible(Job.objects.visible_to(request.auth), job_id, "Job"))


@router.post(
    "/{job_id}/cancel",
    response={200: JobOut, 403: Message, 404: Message, 409: Message},
    auth=TokenAuth("jobs.view_job", "jobs.change_job"),
    summary="Cancel a job",
)
def cancel(request, job_id: Id):
    """A queued job stops at once, a running one after its current batch. 409 when it had ended."""
    job = find_visible(Job.objects.visible_to(request.auth), job_id, "Job")
    if not cancel_job(job=job, user=request.auth):
        raise HttpError(409, f"Job {job.pk} has already ended ({job.get_status_display().lower()}).")
    return job_out(job)
