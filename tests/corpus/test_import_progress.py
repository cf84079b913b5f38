"""An import tells its progress while it reads the file and while it writes the rows into the
dataset (batch by batch, in file order), and a cancel during the writing leaves nothing behind."""

import io
import itertools
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from corpus.models import Record
from corpus.services import import_job, ingest
from corpus.services.import_job import start_import
from corpus.services.ingest import READING, WRITING, import_records
from corpus.services.uploads import find_upload, store_upload
from jobs.models import Job, JobCancelled
from jobs.services import cancel_job
from labeling.models import Annotation
from labeling.services.import_labeled import import_labeled
from tests.conftest import make_persona
from tests.factories import DatasetFactory, RecordFactory

# Eleven rows in batches of three: row 5 repeats row 2 (second batch against the first), row 9
# repeats row 1 up to spacing (third batch against the first), row 7 is already in the dataset.
TEXTS = ["alpha", "bravo", "charlie", "delta", "bravo", "echo", "Already here", "foxtrot", "alpha  ", "golf", "hotel"]
NEW_TEXTS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def csv_of(texts: list[str]) -> bytes:
    return ("id,text\n" + "".join(f"r{number},{text}\n" for number, text in enumerate(texts, 1))).encode()


class Recorder:
    """A progress callback that keeps what it was told (and can stop the import like a job)."""

    def __init__(self, *, cancel_at: tuple[str, int] | None = None, dataset=None) -> None:
        self.calls: list[tuple[str, int, int | None]] = []
        self.cancel_at = cancel_at
        self.dataset = dataset
        self.records_seen_at_cancel: int | None = None

    def __call__(self, *, phase: str, done: int, total: int | None) -> None:
        self.calls.append((phase, done, total))
        if (phase, done) == self.cancel_at:
            # Inside the import's transaction: what it has written so far is visible here.
            self.records_seen_at_cancel = Record.objects.filter(dataset=self.dataset).count()
            raise JobCancelled("asked to stop")

    def of(self, phase: str) -> list[tuple[int, int | None]]:
        return [(done, total) for called, done, total in self.calls if called == phase]


def dataset_with_one_record():
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset, text="Already here", external_id="old")
    return dataset


def stored(dataset) -> list[tuple[str, str]]:
    return list(Record.objects.filter(dataset=dataset).order_by("id").values_list("external_id", "text"))


def id_steps(dataset) -> list[int]:
    """The gaps between consecutive new record ids: 1 where the next id was the next number."""
    ids = Record.objects.filter(dataset=dataset).exclude(external_id="old").order_by("id").values_list("id", flat=True)
    return [later - earlier for earlier, later in itertools.pairwise(ids)]


def test_progress_follows_the_reading_then_every_batch_of_the_writing(db, monkeypatch):
    # Given eleven rows written three at a time
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    data = csv_of(TEXTS)
    progress = Recorder()

    # When the file is imported
    result = import_records(
        dataset=dataset_with_one_record(), source=io.BytesIO(data), filename="t.csv", progress=progress
    )

    # Then the reading counted the file's bytes, then the writing its rows batch by batch, to the end
    assert result.ok, result.errors
    assert progress.of(READING)[-1] == (len(data), len(data))
    assert progress.calls.index((WRITING, 0, 11)) > max(i for i, c in enumerate(progress.calls) if c[0] == READING)
    assert progress.of(WRITING) == [(0, 11), (3, 11), (6, 11), (9, 11), (11, 11)]
    assert progress.calls[-1] == (WRITING, 11, 11)


def test_batches_write_exactly_what_one_insert_of_the_whole_file_writes(db, monkeypatch):
    # Given the same file and the same dataset twice, once written in batches of three and once in one
    data = csv_of(TEXTS)
    results = {}
    datasets = {}
    for batch_rows in (3, 1_000):
        monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", batch_rows)
        datasets[batch_rows] = dataset_with_one_record()
        results[batch_rows] = import_records(dataset=datasets[batch_rows], source=io.BytesIO(data), filename="t.csv")

    # Then both keep the first of equal texts, in file order, and count the same duplicates
    for batch_rows in (3, 1_000):
        result = results[batch_rows]
        assert result.ok, result.errors
        assert (result.read, result.inserted, result.duplicates) == (11, 8, 3)
        assert stored(datasets[batch_rows]) == [("old", "Already here")] + [
            (f"r{TEXTS.index(text) + 1}", text) for text in NEW_TEXTS
        ]
    # and spend record ids alike: none on repeats within the file (one on row 7, as one INSERT
    # of the whole file also does for a row the dataset already has)
    assert id_steps(datasets[3]) == id_steps(datasets[1_000]) == [1, 1, 1, 1, 2, 1, 1]


def test_labels_of_a_file_written_in_batches_come_from_the_first_of_equal_texts(db, monkeypatch):
    # Given a labeled file whose repeats, in later batches, carry other labels
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 2)
    rows = [
        {"text": "refund late", "label": ["billing"]},
        {"text": "app crashes", "label": ["bug"]},
        {"text": "cannot log in", "label": ["account"]},
        {"text": "refund late", "label": ["bug"]},
        {"text": "app  crashes", "label": ["account"]},
    ]
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    dataset = DatasetFactory()

    # When it is imported
    result = import_labeled(dataset=dataset, source=io.BytesIO(data), filename="labels.jsonl")

    # Then each record has the labels of its first row, once
    assert result.ok, result.errors
    assert (result.inserted, result.duplicates, result.annotations) == (3, 2, 3)
    labels = {
        annotation.record.text: list(annotation.labels.values_list("name", flat=True))
        for annotation in Annotation.objects.filter(record__dataset=dataset).select_related("record")
    }
    assert labels == {"refund late": ["billing"], "app crashes": ["bug"], "cannot log in": ["account"]}


