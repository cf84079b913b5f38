"""The dataset's “Import file” page: who may use it, preview, import, report, background job."""

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from corpus.models import Document, Record
from corpus.services.documents import import_documents
from jobs.models import Job
from tests.conftest import make_persona

SAMPLES = Path(__file__).parent / "samples"


def import_url(dataset) -> str:
    return reverse("admin:corpus_dataset_import_file", args=[dataset.pk])


def upload(client, dataset, name: str, data: bytes | None = None, **fields):
    data = (SAMPLES / name).read_bytes() if data is None else data
    return client.post(import_url(dataset), {"file": SimpleUploadedFile(name, data), **fields})


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


@pytest.mark.parametrize(
    ("role", "status"),
    [("annotator", 403), ("reviewer", 403), ("ml_engineer", 403), ("data_lead", 200), ("admin", 200)],
)
def test_import_page_is_for_data_leads_and_admins(db, role, status):
    persona = make_persona(role)

    response = persona.client.get(import_url(persona.dataset))

    assert response.status_code == status


def test_import_page_of_another_teams_dataset_is_404(data_lead):
    response = data_lead.client.get(import_url(data_lead.other_dataset))

    assert response.status_code == 404


def test_dataset_page_links_to_the_import_page(data_lead):
    response = data_lead.client.get(reverse("admin:corpus_dataset_change", args=[data_lead.dataset.pk]))

    assert import_url(data_lead.dataset) in response.content.decode()


def test_upload_shows_a_preview_and_writes_nothing(data_lead):
    response = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="import-preview"' in page
    assert "csv · plain" in page
    assert "Shipping took three weeks." in page
    assert "lang, stars" in page  # what goes to meta
    assert not Record.objects.filter(dataset=data_lead.dataset).exists()


def test_preview_and_report_escape_the_file_text(data_lead):
    response = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    page = response.content.decode()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_confirm_imports_and_reports_counts(data_lead):
    preview = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    response = data_lead.client.post(
        import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1", "add_missing_labels": "on"}
    )

    page = response.content.decode()
    assert 'id="import-report"' in page
    assert "reviews.csv imported" in page
    assert Record.objects.filter(dataset=data_lead.dataset).count() == 8


def test_mapping_chosen_on_the_preview_is_used(data_lead):
    data = b"message,ref\nThe chosen column,A7\n"
    preview = upload(data_lead.client, data_lead.dataset, "custom.csv", data)
    assert "no text field found" in preview.content.decode()
    # the column boxes offer the file's columns
    page = BeautifulSoup(preview.content, "html.parser")
    assert [option["value"] for option in page.select("datalist#import-columns option")] == ["message", "ref"]
    assert page.select_one("input[name=text_field]")["list"] == "import-columns"

    data_lead.client.post(
        import_url(data_lead.dataset),
        {"token": token_of(preview), "confirm": "1", "text_field": "message", "id_field": "ref"},
    )

    assert list(Record.objects.filter(dataset=data_lead.dataset).values_list("external_id", "text")) == [
        ("A7", "The chosen column")
    ]


