"""Embedding from the records list: "Embed selected records" and "Re-embed with model…"."""

import pytest
from django.urls import reverse

from corpus.models import Record
from corpus.services import embed as embed_service
from jobs.models import Job
from jobs.queues import QueueUnavailable
from tests.conftest import make_persona
from tests.factories import RecordFactory

RECORDS = reverse("admin:corpus_record_changelist")


def test_embed_selected_records_embeds_those_and_no_others(ml_engineer, django_capture_on_commit_callbacks):
    chosen = RecordFactory.create_batch(3, dataset=ml_engineer.dataset)
    left_alone = RecordFactory(dataset=ml_engineer.dataset)

    with django_capture_on_commit_callbacks(execute=True):
        response = ml_engineer.client.post(
            RECORDS, {"action": "embed_selected", "_selected_action": [r.pk for r in chosen]}, follow=True
        )

    job = Job.objects.get()
    assert f"job #{job.pk}" in response.text
    assert job.params == {"record_ids": sorted(r.pk for r in chosen)}
    assert job.status == Job.Status.SUCCEEDED and (job.done, job.total) == (3, 3)
    assert Record.objects.filter(pk__in=[r.pk for r in chosen], embedding__isnull=False).count() == 3
    left_alone.refresh_from_db()
    assert left_alone.embedding is None


def test_records_of_other_datasets_cannot_be_slipped_into_the_selection(
    ml_engineer, django_capture_on_commit_callbacks
):
    mine = RecordFactory(dataset=ml_engineer.dataset)
    foreign = RecordFactory(dataset=ml_engineer.other_dataset)

    with django_capture_on_commit_callbacks(execute=True):
        ml_engineer.client.post(RECORDS, {"action": "embed_selected", "_selected_action": [mine.pk, foreign.pk]})

    assert Job.objects.get().params == {"record_ids": [mine.pk]}
    foreign.refresh_from_db()
    assert foreign.embedding is None


def test_reembed_with_model_first_asks_which_model(ml_engineer, settings):
    settings.EMBEDDING_MODEL_CHOICES = ["/models/multilingual-minilm"]
    record = RecordFactory(dataset=ml_engineer.dataset)

    page = ml_engineer.client.post(RECORDS, {"action": "reembed_with_model", "_selected_action": [record.pk]})

    assert page.status_code == 200
    assert "Re-embed 1 selected record(s)" in page.text
    assert 'value="/models/multilingual-minilm"' in page.text and 'value="all-MiniLM-L6-v2"' in page.text
    assert f'name="_selected_action" value="{record.pk}"' in page.text
    assert not Job.objects.exists()


def test_reembed_with_model_embeds_with_the_chosen_model(ml_engineer, settings, django_capture_on_commit_callbacks):
    settings.EMBEDDING_MODEL_CHOICES = ["other-model"]
    records = RecordFactory.create_batch(2, dataset=ml_engineer.dataset)

    with django_capture_on_commit_callbacks(execute=True):
        ml_engineer.client.post(
            RECORDS,
            {"action": "reembed_with_model", "_selected_action": [r.pk for r in records], "model": "other-model"},
        )

    job = Job.objects.get()
    assert job.params["model"] == "other-model" and job.status == Job.Status.SUCCEEDED
    assert set(Record.objects.filter(dataset=ml_engineer.dataset).values_list("embedding_model", flat=True)) == {
        "fake:other-model"
    }


def test_a_model_that_is_not_allowed_is_refused(ml_engineer):
    record = RecordFactory(dataset=ml_engineer.dataset)

    page = ml_engineer.client.post(
        RECORDS, {"action": "reembed_with_model", "_selected_action": [record.pk], "model": "/etc/evil-model"}
    )

    assert "Select a valid choice" in page.text
    assert not Job.objects.exists()


def test_a_job_with_a_model_outside_the_allowed_ones_fails_before_loading_it(db):
    from jobs.runner import run_job
    from tests.factories import JobFactory

    job = JobFactory(kind="embed", params={"record_ids": [1], "model": "/tmp/whatever"})

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "is not one of the allowed models" in job.error


def test_too_many_selected_records_are_refused_with_a_hint(ml_engineer, monkeypatch):
    monkeypatch.setattr(embed_service, "MAX_SELECTED_RECORDS", 2)
    monkeypatch.setattr("corpus.admin.MAX_SELECTED_RECORDS", 2)
    records = RecordFactory.create_batch(3, dataset=ml_engineer.dataset)

    response = ml_engineer.client.post(
        RECORDS, {"action": "embed_selected", "_selected_action": [r.pk for r in records]}, follow=True
    )

    assert "More than 2 records selected" in response.text
    assert not Job.objects.exists()


def test_the_records_list_says_when_the_queue_is_unavailable(transactional_db, monkeypatch):
    # transactional_db: the enqueue runs at commit, within the request, as in production
    def broker_down(job_id):
        raise QueueUnavailable("ConnectionError: refused")

    monkeypatch.setattr("jobs.services.enqueue", broker_down)
    ml_engineer = make_persona("ml_engineer")
    record = RecordFactory(dataset=ml_engineer.dataset)

    response = ml_engineer.client.post(
        RECORDS, {"action": "embed_selected", "_selected_action": [record.pk]}, follow=True
    )

    assert "The queue is unavailable; it will be sent when it is back." in response.text
    assert Job.objects.get().status == Job.Status.QUEUED


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_roles_without_embedding_are_not_offered_the_record_actions(persona, request):
    person = request.getfixturevalue(persona)
    record = RecordFactory(dataset=person.dataset)

    listing = person.client.get(RECORDS)
    person.client.post(RECORDS, {"action": "embed_selected", "_selected_action": [record.pk]})

    assert "embed_selected" not in listing.text
    assert not Job.objects.exists()
