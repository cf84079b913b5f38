"""`manage.py embed`: queue embedding jobs for datasets, optionally following them to the end."""

import pytest
from django.core.management import CommandError, call_command

from corpus.models import Record
from jobs.models import Job
from tests.factories import DatasetFactory, RecordFactory


# --wait follows jobs that run at commit (TASK_QUEUE=immediate): those tests need real commits.
def test_embed_command_embeds_the_named_dataset_and_waits_for_it(transactional_db, capsys):
    dataset = DatasetFactory(name="Support tickets")
    RecordFactory.create_batch(4, dataset=dataset)
    other = RecordFactory()

    call_command("embed", "--dataset", "Support tickets", "--wait")

    job = Job.objects.get()
    out, err = capsys.readouterr()
    assert job.status == Job.Status.SUCCEEDED and job.params == {"dataset_id": dataset.pk}
    assert f"job #{job.pk}: succeeded" in out
    assert "4/4" in err  # the progress bar
    assert not Record.objects.filter(dataset=dataset, embedding__isnull=True).exists()
    other.refresh_from_db()
    assert other.embedding is None


def test_embed_command_takes_a_dataset_id_and_a_model(transactional_db, settings):
    settings.EMBEDDING_MODEL_CHOICES = ["model-b"]
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset)

    call_command("embed", "--dataset", str(dataset.pk), "--model", "model-b")

    assert Job.objects.get().params == {"dataset_id": dataset.pk, "model": "model-b"}
    assert Record.objects.get(dataset=dataset).embedding_model == "fake:model-b"


def test_embed_command_without_datasets_embeds_all(transactional_db):
    DatasetFactory.create_batch(2)

    call_command("embed")

    assert list(Job.objects.values_list("status", flat=True)) == [Job.Status.SUCCEEDED] * 2


def test_embed_command_names_an_unknown_dataset(db):
    with pytest.raises(CommandError, match="no dataset named or numbered “Nope”"):
        call_command("embed", "--dataset", "Nope")
    assert not Job.objects.exists()


def test_embed_command_refuses_a_model_that_is_not_allowed(db):
    DatasetFactory()

    with pytest.raises(CommandError, match="is not allowed"):
        call_command("embed", "--model", "/somewhere/else")
    assert not Job.objects.exists()


def test_embed_command_fails_when_a_job_fails(transactional_db, monkeypatch):
    dataset = DatasetFactory()
    RecordFactory(dataset=dataset)

    def broken(model=None):
        raise RuntimeError("model file is corrupt")

    monkeypatch.setattr("corpus.services.embed.configured_embedder", broken)

    with pytest.raises(CommandError, match="failed: RuntimeError: model file is corrupt"):
        call_command("embed", "--wait")
