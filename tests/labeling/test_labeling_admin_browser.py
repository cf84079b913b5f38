"""The dataset page and the record page with their labeling side, in a real browser; screenshots
kept in test-artifacts/ (dataset-labeling.png, record-history.png, label-history.png,
set-final-label.png)."""

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from labeling.services.annotate import save_annotation
from labeling.services.queue import prepare_queue
from labeling.services.review import review_record, send_to_review
from tests.conftest import make_persona, sign_in
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def test_data_lead_sees_labeling_on_the_dataset_and_record_pages(live_server, page, transactional_db):
    lead = make_persona("data_lead")
    dataset = lead.dataset
    dataset.overlap = 2
    dataset.save()
    schema = LabelSchemaFactory(dataset=dataset, name="Sentiment")
    positive = LabelFactory(schema=schema, name="positive", color="#22c55e", hotkey="1")
    negative = LabelFactory(schema=schema, name="negative", color="#ef4444", hotkey="2")
    anna, ben = UserFactory(username="anna", role="Annotator"), UserFactory(username="ben", role="Annotator")
    records = RecordFactory.create_batch(6, dataset=dataset)
    prepare_queue(schema=schema)
    disputed, agreed, half = records[0], records[1], records[2]
    save_annotation(schema=schema, record_id=disputed.pk, user=anna, label_ids=[positive.pk], seconds_spent=4.0)
    save_annotation(
        schema=schema, record_id=disputed.pk, user=ben, label_ids=[negative.pk], unsure=True, comment="sarcasm?"
    )
    save_annotation(schema=schema, record_id=disputed.pk, user=anna, label_ids=[negative.pk])  # a change of mind
    for person in (anna, ben):
        save_annotation(schema=schema, record_id=agreed.pk, user=person, label_ids=[positive.pk])
    save_annotation(schema=schema, record_id=half.pk, user=anna, label_ids=[positive.pk])
    state = schema.record_states.get(record=disputed)
    review_record(
        state_id=state.pk, reviewer=lead.user, label_ids=[negative.pk], expected_version=state.version, note="ironic"
    )
    send_to_review(schema=schema, record_ids=[agreed.pk], user=lead.user)

    sign_in(page, live_server, lead.user)
    page.set_viewport_size({"width": 1400, "height": 900})
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(live_server.url + reverse("admin:corpus_dataset_change", args=[dataset.pk]))
    labeling = page.locator("#dataset-labeling")
    text = " ".join(labeling.inner_text().split())
    assert "Sentiment" in text
    assert "Unlabeled 3" in text and "In progress 1" in text and "Disputed 1" in text and "Reviewed 1" in text
    assert labeling.get_by_role("link", name="Start annotating").is_visible()
    assert labeling.get_by_role("link", name="Review (1 disputed)").is_visible()
    page.get_by_text("Labeling", exact=True).last.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "dataset-labeling.png"), full_page=True)

    page.goto(live_server.url + reverse("admin:corpus_record_change", args=[disputed.pk]))
    history = page.locator("#record-history tbody tr")
    assert history.count() == 4
    newest = " ".join(history.first.inner_text().split())
    assert "Set the final label" in newest and "positive, negative" not in newest and "ironic" in newest
    assert "sarcasm?" in page.locator("#record-history").inner_text()
    status = " ".join(page.locator("#record-labeling").inner_text().split())
    assert "Reviewed" in status and "negative" in status
    assert page.get_by_role("link", name="Review this record").is_visible()
    page.locator("#record-history").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "record-history.png"), full_page=True)

    page.goto(live_server.url + reverse("admin:labeling_labelevent_changelist"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 8  # 6 annotations (one a change of mind), the review, the send to review
    assert "Sent to review" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "label-history.png"), full_page=True)

    # Applying the filter panel as it comes (every filter at "All") keeps every entry.
    page.locator("a", has_text="Filters").first.click()
    page.get_by_role("button", name="Apply Filters").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#result_list tbody tr").count() == 8

    page.goto(live_server.url + reverse("admin:corpus_record_changelist"))
    page.locator("a", has_text="Filters").first.click()
    page.locator("#changelist-filter select[name=label_status]").select_option("disputed")
    page.get_by_role("button", name="Apply Filters").click()
    page.wait_for_load_state("networkidle")
    assert "label_status=disputed" in page.url
    assert page.locator("#result_list tbody tr").count() == 1  # the record sent to review

    # "Set final label…" on the record still in progress: its page asks which label, then sets it.
    page.goto(live_server.url + reverse("admin:corpus_record_changelist") + "?label_status=in_progress")
    page.locator("#result_list input.action-select").first.check()
    page.locator("select[name=action]").select_option("set_final_label")
    page.get_by_role("button", name="Run").click()
    page.wait_for_load_state("networkidle")
    assert "Set the final label of 1 selected record(s)" in page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "set-final-label.png"), full_page=True)
    page.get_by_label("negative").check()
    page.get_by_role("button", name="Set final label").click()
    page.wait_for_load_state("networkidle")
    assert "Final label “negative” set on 1 record(s)" in page.locator("body").inner_text()
    assert [lab.name for lab in schema.record_states.get(record=half).final_labels.all()] == ["negative"]
