"""Embedding a dataset: incremental, tied to the text it was computed from, started from the admin."""

import numpy as np
import pytest
from django.urls import reverse

from corpus.inference import configured_embedder
from corpus.models import Record
from corpus.services.embed import embed_dataset
from corpus.text import content_hash
from jobs.models import Job
from tests.factories import DatasetFactory, RecordFactory


@pytest.fixture
def dataset(db):
    dataset = DatasetFactory()
    RecordFactory.create_batch(5, dataset=dataset)
    return dataset


def test_embedding_stores_one_vector_per_record_with_its_model_and_hash(dataset):
    embedder = configured_embedder()

    result = embed_dataset(dataset_id=dataset.pk, embedder=embedder)

    assert result.embedded == 5
    for record in Record.objects.filter(dataset=dataset):
        assert record.embedding_model == embedder.info.name
        assert record.embedding_hash == record.content_hash
        np.testing.assert_allclose(record.embedding, embedder.embed([record.text])[0], atol=1e-6)


def test_a_second_run_over_an_unchanged_dataset_embeds_nothing(dataset):
    embedder = configured_embedder()
    embed_dataset(dataset_id=dataset.pk, embedder=embedder)

    again = embed_dataset(dataset_id=dataset.pk, embedder=embedder)

    assert again.embedded == 0


def test_only_records_whose_text_changed_are_embedded_again(dataset):
    embedder = configured_embedder()
    embed_dataset(dataset_id=dataset.pk, embedder=embedder)
    edited = Record.objects.filter(dataset=dataset).first()
    edited.text = "A completely different complaint about the colour."
    edited.content_hash = content_hash(edited.text)
    edited.save()

    result = embed_dataset(dataset_id=dataset.pk, embedder=embedder)

    edited.refresh_from_db()
    assert result.embedded == 1
    np.testing.assert_allclose(edited.embedding, embedder.embed([edited.text])[0], atol=1e-6)


def test_switching_the_model_embeds_everything_again(dataset):
    embed_dataset(dataset_id=dataset.pk, embedder=configured_embedder("model-a"))

    result = embed_dataset(dataset_id=dataset.pk, embedder=configured_embedder("model-b"))

    assert result.embedded == 5
    assert set(Record.objects.filter(dataset=dataset).values_list("embedding_model", flat=True)) == {"fake:model-b"}


def test_embedding_touches_no_other_dataset(dataset):
    other = RecordFactory()

    embed_dataset(dataset_id=dataset.pk, embedder=configured_embedder())

    other.refresh_from_db()
    assert other.embedding is None


def test_progress_is_reported_up_to_the_total(dataset):
    reports = []

    embed_dataset(dataset_id=dataset.pk, embedder=configured_embedder(), progress=lambda **kw: reports.append(kw))

    assert reports[0] == {"done": 0, "total": 5}
    assert reports[-1] == {"done": 5, "total": 5}


def test_admin_action_queues_a_job_that_embeds_the_dataset(ml_engineer, django_capture_on_commit_callbacks):
    RecordFactory.create_batch(3, dataset=ml_engineer.dataset)

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        response = ml_engineer.client.post(
            reverse("admin:corpus_dataset_changelist"),
            {"action": "embed_records", "_selected_action": [ml_engineer.dataset.pk]},
            follow=True,
        )

    job = Job.objects.get()
    assert response.status_code == 200
    assert f"job #{job.pk}" in response.text
    assert job.kind == "embed" and job.params == {"dataset_id": ml_engineer.dataset.pk}
    assert job.created_by == ml_engineer.user
    assert len(enqueued) == 1  # handed to the queue only once the row was committed
    assert job.status == Job.Status.SUCCEEDED  # TASK_QUEUE=immediate in tests
    assert (job.done, job.total, job.attempts) == (3, 3, 1)
    assert not Record.objects.filter(dataset=ml_engineer.dataset, embedding__isnull=True).exists()


def test_reviewers_are_not_offered_embedding_and_cannot_post_it(reviewer):
    listing = reviewer.client.get(reverse("admin:corpus_dataset_changelist"))
    reviewer.client.post(
        reverse("admin:corpus_dataset_changelist"),
        {"action": "embed_records", "_selected_action": [reviewer.dataset.pk]},
    )

    assert "embed_records" not in listing.text
    assert not Job.objects.exists()


def test_embedding_a_dataset_outside_ones_own_does_nothing(ml_engineer):
    RecordFactory(dataset=ml_engineer.other_dataset)

    ml_engineer.client.post(
        reverse("admin:corpus_dataset_changelist"),
        {"action": "embed_records", "_selected_action": [ml_engineer.other_dataset.pk]},
    )

    assert not Job.objects.exists()


def test_reembed_with_model_on_a_dataset_asks_for_the_model_then_queues_the_job(
    ml_engineer, django_capture_on_commit_callbacks, settings
):
    settings.EMBEDDING_MODEL_CHOICES = ["second-model"]
    url = reverse("admin:corpus_dataset_changelist")
    chosen = {"action": "reembed_datasets_with_model", "_selected_action": [ml_engineer.dataset.pk]}

    question = ml_engineer.client.post(url, chosen)
    with django_capture_on_commit_callbacks(execute=True):
        ml_engineer.client.post(url, {**chosen, "model": "second-model"})

    assert question.status_code == 200
    assert "second-model" in question.text
    job = Job.objects.get()
    assert job.params == {"dataset_id": ml_engineer.dataset.pk, "model": "second-model"}


def test_reembed_refuses_a_model_that_is_not_offered(ml_engineer):
    ml_engineer.client.post(
        reverse("admin:corpus_dataset_changelist"),
        {"action": "reembed_datasets_with_model", "_selected_action": [ml_engineer.dataset.pk], "model": "/etc"},
    )

    assert not Job.objects.exists()
