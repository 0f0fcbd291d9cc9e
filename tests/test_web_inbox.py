"""The inbox page: rows with what an agent needs, filters in the URL and the form, the sort toggle, pages by cursor,
bulk actions through the workflow (with refusals said row by row), and the live event stream."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.issues.models import IssueMention
from firebreak.settings import Settings
from firebreak.web import live
from firebreak.web.templating import countdown
from firebreak.worker import BackgroundWorker
from firebreak.workflow.models import WorkItem
from tests.factories import WorkspaceFixture
from tests.issues_support import open_test_issue
from tests.live_server import serve_app
from tests.web_support import (
    PASSWORD,
    add_cast_with_passwords,
    csrf_token,
    ingest_one,
    ingest_work,
    mention_ids,
    signed_in,
)

URGENT_ORDER = ("overdue_old", "overdue", "red", "yellow", "green")


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


def rows_of(html: str) -> list[str]:
    """The table rows of the inbox, as HTML."""
    body = html.split('<table class="inbox" id="inbox-rows">')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [row for row in body.split("</tr>") if "data-mention" in row]


def item(db: Database, mention_id: int) -> WorkItem:
    with db.read() as session:
        found = session.get(WorkItem, mention_id)
        assert found is not None
        session.expunge(found)
    return found


def bulk(client: TestClient, action: str, ids: list[int], back: str = "", **fields: str) -> httpx.Response:
    token = csrf_token(client, "/w/acme/inbox")
    return client.post("/w/acme/inbox/bulk", data={"csrf_token": token, "action": action, "mention_id": ids,
                                                   "back": back, **fields})


# ---------------------------------------------------------------------------------------------- rows and order


def test_rows_show_flag_category_channel_author_action_and_countdown_most_urgent_first(lee, work):
    page = lee.get("/w/acme/inbox")
    assert page.status_code == 200
    assert mention_ids(page.text) == [work[name] for name in URGENT_ORDER]
    assert work["globex"] not in mention_ids(page.text)
    first = rows_of(page.text)[0]
    assert re.search(r'data-due="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">OVERDUE (1\d\dm|2h \d+m)<', first)
    for shown in ('class="flag flag-red"', "legal_threat", "x-main", "@pat · 1,200 followers · customer",
                  '<td class="action">escalate</td>', '<td class="state">new</td>', "unassigned",
                  f'<input type="checkbox" name="mention_id" value="{work["overdue_old"]}" form="bulk"',
                  'value="assign_me">Take</button>'):
        assert shown in first, shown
    red = rows_of(page.text)[2]
    assert re.search(r">[0-4]m left<", red) and 'class="sla soon"' in red
    assert '<script src="/static/inbox.js" defer></script>' in page.text
    assert 'href="/static/inbox.css"' in page.text


def test_newest_first_is_a_toggle_that_keeps_the_filters(lee, work):
    page = lee.get("/w/acme/inbox?flag=red")
    newest_link = re.search(r'<a href="([^"]+)">Newest</a>', page.text)
    assert newest_link, "the sort toggle links to the newest order"
    target = newest_link.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(target).query) == {"flag": ["red"], "sort": ["newest"]}
    newest = lee.get(target)
    assert mention_ids(newest.text) == [work["red"], work["overdue"], work["overdue_old"]]
    assert '<a href="/w/acme/inbox?flag=red&amp;sort=newest" aria-current="true">Newest</a>' in newest.text
    assert '<input type="hidden" name="sort" value="newest">' in newest.text  # filtering keeps the order


def test_mention_text_and_author_are_escaped(app, db, acme, lee):
    ingest_one(db, acme, "xss", "<script>alert(1)</script> see you in court", utcnow(),
               author={"handle": "<b>bold</b>", "tags": ["<i>"]})
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    page = lee.get("/w/acme/inbox")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>bold</b>" not in page.text and "@&lt;b&gt;bold&lt;/b&gt;" in page.text


# ---------------------------------------------------------------------------------------------- filters


def test_each_filter_is_a_query_parameter_shown_in_the_form(app, db, acme, lee, work):
    hooked = ingest_one(db, acme, "hook1", "Please change my booking XYZ999 to Monday", utcnow(), channel="hooks")
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    assert bulk(lee, "assign", [work["yellow"]], assignee="ana@acme.test").status_code == 303
    assert bulk(lee, "assign_me", [work["red"]]).status_code == 303
    assert bulk(lee, "close", [work["green"]], reason="answered by phone").status_code == 303

    def ids(query: str) -> list[int]:
        page = lee.get(f"/w/acme/inbox?{query}")
        assert page.status_code == 200, page.text
        return mention_ids(page.text)

    assert ids("flag=red") == [work["overdue_old"], work["overdue"], work["red"]]
    assert ids("category=transaction_request") == [work["yellow"], hooked]
    assert ids("channel=hooks") == [hooked]
    assert ids("queue=escalations") == [work["overdue_old"], work["overdue"], work["red"]]
    assert ids("state=new") == [work["overdue_old"], work["overdue"], hooked]
    assert ids("state=closed") == [work["green"]]
    assert set(ids("state=all")) == {work[name] for name in URGENT_ORDER} | {hooked}
    assert ids("assignee=me") == [work["red"]]
    assert ids("assignee=ana%40acme.test") == [work["yellow"]]
    assert ids("assignee=unassigned&flag=red") == [work["overdue_old"], work["overdue"]]
    assert ids("since=1h") == [work["red"], work["yellow"], hooked]
    assert ids("q=court") == [work["overdue"]]
    assert ids("q=booking&sort=newest") == [hooked, work["yellow"]]
    today = utcnow().date()
    assert ids(f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}") == ids("")
    assert ids(f"to={today - timedelta(days=2)}") == []

    page = lee.get("/w/acme/inbox?flag=red&assignee=unassigned&q=lawyer&since=24h&channel=x-main"
                   "&category=legal_threat&queue=escalations&state=new")
    for selected in ('<option value="red" selected>', '<option value="unassigned" selected>',
                     '<option value="24h" selected>', '<option value="x-main" selected>',
                     '<option value="legal_threat" selected>', '<option value="escalations" selected>',
                     '<option value="new" selected>', 'name="q" value="lawyer"'):
        assert selected in page.text, selected
    assert mention_ids(page.text) == [work["overdue_old"]]


def test_bad_filters_are_named_next_to_their_field(lee, work):
    for query, field, words in (
            ("flag=purple", "flag", "Unknown flag &#39;purple&#39;"),
            ("queue=nowhere", "queue", "Unknown queue &#39;nowhere&#39;; queues are care_general"),
            ("state=snoozed", "state", "Unknown state &#39;snoozed&#39;"),
            ("assignee=gus%40globex.test", "assignee", "is not a member of this workspace"),
            ("channel=globex-only", "channel", "There is no channel"),
            ("category=gossip", "category", "Unknown category"),
            ("since=2h", "since", "Unknown window"),
            ("from=yesterday", "from", "is not an ISO date"),
            ("q=%21%21%21", "q", "at least one word"),
            ("sort=oldest", "sort", "Unknown order"),
            ("cursor=garbage", "cursor", "damaged or out of date")):
        page = lee.get(f"/w/acme/inbox?{query}")
        assert page.status_code == 422, query
        assert re.search(rf'<p class="error" role="alert" id="{field}-error">[^<]*{words}', page.text), query
        assert mention_ids(page.text) == []


def test_pages_follow_the_cursor_and_keep_the_filters(app, db, acme, lee):
    now = utcnow()
    newest_first = [ingest_one(db, acme, f"p{n}", f"Please change my booking REF{n:03d} to Friday",
                               now - timedelta(seconds=n)) for n in range(57)]
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    first = lee.get("/w/acme/inbox?flag=yellow&sort=newest")
    assert len(mention_ids(first.text)) == 50 and "First page" not in first.text
    found = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert found
    next_url = found.group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(next_url).query)
    assert query["flag"] == ["yellow"] and query["sort"] == ["newest"] and query["cursor"][0]
    second = lee.get(next_url)
    assert len(mention_ids(second.text)) == 7 and "Next page" not in second.text
    assert 'href="/w/acme/inbox?flag=yellow&amp;sort=newest">First page</a>' in second.text
    assert mention_ids(first.text) + mention_ids(second.text) == newest_first
    # The newest-order cursor does not fit the urgency order: said, not guessed.
    wrong = lee.get(next_url.replace("sort=newest", "sort=urgency"))
    assert wrong.status_code == 422 and "newest order" in wrong.text


# ---------------------------------------------------------------------------------------------- bulk actions


def test_bulk_assign_to_me_says_what_was_refused_and_changes_nothing_foreign(app, db, acme, lee, work):
    assert bulk(lee, "close", [work["green"]], reason="spam").status_code == 303
    globex_before = item(db, work["globex"])
    answer = bulk(lee, "assign_me", [work["red"], work["yellow"], work["green"], work["globex"]], back="flag=red")
    assert answer.status_code == 422
    notice = re.search(r'<p class="refused" role="alert">([^<]+)</p>', answer.text)
    assert notice, answer.text
    assert notice.group(1) == (f"2 assigned to you, 2 refused: #{work['green']} is closed; reopen it before "
                               f"assigning; #{work['globex']} is not work in this workspace")
    assert mention_ids(answer.text) == [work["overdue_old"], work["overdue"], work["red"]]  # back on flag=red
    for name in ("red", "yellow"):
        assert (item(db, work[name]).state, item(db, work[name]).assignee_id) == ("assigned", lee_id(db))
    assert item(db, work["green"]).state == "closed" and item(db, work["green"]).assignee_id is None
    after = item(db, work["globex"])
    assert (after.state, after.assignee_id, after.revision) == (globex_before.state, globex_before.assignee_id,
                                                                globex_before.revision)


def lee_id(db: Database) -> int:
    from firebreak.accounts import service as accounts

    with db.read() as session:
        return accounts.get_user(session=session, email="lee@acme.test").id


def test_bulk_assign_and_close_go_back_to_the_same_view_saying_what_was_done(app, db, lee, work):
    answer = bulk(lee, "assign", [work["overdue"], work["overdue_old"]], back="flag=red&sort=newest",
                  assignee="ana@acme.test")
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert parse_qs(urlsplit(target).query) == {"flag": ["red"], "sort": ["newest"], "done": ["assign"],
                                                "count": ["2"]}
    assert '<p class="notice" role="status">2 assigned.</p>' in lee.get(target).text
    assert {item(db, work[n]).state for n in ("overdue", "overdue_old")} == {"assigned"}

    refused = bulk(lee, "close", [work["yellow"]])
    assert refused.status_code == 422 and "never answered needs a reason" in refused.text
    assert item(db, work["yellow"]).state == "new"
    assert bulk(lee, "close", [work["yellow"]], reason="duplicate of a DM").status_code == 303
    assert item(db, work["yellow"]).state == "closed"

    ana = signed_in(app, "ana@acme.test")  # an agent may not close work, nor give it to others
    for action, fields in (("close", {"reason": "no"}), ("assign", {"assignee": "lee@acme.test"})):
        answer = bulk(ana, action, [work["green"]], **fields)
        assert answer.status_code == 403 and "permission" in answer.text, action
    assert item(db, work["green"]).state == "new"


def test_bulk_link_goes_through_the_issue_service(app, db, settings, acme, lee, work):
    issue_id = open_test_issue(db, settings, acme, owner="lee@acme.test", stakeholders=(), as_email="lee@acme.test",
                               now=utcnow())
    page = lee.get("/w/acme/inbox")
    assert f'<option value="{issue_id}">#1 Latch battery drain</option>' in page.text
    answer = bulk(lee, "link", [work["red"], work["overdue"], work["globex"]], issue_id=str(issue_id))
    assert answer.status_code == 422
    assert f"2 linked, 1 refused: #{work['globex']} is not work in this workspace" in answer.text
    again = bulk(lee, "link", [work["red"]], issue_id=str(issue_id))
    assert again.status_code == 303 and "done=link&count=1" in again.headers["location"]
    with db.read() as session:
        linked = set(session.scalars(select(IssueMention.mention_id).where(IssueMention.issue_id == issue_id)))
    assert linked == {work["red"], work["overdue"]}
    for bad in ("", "999999", "abc"):
        answer = bulk(lee, "link", [work["yellow"]], issue_id=bad)
        assert answer.status_code == 422 and "Choose an open issue of this workspace" in answer.text, bad


def test_bulk_refuses_bad_forms_whole(app, lee, work):
    for action, ids, fields, words in (
            ("delete", [work["red"]], {}, "Unknown bulk action"),
            ("assign_me", [], {}, "Tick at least one mention"),
            ("assign_me", ["12x"], {}, "whole numbers"),
            ("assign", [work["red"]], {}, "e-mail of the member"),
            ("assign_me", list(range(1, 203)), {}, "at most 200")):
        answer = bulk(lee, action, ids, **fields)
        assert answer.status_code == 422 and words in answer.text, action
        assert re.search(r'id="bulk-error">[^<]+', answer.text)


def test_bulk_needs_the_token_and_a_member(app, db, lee, work):
    no_token = lee.post("/w/acme/inbox/bulk", data={"action": "assign_me", "mention_id": [work["red"]]})
    assert no_token.status_code == 403
    gus = signed_in(app, "gus@globex.test")
    token = csrf_token(gus, "/w/globex/inbox")
    foreign = gus.post("/w/acme/inbox/bulk", data={"csrf_token": token, "action": "assign_me",
                                                    "mention_id": [work["red"]]})
    assert foreign.status_code == 404
    assert item(db, work["red"]).assignee_id is None


def test_a_rows_take_button_is_a_one_row_bulk_form(lee, db, work):
    page = lee.get("/w/acme/inbox?flag=red")
    form = rows_of(page.text)[0].split('<td class="take">')[1]
    assert 'action="/w/acme/inbox/bulk"' in form and f'name="mention_id" value="{work["overdue_old"]}"' in form
    back = re.search(r'name="back" value="([^"]*)"', form)
    assert back and back.group(1) == "flag=red"
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    answer = lee.post("/w/acme/inbox/bulk", data={"csrf_token": token.group(1), "back": back.group(1),
                                                   "mention_id": work["overdue_old"], "action": "assign_me"})
    assert answer.status_code == 303 and item(db, work["overdue_old"]).state == "assigned"


def test_the_inbox_files_are_served_and_the_page_fits_a_phone(lee):
    for path, kind in (("/static/inbox.css", "text/css"), ("/static/inbox.js", "text/javascript")):
        answer = lee.get(path)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), path
    assert "@media (max-width: 900px)" in lee.get("/static/inbox.css").text
    page = lee.get("/w/acme/inbox")
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and " style=" not in page.text and " onclick=" not in page.text


@pytest.mark.parametrize(("seconds", "shown"), [
    (240.0, "4m left"), (59.0, "0m left"), (-720.0, "OVERDUE 12m"), (0.0, "OVERDUE 0m"), (3 * 3600 + 300, "3h 5m left"),
    (-3 * 86400 - 7200, "OVERDUE 3d 2h"), (None, "no clock"),
])
def test_countdown(seconds, shown):
    assert countdown(seconds) == shown


# ---------------------------------------------------------------------------------------------- live events


class EventReader:
    """Reads a server-sent event stream on a thread, so a test can wait for what it expects with a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response.iter_lines():
                with self.lock:
                    self.lines.append(line)
        except (httpx.HTTPError, RuntimeError):
            pass

    def events(self) -> list[dict[str, str]]:
        """The complete events so far: {"id", "event", "data"} (comments and `retry` under their names too)."""
        found, current = [], {}
        with self.lock:
            lines = list(self.lines)
        for line in lines:
            if line == "":
                if current:
                    found.append(current)
                current = {}
                continue
            name, _, value = line.partition(":")
            current[name or "comment"] = value[1:] if value.startswith(" ") else value
        return found

    def wait_for(self, check, seconds: float = 8.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for event in self.events():
                if check(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such event within {seconds}s; got {self.events()}")


@pytest.fixture
def served(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.6)
    with serve_app(app) as base_url:
        yield base_url


def browser_for(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token
    answer = client.post("/sign-in", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD,
                                           "next": "/"})
    assert answer.status_code == 303
    return client


def wait_until(check, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_mention_ingested_after_the_stream_opens_is_an_event_within_seconds(app, db, acme, globex, work, served):
    client = browser_for(served, "lee@acme.test")
    page = client.get("/w/acme/inbox?flag=red")
    events_url = re.search(r'data-events="([^"]+)"', page.text)
    assert events_url
    with client.stream("GET", events_url.group(1).replace("&amp;", "&")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        reader = EventReader(response)
        reader.wait_for(lambda e: e.get("retry") == "3000")
        reader.wait_for(lambda e: e.get("comment") == "keep-alive")  # the heartbeat, quickened for the test
        assert not [e for e in reader.events() if e.get("event") == "work"], "the page's own work is not news"
        started = time.monotonic()
        red = ingest_one(db, acme, "late-red", "see you in court, acme", utcnow())
        yellow = ingest_one(db, acme, "late-yellow", "Please change my booking QQ1 to Friday", utcnow())
        ingest_one(db, globex, "late-globex", "see you in court, globex", utcnow())
        BackgroundWorker(db, app.state.services.pipeline()).drain()
        event = reader.wait_for(lambda e: e.get("event") == "work")
        assert time.monotonic() - started < 5
        changes = json.loads(event["data"])["changes"]
        assert {(c["mention_id"], c["created"], c["matches"]) for c in changes} == {(red, True, True),
                                                                                      (yellow, True, False)}
        assert event["id"]
        assert live.streams_of(app).open == 1
    wait_until(lambda: live.streams_of(app).open == 0)  # the client went away: the stream ended


def test_a_reconnecting_client_hears_what_it_missed(app, db, acme, lee, work, served):
    client = browser_for(served, "lee@acme.test")
    with client.stream("GET", "/w/acme/inbox/events") as response:
        reader = EventReader(response)
        reader.wait_for(lambda e: e.get("comment") == "connected")
        first = ingest_one(db, acme, "r1", "see you in court, acme", utcnow())
        BackgroundWorker(db, app.state.services.pipeline()).drain()
        seen = reader.wait_for(lambda e: e.get("event") == "work")
    missed = ingest_one(db, acme, "r2", "My lawyer will be in touch, acme", utcnow())
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    with client.stream("GET", "/w/acme/inbox/events", headers={"Last-Event-ID": seen["id"]}) as response:
        reader = EventReader(response)
        event = reader.wait_for(lambda e: e.get("event") == "work" and missed in
                                {c["mention_id"] for c in json.loads(e["data"])["changes"]})
        repeated = {c["mention_id"] for c in json.loads(event["data"])["changes"]}
        # The lookback window may repeat changes the client had (it knows them by item and revision); never
        # another workspace's.
        assert missed in repeated and first in repeated and work["globex"] not in repeated


def test_the_stream_is_for_signed_in_members_only(app, work, served):
    gus = browser_for(served, "gus@globex.test")
    assert gus.get("/w/acme/inbox/events").status_code == 404
    anonymous = httpx.Client(base_url=served, follow_redirects=False, timeout=10)
    answer = anonymous.get("/w/acme/inbox/events")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
    lee = browser_for(served, "lee@acme.test")
    assert lee.get("/w/acme/inbox/events?flag=purple").status_code == 422
