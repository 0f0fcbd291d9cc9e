"""The inbox and mention detail pages: urgency order, filters in the URL, the assessment, and the action forms."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.web.pages import countdown
from firebreak.worker import BackgroundWorker
from tests.factories import WorkspaceFixture
from tests.web_support import add_cast_with_passwords, csrf_token, ingest_one, ingest_work, mention_ids, signed_in
from tests.workflow_support import work_item


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, int]:
    return ingest_work(app, db, acme, globex)


@pytest.fixture
def lee(app: FastAPI) -> TestClient:
    return signed_in(app, "lee@acme.test")


def assign(client: TestClient, mention_id: int, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/w/acme/mentions/{mention_id}")
    return client.post(f"/w/acme/mentions/{mention_id}/assign", data={"csrf_token": token, **fields})


def move(client: TestClient, mention_id: int, state: str, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/w/acme/mentions/{mention_id}")
    return client.post(f"/w/acme/mentions/{mention_id}/state", data={"csrf_token": token, "state": state, **fields})


def test_inbox_lists_open_work_most_urgent_first_with_what_an_agent_needs(lee, work):
    page = lee.get("/w/acme/inbox")
    assert page.status_code == 200
    assert mention_ids(page.text) == [work[n] for n in ("overdue_old", "overdue", "red", "yellow", "green")]
    assert work["globex"] not in mention_ids(page.text)
    first_row = page.text.split("<tbody>")[1].split("</tr>")[0]
    assert re.search(r"OVERDUE 1\d\dm|OVERDUE 2h \d+m", first_row)
    for shown in ('class="flag flag-red"', "legal_threat", "x-main", "escalate", "new", "unassigned",
                  "@pat · 1,200 followers · customer"):
        assert shown in first_row, shown
    red_row = page.text.split("<tbody>")[1].split("</tr>")[2]
    assert re.search(r">[0-4]m left<", red_row) and 'class="sla soon"' in red_row


def test_inbox_filters_are_query_parameters_shown_in_the_form(lee, work):
    assert assign(lee, work["yellow"], assignee="ana@acme.test").status_code == 303
    assert assign(lee, work["red"], to_me="1").status_code == 303

    def ids(query: str) -> list[int]:
        page = lee.get(f"/w/acme/inbox?{query}")
        assert page.status_code == 200, page.text
        return mention_ids(page.text)

    assert ids("flag=red") == [work["overdue_old"], work["overdue"], work["red"]]
    assert ids("queue=customer_support") == [work["yellow"], work["green"]]
    assert ids("state=new") == [work["overdue_old"], work["overdue"], work["green"]]
    assert ids("state=resolved") == []
    assert ids("assignee=me") == [work["red"]]
    assert ids("assignee=ana%40acme.test") == [work["yellow"]]
    assert ids("assignee=unassigned&flag=red") == [work["overdue_old"], work["overdue"]]
    page = lee.get("/w/acme/inbox?flag=red&assignee=unassigned")
    assert '<option value="red" selected>' in page.text and '<option value="unassigned" selected>' in page.text


def test_bad_filters_are_named_on_the_page(lee, work):
    for query, words in (("flag=purple", "Unknown flag &#x27;purple&#x27;"),
                         ("queue=nowhere", "Unknown queue &#x27;nowhere&#x27;; queues are care_general"),
                         ("state=snoozed", "Unknown state"),
                         ("assignee=gus%40globex.test", "is not a member of this workspace")):
        page = lee.get(f"/w/acme/inbox?{query}")
        assert page.status_code == 422 and words in page.text, query
        assert mention_ids(page.text) == []


def test_detail_shows_text_reasons_assessment_path_clocks_and_audit(lee, work):
    page = lee.get(f"/w/acme/mentions/{work['overdue']}")
    assert page.status_code == 200
    text = page.text
    assert "see you in court @acme" in text and 'class="flag flag-red"' in text
    assert "Is this a red flag?" in text and "<strong>yes, red flag</strong>" in text
    for consideration in ("transparency", "sourcing", "timeliness", "tone", "influence"):
        assert f"<dt>{consideration}</dt>" in text
    assert re.search(r'<ul class="reasons"><li>[^<]*court', text)
    assert "<td>first_response</td><td>running</td>" in text and "OVERDUE" in text
    assert re.search(r"<strong>[^<]+</strong> work\.opened", text)
    assert 'name="csrf_token"' in text and text.count('method="post"') == 3  # assign, state, sign out


def test_mention_text_is_escaped(app, db, acme, globex, lee):
    mention_id = ingest_one(db, acme, "xss", "<script>alert(1)</script> see you in court", utcnow())
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    page = lee.get(f"/w/acme/mentions/{mention_id}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_assign_forms_work_and_the_audit_says_who(lee, app, db, acme, work):
    response = assign(lee, work["red"], assignee="Ana@Acme.test")
    assert response.status_code == 303 and response.headers["location"] == f"/w/acme/mentions/{work['red']}"
    item = work_item(db, acme, "red")
    assert item.state == "assigned" and item.revision == 2
    page = lee.get(f"/w/acme/mentions/{work['red']}")
    assert "<strong>lee@acme.test</strong> work.assigned" in page.text and "ana@acme.test" in page.text

    ana = signed_in(app, "ana@acme.test")
    assert assign(ana, work["yellow"], to_me="1").status_code == 303
    assert "<strong>ana@acme.test</strong> work.assigned" in ana.get(f"/w/acme/mentions/{work['yellow']}").text


def test_refused_actions_show_the_reason_next_to_the_field(app, lee, work):
    ana = signed_in(app, "ana@acme.test")
    refused = assign(ana, work["yellow"], assignee="lee@acme.test")  # agents may only take work themselves
    assert refused.status_code == 403
    form = refused.text.split('/assign" class="action">')[1].split("</form>")[0]
    assert '<p class="error">' in form and '<p class="error"></p>' not in form
    assert 'value="lee@acme.test"' in form  # what was typed stays in the field

    nobody = assign(lee, work["yellow"], assignee="nobody@acme.test")
    assert nobody.status_code == 422 and "nobody@acme.test" in nobody.text

    illegal = move(lee, work["yellow"], "waiting")
    assert illegal.status_code == 422
    state_form = illegal.text.split('/state" class="action">')[1].split("</form>")[0]
    assert "new" in state_form.split('<p class="error">')[1].split("</p>")[0]


def test_state_form_moves_the_work_and_records_the_actor(lee, db, acme, work):
    assert assign(lee, work["yellow"], to_me="1").status_code == 303
    assert move(lee, work["yellow"], "responded").status_code == 303
    assert move(lee, work["yellow"], "resolved", reason="booking changed").status_code == 303
    item = work_item(db, acme, "yellow")
    assert item.state == "resolved" and item.first_response_at is not None
    page = lee.get(f"/w/acme/mentions/{work['yellow']}")
    assert page.text.count("<strong>lee@acme.test</strong> work.state_changed") == 2
    assert "booking changed" in page.text
    assert work["yellow"] not in mention_ids(lee.get("/w/acme/inbox").text)
    assert work["yellow"] in mention_ids(lee.get("/w/acme/inbox?state=resolved").text)


def test_a_stale_form_is_a_conflict_not_a_silent_overwrite(lee, work):
    token = csrf_token(lee, f"/w/acme/mentions/{work['red']}")
    stale = {"csrf_token": token, "revision": "1"}
    assert lee.post(f"/w/acme/mentions/{work['red']}/assign", data={**stale, "to_me": "1"}).status_code == 303
    again = lee.post(f"/w/acme/mentions/{work['red']}/state", data={**stale, "state": "resolved"})
    assert again.status_code == 409


def test_static_css_and_phone_layout(lee):
    css = lee.get("/static/firebreak.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media (max-width: 900px)" in css.text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in lee.get("/w/acme/inbox").text


@pytest.mark.parametrize(("seconds", "shown"), [
    (240.0, "4m left"), (59.0, "0m left"), (-720.0, "OVERDUE 12m"), (0.0, "OVERDUE 0m"), (3 * 3600 + 300, "3h 5m left"),
    (-3 * 86400 - 7200, "OVERDUE 3d 2h"), (None, "no clock"),
])
def test_countdown(seconds, shown):
    assert countdown(seconds) == shown
