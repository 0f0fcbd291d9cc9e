"""The inbox and mention detail pages: urgency order, filters in the URL, the assessment, and the action forms."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.web.templating import countdown
from tests.factories import WorkspaceFixture
from tests.web_support import add_cast_with_passwords, csrf_token, ingest_work, mention_ids, signed_in


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
    for query, words in (("flag=purple", "Unknown flag &#39;purple&#39;"),
                         ("queue=nowhere", "Unknown queue &#39;nowhere&#39;; queues are care_general"),
                         ("state=snoozed", "Unknown state"),
                         ("assignee=gus%40globex.test", "is not a member of this workspace")):
        page = lee.get(f"/w/acme/inbox?{query}")
        assert page.status_code == 422 and words in page.text, query
        assert mention_ids(page.text) == []


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
