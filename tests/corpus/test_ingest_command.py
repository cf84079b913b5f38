"""python manage.py import_records DATASET FILE."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from corpus.models import Record
from jobs.models import Job
from labeling.models import Annotation
from tests.factories import DatasetFactory

SAMPLES = Path(__file__).parent / "samples"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_records", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_imports_a_file_and_prints_the_counts(db):
    dataset = DatasetFactory(name="Reviews")

    out, _ = run("Reviews", str(SAMPLES / "reviews.csv"))

    assert "reviews.csv: 8 rows read, 8 inserted, 0 duplicates skipped (csv, plain)" in out
    assert Record.objects.filter(dataset=dataset).count() == 8


def test_command_imports_labels_as_imported_annotations(db):
    dataset = DatasetFactory(name="Tickets")

    out, _ = run("Tickets", str(SAMPLES / "doccano.jsonl"))

    assert "4 imported annotations" in out
    assert Annotation.objects.filter(record__dataset=dataset, source="imported").count() == 4


def test_command_options_choose_format_and_fields(db, tmp_path):
    dataset = DatasetFactory(name="Custom")
    path = tmp_path / "export.txt"
    path.write_text('{"body_text": "Chosen text", "ref": "R-1"}\n')

    run("Custom", str(path), "--format", "jsonl", "--text-field", "body_text", "--id-field", "ref")

    assert list(Record.objects.filter(dataset=dataset).values_list("external_id", "text", "meta")) == [
        ("R-1", "Chosen text", {})
    ]


def test_command_reports_errors_on_stderr_and_fails(db):
    DatasetFactory(name="Reviews")
    bad = SAMPLES.parent / "samples" / "reviews.jsonl"

    with pytest.raises(CommandError, match="errors; nothing was imported"):
        run("Reviews", str(bad), "--text-field", "missing_field")


def test_command_error_lines_name_file_line_and_field(db, tmp_path):
    DatasetFactory(name="Reviews")
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "cut\n')
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_records", "Reviews", str(path), "--no-progress", stdout=StringIO(), stderr=err)

    assert err.getvalue().startswith("broken.jsonl, line 2: invalid JSON")


def test_command_refuses_an_unknown_dataset(db):
    with pytest.raises(CommandError, match="no dataset named or numbered “Nope”"):
        run("Nope", str(SAMPLES / "reviews.csv"))


def test_command_refuses_a_missing_file(db):
    DatasetFactory(name="Reviews")

    with pytest.raises(CommandError, match="no such file"):
        run("Reviews", "/nonexistent/file.csv")


def test_command_queues_embedding_of_the_new_records_unless_told_not_to(
    db, settings, django_capture_on_commit_callbacks
):
    settings.EMBED_AFTER_IMPORT = True
    DatasetFactory(name="Reviews")
    DatasetFactory(name="Quiet")

    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("Reviews", str(SAMPLES / "reviews.csv"))
        quiet, _ = run("Quiet", str(SAMPLES / "reviews.csv"), "--no-embed")

    job = Job.objects.get(kind="embed")
    assert f"Embedding the new records as job #{job.pk}" in out
    assert "Embedding" not in quiet
    assert not Record.objects.filter(dataset__name="Reviews", embedding=None).exists()
    assert Record.objects.filter(dataset__name="Quiet", embedding=None).count() == 8
