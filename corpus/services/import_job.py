"""Big uploads import in the background: a Job of kind "import" names the stored upload (by its
token) and the mapping; the worker runs the same import_records as the upload page."""

import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection

from corpus.models import Dataset
from corpus.services.documents import import_documents
from corpus.services.embed import embed_after_import
from corpus.services.ingest import ImportResult, import_records, label_writer_for
from corpus.services.uploads import StoredUpload, discard_upload, find_upload
from jobs import register
from jobs.models import Job
from jobs.services import start_job

REPORT_EVERY_SECONDS = 1.0


class ImportFailed(Exception):
    """The file had errors: nothing was written. The report is in the job's result."""


def start_import(*, dataset: Dataset, upload: StoredUpload, options: dict, user) -> Job:
    """Queue the import of a stored upload; `options` are import_records' mapping options plus
    label options (schema_id, add_missing_labels)."""
    params = {"dataset_id": dataset.pk, "upload": upload.token, "user_id": user.pk, "options": options}
    return start_job(kind="import", params=params, user=user)


class _ProgressReporter:
    """Job progress written from a helper thread, on that thread's own database connection: the
    import's transaction would hide its own progress updates until the very end."""

    def __init__(self, job: Job, total: int) -> None:
        self._job, self._total = job, total
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None
        self._last = 0.0

    def __call__(self, done: int) -> None:
        if self._pending is not None and self._pending.done():
            self._pending.result()  # raises JobCancelled here, in the import: it rolls back
            self._pending = None
        now = time.monotonic()
        if self._pending is None and now - self._last >= REPORT_EVERY_SECONDS:
            self._last = now
            self._pending = self._executor.submit(self._job.report, done=min(done, self._total), total=self._total)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.result()
        self._executor.submit(_close_this_threads_connection).result()
        self._executor.shutdown()


def _close_this_threads_connection() -> None:
    connection.close()  # looked up in the helper thread: its own connection, not the import's


def run_import_upload(*, job: Job) -> ImportResult:
    params = job.params
    options = dict(params.get("options") or {})
    upload = find_upload(token=params["upload"], user_id=params["user_id"], dataset_id=params["dataset_id"])
    if upload is None:
        raise ImportFailed("the uploaded file is gone (already imported, or removed)")
    dataset = Dataset.objects.get(pk=params["dataset_id"])
    if options.pop("documents", False):
        with upload.path.open("rb") as source:
            result = import_documents(
                dataset=dataset, source=source, filename=upload.filename, user=job.created_by, **options
            )
        return _finish(job, upload, result, dataset)
    writer = label_writer_for(
        schema_id=options.pop("schema_id", None), add_missing_labels=options.pop("add_missing_labels", True)
    )
    if "label_names" in options:
        options["label_names"] = tuple(options["label_names"])
    reporter = _ProgressReporter(job, upload.size)
    try:
        with upload.path.open("rb") as source:
            result = import_records(
                dataset=dataset,
                source=source,
                filename=upload.filename,
                user=job.created_by,
                label_writer=writer,
                progress=reporter,
                **options,
            )
    finally:
        reporter.close()
    job.report(done=upload.size, total=upload.size)
    return _finish(job, upload, result, dataset)


def _finish(job: Job, upload: StoredUpload, result: ImportResult, dataset: Dataset) -> ImportResult:
    Job.objects.filter(pk=job.pk).update(result=result.as_dict())
    discard_upload(upload)
    if not result.ok:
        listed = "\n".join(str(error) for error in result.errors)
        raise ImportFailed(f"{result.error_count:,} errors; nothing was imported.\n{listed}")
    embedding = embed_after_import(dataset=dataset, inserted=result.inserted, user=job.created_by)
    if embedding is not None:
        job.add_log(f"embedding the new records as job #{embedding.pk}")
    return result


@register("import")
def run_import(job: Job) -> None:
    run_import_upload(job=job)
