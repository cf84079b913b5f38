"""The records endpoints: pages that never repeat or skip a record, the records list's filters,
and bulk create through the same import as uploads (all or nothing, with row errors)."""

from corpus.models import Record
from corpus.text import content_hash
from labeling.models import RecordState
from tests.api.conftest import make_caller
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory


def all_pages(caller, params: dict) -> tuple[list[int], int]:
    ids, cursor, pages = [], None, 0
    while True:
        response = caller.get("/records", {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


def test_pages_list_every_record_once_in_id_order(db):
    caller = make_caller("reviewer")
    records = RecordFactory.create_batch(23, dataset=caller.persona.dataset)

    ids, pages = all_pages(caller, {"dataset": caller.persona.dataset.pk, "page_size": 5})

    assert ids == sorted(record.pk for record in records)
    assert pages == 5


def test_records_added_while_paging_appear_once_at_the_end(db):
    caller = make_caller("reviewer")
    dataset = caller.persona.dataset
    first = RecordFactory.create_batch(6, dataset=dataset)
    page = caller.get("/records", {"dataset": dataset.pk, "page_size": 4}).json()

    added = RecordFactory.create_batch(3, dataset=dataset)
    rest, _ = all_pages(caller, {"dataset": dataset.pk, "page_size": 4, "cursor": page["next_cursor"]})

    seen = [item["id"] for item in page["items"]] + rest
    assert seen == [record.pk for record in first + added]


def test_a_page_is_at_most_500_records(db):
    caller = make_caller("reviewer")

    response = caller.get("/records", {"page_size": 501})

    assert response.status_code == 422
    assert "500" in response.content.decode()


def test_a_cursor_the_api_did_not_hand_out_is_a_400(db):
    caller = make_caller("reviewer")

    response = caller.get("/records", {"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_without_a_dataset_filter_only_the_callers_datasets_are_listed(db):
    caller = make_caller("ml_engineer")
    mine = RecordFactory(dataset=caller.persona.dataset)
    RecordFactory(dataset=caller.persona.other_dataset)

    ids, _ = all_pages(caller, {})

    assert ids == [mine.pk]


def test_text_filter_finds_records_containing_it_in_any_case(db):
    caller = make_caller("reviewer")
    dataset = caller.persona.dataset
    late = RecordFactory(dataset=dataset, text="The parcel came LATE again.")
    RecordFactory(dataset=dataset, text="Fine service.")

    ids, _ = all_pages(caller, {"dataset": dataset.pk, "text": "late"})

    assert ids == [late.pk]


def test_embedding_filter_tells_records_with_a_current_vector(db):
    caller = make_caller("reviewer")
    dataset = caller.persona.dataset
    embedded = RecordFactory(dataset=dataset)
    Record.objects.filter(pk=embedded.pk).update(
        embedding=[0.1] * 384, embedding_model="fake", embedding_hash=embedded.content_hash
    )
    stale = RecordFactory(dataset=dataset)
    Record.objects.filter(pk=stale.pk).update(embedding=[0.1] * 384, embedding_model="fake", embedding_hash="0" * 64)
    bare = RecordFactory(dataset=dataset)

    with_vectors, _ = all_pages(caller, {"dataset": dataset.pk, "has_embedding": "true"})
    without, _ = all_pages(caller, {"dataset": dataset.pk, "has_embedding": "false"})

    assert with_vectors == [embedded.pk]
    assert without == [stale.pk, bare.pk]


def test_status_and_final_label_filters_follow_the_labeling_state(db):
    caller = make_caller("reviewer")
    dataset = caller.persona.dataset
    schema = LabelSchemaFactory(dataset=dataset)
    positive = LabelFactory(schema=schema, name="positive")
    decided, disputed, untouched = RecordFactory.create_batch(3, dataset=dataset)
    state = RecordState.objects.create(record=decided, schema=schema, status=RecordState.Status.LABELED)
    state.final_labels.set([positive])
    RecordState.objects.create(record=disputed, schema=schema, status=RecordState.Status.DISPUTED)

    labeled, _ = all_pages(caller, {"dataset": dataset.pk, "status": "labeled", "label_set": schema.pk})
    unlabeled, _ = all_pages(caller, {"dataset": dataset.pk, "status": "unlabeled"})
    by_label, _ = all_pages(caller, {"label": positive.pk})

    assert labeled == [decided.pk]
    assert unlabeled == [untouched.pk]
    assert by_label == [decided.pk]


def test_a_record_shows_its_status_and_final_labels(db):
    caller = make_caller("reviewer")
    schema = LabelSchemaFactory(dataset=caller.persona.dataset)
    record = RecordFactory(dataset=caller.persona.dataset, meta={"source": "shop"})
    state = RecordState.objects.create(record=record, schema=schema, status=RecordState.Status.REVIEWED)
    state.final_labels.set([LabelFactory(schema=schema, name="negative")])

    body = caller.get(f"/records/{record.pk}").json()

    assert body["meta"] == {"source": "shop"}
    assert body["labels"] == [{"label_set_id": schema.pk, "status": "reviewed", "final_labels": ["negative"]}]


def test_a_label_of_another_team_as_filter_is_a_404(db):
    caller = make_caller("reviewer")
    theirs = LabelFactory(schema__dataset=caller.persona.other_dataset)

    response = caller.get("/records", {"label": theirs.pk})

    assert response.status_code == 404


def test_bulk_create_stores_records_with_their_ids_and_meta(db):
    caller = make_caller("data_lead")
    dataset = caller.persona.dataset
    body = {
        "dataset_id": dataset.pk,
        "records": [
            {"text": "First review.", "external_id": "r-1", "meta": {"stars": 4, "data": {"nested": True}}},
            {"text": "Second review.", "meta": {"label": 2}},
        ],
    }

    response = caller.post("/records", body)

    assert response.status_code == 201, response.content
    assert response.json() == {"read": 2, "inserted": 2, "duplicates": 0, "embedding_job_id": None}
    stored = list(Record.objects.filter(dataset=dataset).values_list("text", "external_id", "meta"))
    # Keys other tools' exports use ("data", "label") stay meta: rows are read as sent.
    assert stored == [
        ("First review.", "r-1", {"stars": 4, "data": {"nested": True}}),
        ("Second review.", "", {"label": 2}),
    ]


def test_bulk_create_counts_texts_already_in_the_dataset_as_duplicates(db):
    caller = make_caller("data_lead")
    dataset = caller.persona.dataset
    RecordFactory(dataset=dataset, text="Known text.")

    response = caller.post(
        "/records", {"dataset_id": dataset.pk, "records": [{"text": "Known  text."}, {"text": "New text."}]}
    )

    assert response.json()["inserted"] == 1
    assert response.json()["duplicates"] == 1
    assert Record.objects.filter(dataset=dataset, content_hash=content_hash("New text.")).exists()


def test_bulk_create_with_a_bad_record_stores_nothing_and_names_it(db):
    caller = make_caller("data_lead")
    dataset = caller.persona.dataset
    records = [{"text": "Fine."}, {"text": "   "}, {"text": "Also fine."}, {"text": "x\x00y"}]

    response = caller.post("/records", {"dataset_id": dataset.pk, "records": records})

    assert response.status_code == 400
    body = response.json()
    assert body["error_count"] == 2
    assert [(error["index"], error["field"]) for error in body["errors"]] == [(1, "text"), (3, "text")]
    assert "empty" in body["errors"][0]["message"]
    assert not Record.objects.filter(dataset=dataset).exists()


def test_bulk_create_refuses_an_external_id_that_names_another_text(db):
    caller = make_caller("data_lead")
    dataset = caller.persona.dataset
    RecordFactory(dataset=dataset, text="Original.", external_id="r-1")

    response = caller.post(
        "/records", {"dataset_id": dataset.pk, "records": [{"text": "Changed.", "external_id": "r-1"}]}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 0
    assert "r-1" in response.json()["errors"][0]["message"]


def test_bulk_create_takes_at_most_10000_records(db):
    caller = make_caller("data_lead")
    records = [{"text": f"Text {n}"} for n in range(10_001)]

    response = caller.post("/records", {"dataset_id": caller.persona.dataset.pk, "records": records})

    assert response.status_code == 422
    assert not Record.objects.exists()


def test_bulk_create_of_10000_records_above_the_forms_body_limit_succeeds(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000  # the admin's limit stays; the API reads more
    caller = make_caller("data_lead")
    records = [{"text": f"Review number {n}: the delivery was fine."} for n in range(10_000)]

    response = caller.post("/records", {"dataset_id": caller.persona.dataset.pk, "records": records})

    assert response.status_code == 201, response.content[:500]
    assert Record.objects.filter(dataset=caller.persona.dataset).count() == 10_000


def test_meta_may_not_reuse_the_records_own_field_names(db):
    caller = make_caller("data_lead")

    response = caller.post(
        "/records", {"dataset_id": caller.persona.dataset.pk, "records": [{"text": "Hi", "meta": {"text": "x"}}]}
    )

    assert response.status_code == 422
    assert "text" in response.content.decode()


def test_bulk_create_starts_embedding_when_the_server_embeds_after_imports(
    db, settings, django_capture_on_commit_callbacks
):
    settings.EMBED_AFTER_IMPORT = True
    caller = make_caller("data_lead")

    with django_capture_on_commit_callbacks(execute=False):
        response = caller.post("/records", {"dataset_id": caller.persona.dataset.pk, "records": [{"text": "Hi"}]})

    assert response.json()["embedding_job_id"] is not None