def test_bad_file_report_lists_errors_with_rows_and_writes_nothing(data_lead):
    data = b'id,text\n1,fine\n2,""\n3,"<b>x</b>"\n4,\n'
    preview = upload(data_lead.client, data_lead.dataset, "bad.csv", data)

    response = data_lead.client.post(import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1"})

    page = response.content.decode()
    assert "bad.csv was not imported" in page
    assert "bad.csv, row 3, field “text”: the text is empty" in page
    assert "bad.csv, row 5, field “text”: the text is empty" in page
    assert not Record.objects.filter(dataset=data_lead.dataset).exists()


def test_someone_elses_upload_token_imports_nothing(data_lead, db):
    other = make_persona("admin")
    preview = upload(other.client, data_lead.dataset, "reviews.csv")

    response = data_lead.client.post(import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1"})

    assert response.status_code == 302
    assert not Record.objects.filter(dataset=data_lead.dataset).exists()


def test_upload_over_the_limit_is_refused(data_lead, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100

    response = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    assert "the upload limit is 100 bytes" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_big_upload_imports_as_a_background_job(settings):
    # Given a threshold below the file's size (the job runs at once: TASK_QUEUE=immediate)
    settings.IMPORT_BACKGROUND_BYTES = 100
    persona = make_persona("data_lead")
    preview = upload(persona.client, persona.dataset, "reviews.csv")
    assert "Import in the background" in preview.content.decode()

    response = persona.client.post(import_url(persona.dataset), {"token": token_of(preview), "confirm": "1"})

    job = Job.objects.get(kind="import")
    assert response.status_code == 302 and response["Location"] == reverse("admin:jobs_job_change", args=[job.pk])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["inserted"] == 8
    assert Record.objects.filter(dataset=persona.dataset).count() == 8


def test_document_upload_previews_chunk_settings_and_imports(data_lead):
    preview = upload(data_lead.client, data_lead.dataset, "birds.pdf")
    assert "A document upload" in preview.content.decode()
    assert '<td class="pr-6">birds.pdf</td>' in preview.content.decode()  # the documents it holds
    assert 'name="chunk_size"' in preview.content.decode()

    response = data_lead.client.post(
        import_url(data_lead.dataset),
        {"token": token_of(preview), "confirm": "1", "chunk_size": "500", "chunk_overlap": "50"},
    )

    assert "birds.pdf imported" in response.content.decode()
    document = Document.objects.get(dataset=data_lead.dataset)
    assert document.records.count() == 2


def test_document_page_lists_its_chunks_escaped(data_lead):
    dataset = data_lead.dataset
    with (SAMPLES / "article.html").open("rb") as source:
        import_documents(dataset=dataset, source=source, filename="article.html", chunk_size=60, chunk_overlap=0)
    document = Document.objects.get(dataset=dataset)

    response = data_lead.client.get(reverse("admin:corpus_document_change", args=[document.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Text with &lt;angle brackets&gt; stays text." in page
    assert "Imports are now ten times faster." in page


@pytest.mark.django_db(transaction=True)
def test_background_import_of_a_bad_file_fails_with_the_report(settings):
    settings.IMPORT_BACKGROUND_BYTES = 10
    persona = make_persona("data_lead")
    preview = upload(persona.client, persona.dataset, "bad.csv", b'id,text\n1,fine\n2,""\n')

    persona.client.post(import_url(persona.dataset), {"token": token_of(preview), "confirm": "1"})

    job = Job.objects.get(kind="import")
    assert job.status == Job.Status.FAILED
    assert job.result["errors"] == ["bad.csv, row 3, field “text”: the text is empty"]
    assert "bad.csv, row 3, field “text”: the text is empty" in job.error
    assert not Record.objects.filter(dataset=persona.dataset).exists()


def test_an_import_embeds_its_new_records_when_the_setting_asks(
    data_lead, settings, django_capture_on_commit_callbacks
):
    # Given EMBED_AFTER_IMPORT on (the default outside tests); jobs run at once (TASK_QUEUE=immediate)
    settings.EMBED_AFTER_IMPORT = True
    preview = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = data_lead.client.post(import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1"})

    job = Job.objects.get(kind="embed")
    assert job.params == {"dataset_id": data_lead.dataset.pk} and job.status == Job.Status.SUCCEEDED, job.error
    assert f"job #{job.pk}" in response.content.decode()
    assert not Record.objects.filter(dataset=data_lead.dataset, embedding=None).exists()


def test_an_import_that_adds_nothing_starts_no_embedding(data_lead, settings):
    settings.EMBED_AFTER_IMPORT = True
    for _ in range(2):  # the second import only finds duplicates
        preview = upload(data_lead.client, data_lead.dataset, "reviews.csv")
        data_lead.client.post(import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1"})

    assert Job.objects.filter(kind="embed").count() == 1


def test_a_background_import_queues_the_embedding_after_it(db, settings, django_capture_on_commit_callbacks):
    settings.EMBED_AFTER_IMPORT = True
    settings.IMPORT_BACKGROUND_BYTES = 100
    persona = make_persona("data_lead")
    preview = upload(persona.client, persona.dataset, "reviews.csv")

    with django_capture_on_commit_callbacks(execute=True):
        persona.client.post(import_url(persona.dataset), {"token": token_of(preview), "confirm": "1"})

    embed = Job.objects.get(kind="embed")
    assert embed.status == Job.Status.SUCCEEDED and embed.created_by == persona.user
    assert any(f"job #{embed.pk}" in step["message"] for step in Job.objects.get(kind="import").log)


def test_without_the_setting_an_import_only_imports(data_lead):
    preview = upload(data_lead.client, data_lead.dataset, "reviews.csv")

    data_lead.client.post(import_url(data_lead.dataset), {"token": token_of(preview), "confirm": "1"})

    assert Record.objects.filter(dataset=data_lead.dataset).count() == 8
    assert not Job.objects.filter(kind="embed").exists()
