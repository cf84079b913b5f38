"""Big uploads import in the background: a Job of kind "import" names the stored upload (by its
token) and the mapping; the worker runs the same import_records as the upload page, and the job's
one progress bar follows both of its phases: reading the file, then writing its rows."""

import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection

from corpus.models import Dataset
from corpus.services.documents import import_documents
from corpus.services.embed import embed_after_import
from corpus.services.ingest import READING, WRITING, ImportResult, import_records, label_writer_for
from corpus.services.uploads import StoredUpload, discard_upload, find_upload
from jobs import register
from jobs.models import Job
from jobs.services import start_job

REPORT_EVERY_SECONDS = 1.0
# The part of the bar that reading the file fills; writing its rows fills the rest. Measured on
# bench/import.py's 100,000-row files: reading (parse, validate, hash, COPY) takes 26-31 % of a
# CSV import and ~29 % of a JSON Lines one; writing (id checks, then INSERT with index upkeep)
# the rest.
READING_SHARE = 0.3


class ImportFailed(Exception):
    """The file had errors: nothing was written. The report is in the job's result."""


def start_import(*, dataset: Dataset, upload: StoredUpload, options: dict, user) -> Job:
    """Queue the import of a stored upload; `options` are import_records' mapping options plus
    label options (schema_id, add_missing_labels)."""
    params = {"dataset_id": dataset.pk, "upload": upload.token, "user_id": user.pk, "options": options}
    return start_job(kind="import", params=params, user=user)


class _ProgressReporter:
    """Job progress written from a helper thread, on that thread's own database connection: the
    import's transaction would hide its own progress updates until the very end.

    One bar over the file's size for both phases: reading fills the first READING_SHARE of it
    (by bytes read), writing the rest (by rows written). The shares follow the time each phase
    takes, so the job's rate and time left stay meaningful across the switch."""

    def __init__(self, job: Job, size: int) -> None:
        self._job, self._size = job, size
        self._read_part = int(size * READING_SHARE)
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None
        self._last = 0.0
        self._writing = False

    def __call__(self, *, phase: str, done: int, total: int | None) -> None:
        self._collect(wait=False)
        position = self._position(phase, done, total)
        if phase == WRITING and not self._writing:
            self._writing = True
            self._send(position, log=f"file read; writing its {total:,} rows into the dataset")
        elif phase == WRITING and done >= (total or 0):
            # The last word before the import commits, waited for: a cancel that came during the
            # writing still rolls everything back, rather than arriving after the commit.
            self._send(position)
            self._collect(wait=True)
        elif self._pending is None and time.monotonic() - self._last >= REPORT_EVERY_SECONDS:
            self._send(position)

    def _position(self, phase: str, done: int, total: int | None) -> int:
        """Where the import stands on the bar (0 to the file's size)."""
        if phase == READING:
            return min(done, self._size) * self._read_part // self._size if self._size else 0
        if not total:
            return self._size
        return self._read_part + (self._size - self._read_part) * min(done, total) // total

    def _send(self, position: int, *, log: str = "") -> None:
        self._collect(wait=True)  # one report at a time, in order
        self._last = time.monotonic()
        self._pending = self._executor.submit(self._report, position, log)

    def _report(self, position: int, log: str) -> None:
        """Runs on the helper thread, on its own connection; the log line first, so the page shows
        the phase as the bar enters it."""
        if log:
            self._job.add_log(log)
        self._job.report(done=position, total=self._size)

    def _collect(self, *, wait: bool) -> None:
        """Take the answer to the last report once it came (or wait for it): a JobCancelled or
        JobSuperseded is raised here, in the import, whose transaction then rolls back."""
        if self._pending is not None and (wait or self._pending.done()):
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self._collect(wait=True)
        finally:
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
