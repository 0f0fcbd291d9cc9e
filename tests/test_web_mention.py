"""The mention page: the post, triage reasons, the assessment path, clocks, the audit trail and the action forms."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.settings import Settings
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


def test_detail_shows_text_reasons_assessment_path_clocks_and_audit(lee, work):
    page = lee.get(f"/w/acme/mentions/{work['overdue']}")
    assert page.status_code == 200
    text = page.text
    assert "see you in court @acme" in text and 'class="flag flag-red"' in text
    assert "Is this a red flag?" in text and "<strong>yes, red flag</strong>" in text
    for consideration in ("transparency", "sourcing", "timeliness", "tone", "influence"):
        assert f"<dt>{consideration}</dt>" in text
    assert re.search(r'<ul class="reasons">\s*<li>[^<]*court', text)
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
    form = refused.text.split('/assign" class="action" id="assign">')[1].split("</form>")[0]
    assert '<p class="error" role="alert">' in form and '<p class="error" role="alert"></p>' not in form
    assert 'value="lee@acme.test"' in form  # what was typed stays in the field

    nobody = assign(lee, work["yellow"], assignee="nobody@acme.test")
    assert nobody.status_code == 422 and "nobody@acme.test" in nobody.text

    illegal = move(lee, work["yellow"], "waiting")
    assert illegal.status_code == 422
    state_form = illegal.text.split('/state" class="action" id="state">')[1].split("</form>")[0]
    assert "new" in state_form.split('<p class="error" role="alert">')[1].split("</p>")[0]


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
