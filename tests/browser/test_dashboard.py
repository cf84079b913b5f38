"""The dashboard, seen in a real browser after a real sign-in."""

import html
import re
from pathlib import Path

from django.conf import settings

from tests.conftest import make_persona, sign_in
from tests.factories import AnnotationFactory, RecordFactory

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


def test_data_lead_logs_in_and_sees_their_dashboard(live_server, page, transactional_db):
    persona = make_persona("data_lead")
    records = RecordFactory.create_batch(3, dataset=persona.dataset)
    RecordFactory.create_batch(2, dataset=persona.other_dataset)  # must count nowhere on this dashboard
    AnnotationFactory(record=records[0])
    AnnotationFactory(record=RecordFactory(dataset=persona.other_dataset))

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    sign_in(page, live_server, persona.user)

    content = page.locator("#content")
    text = " ".join(content.inner_text().split())
    assert persona.dataset.name in text
    # Each KPI card holds its title in a <p> and the value right after it.
    kpi = content.locator("p", has_text=re.compile(r"^\s*Records\s*$")).locator("xpath=..")
    assert " ".join(kpi.inner_text().split()) == "Records 3"  # the other team's 3 records are not counted
    assert "Datasets 1" in text
    assert "Labeled share 33.3%" in text
    # Neither as rendered text nor in the markup (where Django escapes its apostrophe).
    other = persona.other_dataset.name
    assert other not in page.locator("body").inner_text()
    assert other not in page.content()
    assert html.escape(other) not in page.content()
    assert dialogs == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_signed_out_visit_to_admin_lands_on_login_page(live_server, page):
    page.goto(live_server.url + "/admin/")
    assert "/admin/login/" in page.url
    assert page.locator("input[name=password]").is_visible()