def test_an_id_conflict_in_a_late_batch_is_reported_before_anything_is_written(db, monkeypatch):
    # Given row 10 reusing row 1's id for another text, three batches away
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    data = csv_of(TEXTS[:9]) + b"r1,not alpha at all\n"
    dataset = dataset_with_one_record()
    progress = Recorder()

    result = import_records(dataset=dataset, source=io.BytesIO(data), filename="t.csv", progress=progress)

    assert [str(error) for error in result.errors] == [
        "t.csv, row 11, field “id”: the id “r1” is already used by row 2 for another text"
    ]
    assert result.inserted == 0
    assert progress.of(WRITING) == []
    assert stored(dataset) == [("old", "Already here")]


@pytest.mark.parametrize(
    ("cancel_after_rows", "records_seen"),
    [(3, 4), (11, 9)],  # after the first batch of 3; after the last batch (the final report)
    ids=["after the first batch", "after the last batch"],
)
def test_a_cancel_while_writing_rolls_back_what_was_written(db, monkeypatch, cancel_after_rows, records_seen):
    # Given an import in batches of 3, asked to stop once `cancel_after_rows` rows are written
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    dataset = dataset_with_one_record()
    progress = Recorder(cancel_at=(WRITING, cancel_after_rows), dataset=dataset)

    # When it runs
    with pytest.raises(JobCancelled):
        import_records(dataset=dataset, source=io.BytesIO(csv_of(TEXTS)), filename="t.csv", progress=progress)

    # Then what it had written by then (the old record and its own rows) is rolled back
    assert progress.records_seen_at_cancel == records_seen
    assert stored(dataset) == [("old", "Already here")]


def start_background_import(persona, data: bytes) -> Job:
    """Store `data` as the persona's upload and import it as a job (run at once: TASK_QUEUE=immediate)."""
    upload = store_upload(file=SimpleUploadedFile("t.csv", data), user=persona.user, dataset_id=persona.dataset.pk)
    job = start_import(dataset=persona.dataset, upload=upload, options={}, user=persona.user)
    job.refresh_from_db()
    return job


def spy_on_reports(monkeypatch, then=None) -> list[int]:
    """Keep every `done` a job reports (the real report still runs, after `then(job, done)`)."""
    reported = []
    real_report = Job.report

    def report(job, *, done, total=None):
        reported.append(done)
        if then is not None:
            then(job, done)
        return real_report(job, done=done, total=total)

    monkeypatch.setattr(Job, "report", report)
    return reported


@pytest.mark.django_db(transaction=True)
def test_a_background_import_moves_its_bar_through_the_writing_to_the_end(monkeypatch):
    # Given a job reporting at every chance, written three rows at a time
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    monkeypatch.setattr(import_job, "REPORT_EVERY_SECONDS", 0)
    reported = spy_on_reports(monkeypatch)
    persona = make_persona("data_lead")
    data = csv_of(TEXTS)
    reading_part = int(len(data) * import_job.READING_SHARE)

    # When it runs
    job = start_background_import(persona, data)

    # Then the bar went up through the reading part and the writing part, to the end
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.done, job.total, job.percent) == (len(data), len(data), 100)
    assert reported == sorted(reported)
    assert reading_part in reported  # the switch to writing
    assert reported[-1] == len(data)
    assert "file read; writing its 11 rows into the dataset" in [step["message"] for step in job.log]
    assert Record.objects.filter(dataset=persona.dataset).count() == 9  # rows 5 and 9 repeat rows 2 and 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "report_every_seconds",
    [0, 1e9],  # reports after every batch; or none but the switch to writing and the last word
    ids=["between-batches", "after-the-last-batch"],
)
def test_a_background_import_cancelled_while_writing_leaves_the_dataset_unchanged(monkeypatch, report_every_seconds):
    # Given someone pressing Stop once the job's bar is into the writing part
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    monkeypatch.setattr(import_job, "REPORT_EVERY_SECONDS", report_every_seconds)
    persona = make_persona("data_lead")
    RecordFactory(dataset=persona.dataset, text="Already here", external_id="old")
    data = csv_of(TEXTS)
    reading_part = int(len(data) * import_job.READING_SHARE)

    def stop_once_writing(job, done):
        if done > reading_part and not Job.objects.get(pk=job.pk).cancel_requested:
            cancel_job(job=Job.objects.get(pk=job.pk), user=persona.user)  # on its own connection: committed

    spy_on_reports(monkeypatch, then=stop_once_writing)

    # When the import runs
    job = start_background_import(persona, data)

    # Then the job is cancelled, the dataset is as it was, and the upload stays for a retry
    assert job.status == Job.Status.CANCELLED, job.error
    assert reading_part < job.done <= len(data)
    messages = [step["message"] for step in job.log]
    assert "file read; writing its 11 rows into the dataset" in messages
    assert any(message.startswith("cancel requested by") for message in messages)
    assert stored(persona.dataset) == [("old", "Already here")]
    assert find_upload(token=job.params["upload"], user_id=persona.user.pk, dataset_id=persona.dataset.pk)


def test_the_command_shows_the_writing_after_the_reading(db, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "WRITE_BATCH_ROWS", 3)
    DatasetFactory(name="Letters")
    path = tmp_path / "letters.csv"
    path.write_bytes(csv_of(TEXTS))
    err = io.StringIO()

    call_command("import_records", "Letters", str(path), "--no-embed", stdout=io.StringIO(), stderr=err)

    shown = err.getvalue()
    assert "letters.csv: writing" in shown
    assert "11/11 [" in shown  # the rows bar reached its end
    assert shown.index("letters.csv: writing") > shown.index(f"{path.stat().st_size}/{path.stat().st_size}")
