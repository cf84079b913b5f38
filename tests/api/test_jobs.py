"""Jobs through the API: started with the admin's permissions, followed, cancelled."""

from jobs.models import Job
from tests.api.conftest import make_caller
from tests.factories import ClassifierVersionFactory, JobFactory, LabelSchemaFactory


def test_starting_an_embedding_queues_a_job_for_the_dataset(db, django_capture_on_commit_callbacks):
    caller = make_caller("data_lead")

    with django_capture_on_commit_callbacks(execute=False):
        response = caller.post("/jobs/embed", {"dataset_id": caller.persona.dataset.pk})

    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.params, job.created_by) == (
        "embed",
        {"dataset_id": caller.persona.dataset.pk},
        caller.persona.user,
    )
    assert response.json()["status"] == "queued"


def test_a_model_that_is_not_allowed_is_a_400(db):
    caller = make_caller("ml_engineer")

    response = caller.post("/jobs/embed", {"dataset_id": caller.persona.dataset.pk, "model": "/etc/passwd"})

    assert response.status_code == 400
    assert "allowed" in response.json()["detail"]
    assert not Job.objects.exists()


def test_classifying_with_a_classifier_of_another_label_set_is_a_404(db):
    caller = make_caller("ml_engineer")
    schema = LabelSchemaFactory(dataset=caller.persona.dataset)
    foreign = ClassifierVersionFactory(schema__dataset=caller.persona.other_dataset)

    response = caller.post("/jobs/classify", {"label_set_id": schema.pk, "classifier_id": foreign.pk})

    assert response.status_code == 404
    assert not Job.objects.exists()


def test_a_jobs_status_shows_its_progress(db):
    caller = make_caller("data_lead")
    job = JobFactory(created_by=caller.persona.user, status=Job.Status.RUNNING, done=30, total=120)

    body = caller.get(f"/jobs/{job.pk}").json()

    assert (body["status"], body["done"], body["total"], body["percent"]) == ("running", 30, 120, 25)


def test_cancelling_a_queued_job_stops_it(db):
    caller = make_caller("ml_engineer")
    job = JobFactory(created_by=caller.persona.user, status=Job.Status.QUEUED)

    response = caller.post(f"/jobs/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


def test_cancelling_a_finished_job_is_a_409(db):
    caller = make_caller("ml_engineer")
    job = JobFactory(created_by=caller.persona.user, status=Job.Status.SUCCEEDED)

    response = caller.post(f"/jobs/{job.pk}/cancel")

    assert response.status_code == 409
    assert "already ended" in response.json()["detail"]
