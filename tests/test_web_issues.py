"""The issues pages: the board by stage, and an issue run through its gates, content, legal review and publishing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.accounts import service as accounts
from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.db.engine import Database
from firebreak.issues import content, service
from firebreak.issues.models import Draft, DraftVersion, Issue, IssueTask
from firebreak.settings import Settings
from firebreak.web.issues import mention_ids_of
from firebreak.workflow.actions import Actor
from tests.factories import WorkspaceFixture
from tests.issues_support import runtime_of
from tests.outbox_support import connect
from tests.web_support import PASSWORD, add_cast_with_passwords, csrf_token, ingest_work, signed_in
from tests.workflow_support import add_member

CORA = "cora@acme.test"  # communications: writes and publishes
LEE = "lee@acme.test"  # lead: opens and runs issues, may override gates
LEX = "lex@acme.test"  # legal: approves legal review
ANA = "ana@acme.test"  # agent: may do none of it
_REVISION = re.compile(r'name="revision" value="(\d+)"')


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    add_member(db, acme, CORA, ["communications"])
    with db.write() as session:
        accounts.get_user(session=session, email=CORA).password_hash = accounts.hash_password(PASSWORD)
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, int]:
    return ingest_work(app, db, acme, globex)


@pytest.fixture
def lee(app: FastAPI) -> TestClient:
    return signed_in(app, LEE)


def open_issue(db: Database, settings: Settings, ws: WorkspaceFixture, *, title: str = "Latch battery drain",
               owner: str = LEE, ago: timedelta = timedelta(0), mention_ids: tuple[int, ...] = (),
               stakeholders: tuple[tuple[str, str], ...] = ((CORA, "communications"), (LEX, "legal"))) -> int:
    """An issue opened through the service `ago` before now, owned by `owner`; its id."""
    with db.write() as session:
        runtime = runtime_of(session, settings, ws)
        user = accounts.get_user(session=session, email=owner)
        issue = service.open_issue(
            session, runtime=runtime, workspace_id=ws.id, actor=Actor(owner, frozenset({"lead"}), user.id),
            now=utcnow() - ago, title=title, severity="high", owner_email=owner, mention_ids=mention_ids,
            stakeholders=stakeholders)
        return issue.id


def move_on(db: Database, settings: Settings, ws: WorkspaceFixture, issue_id: int, stage: str) -> None:
    """Move the issue forward to `stage` past every gate (as its owner, with a reason)."""
    with db.write() as session:
        runtime = runtime_of(session, settings, ws)
        issue = session.get(Issue, issue_id)
        assert issue is not None
        user = accounts.get_user(session=session, email=LEE)
        ids = runtime.loaded.playbook.issues.stage_ids
        for target in ids[ids.index(issue.stage) + 1:ids.index(stage) + 1]:
            service.move_stage(session, runtime=runtime, workspace_id=ws.id, actor=Actor(LEE, frozenset({"lead"}),
                                                                                          user.id),
                               now=utcnow(), issue_id=issue_id, target=target, override_reason="test setup")


def post(client: TestClient, issue_id: int, action: str, **fields: Any):  # type: ignore[no-untyped-def]
    """Post one of the issue page's forms, with the page's CSRF token."""
    token = csrf_token(client, f"/w/acme/issues/{issue_id}")
    return client.post(f"/w/acme/issues/{issue_id}/{action}", data={"csrf_token": token, **fields})


def revision(client: TestClient, issue_id: int) -> str:
    found = _REVISION.search(client.get(f"/w/acme/issues/{issue_id}").text)
    assert found, "the stage form carries the issue's revision"
    return found.group(1)


def column(html: str, stage: str) -> str:
    """The HTML of one board column."""
    start = html.index(f'id="stage-{stage}"')
    end = html.find('<section class="board-column"', start)
    return html[start:end if end != -1 else html.index('<section class="open-issue"', start)]


def card(html: str, issue_id: int) -> str:
    """The HTML of one issue's card, its classes included."""
    found = re.search(rf'<li class="card[^"]*" data-issue="{issue_id}">.*?</li>', html, re.DOTALL)
    assert found, f"no card for issue {issue_id}"
    return found.group(0)


def open_required_tasks(db: Database, issue_id: int) -> list[int]:
    with db.read() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return list(session.scalars(select(IssueTask.id).where(
            IssueTask.issue_id == issue_id, IssueTask.stage == issue.stage, IssueTask.required.is_(True),
            IssueTask.done_at.is_(None)).order_by(IssueTask.id)))


def latest_version(db: Database, issue_id: int, kind: str) -> tuple[int, int]:
    """(draft id, id of its newest version) of the issue's `kind` draft."""
    with db.read() as session:
        draft = session.scalar(select(Draft).where(Draft.issue_id == issue_id, Draft.kind == kind))
        assert draft is not None, f"no {kind} draft"
        version = session.scalar(select(DraftVersion.id).where(DraftVersion.draft_id == draft.id)
                                 .order_by(DraftVersion.number.desc()).limit(1))
        assert version is not None
        return draft.id, version


def approved(client_for: Any, issue_id: int, kind: str, body: str, db: Database) -> int:
    """Write a `kind` draft as cora, send it to legal and have lex approve it, all through the forms; its version."""
    cora, lex = client_for(CORA), client_for(LEX)
    made = post(cora, issue_id, "drafts", kind=kind, title=f"The {kind}", body=body)
    assert made.status_code == 303, made.text
    draft_id, version_id = latest_version(db, issue_id, kind)
    assert made.headers["location"] == f"/w/acme/issues/{issue_id}#draft-{draft_id}"
    assert post(cora, issue_id, f"versions/{version_id}/submit").status_code == 303
    assert post(lex, issue_id, f"versions/{version_id}/review", verdict="approved").status_code == 303
    return version_id


# ---------------------------------------------------------------------------------------------- the board


def test_board_shows_cards_in_their_stage_columns_with_counts_and_overdue_marking(
        app, db, settings, acme, work, lee):  # type: ignore[no-untyped-def]
    late = open_issue(db, settings, acme, title="Checkout is down", ago=timedelta(hours=3))
    fresh = open_issue(db, settings, acme, title="Refund delays", mention_ids=(work["red"], work["yellow"]))
    moved = open_issue(db, settings, acme, title="App crashes on login", owner=CORA)
    move_on(db, settings, acme, moved, "discovery")

    page = lee.get("/w/acme/issues")
    assert page.status_code == 200
    assert page.text.count('<section class="board-column"') == 6  # one per stage of the default playbook
    ack, discovery = column(page.text, "acknowledgement"), column(page.text, "discovery")
    assert "Checkout is down" in ack and "Refund delays" in ack and "App crashes" not in ack
    assert "App crashes on login" in discovery and f'data-issue="{moved}"' in discovery
    assert '<span class="count">2</span>' in ack and '<span class="count">1</span>' in discovery
    assert '<span class="count">0</span>' in column(page.text, "aftermath")

    late_card = card(ack, late)
    assert "overdue" in late_card and re.search(r"OVERDUE (\d+m|\dh \d+m)", late_card)
    assert "0 linked" in late_card and LEE in late_card and "3h 0m in stage" in late_card
    fresh_card = card(ack, fresh)
    assert "overdue" not in fresh_card and re.search(r"1h 59m left|2h 0m left", fresh_card)
    assert "2 linked" in fresh_card
    assert ack.index(f'data-issue="{late}"') < ack.index(f'data-issue="{fresh}"')  # overdue first
    assert CORA in discovery

    closed = lee.get("/w/acme/issues?state=closed")
    assert closed.status_code == 200 and "Checkout is down" not in closed.text
    assert lee.get("/w/acme/issues?state=archived").status_code == 422


def test_open_an_issue_from_two_mentions_with_the_form(app, db, work, lee):  # type: ignore[no-untyped-def]
    token = csrf_token(lee, "/w/acme/issues")
    answer = lee.post("/w/acme/issues", data={
        "csrf_token": token, "title": "Legal threats about the outage", "severity": "critical",
        "summary": "Two customers threaten to sue.", "mention_id": [str(work["overdue"]), str(work["red"])]})
    assert answer.status_code == 303
    issue_id = int(answer.headers["location"].rsplit("/", 1)[1])
    page = lee.get(answer.headers["location"])
    assert page.status_code == 200
    assert "Legal threats about the outage" in page.text and "Two customers threaten to sue." in page.text
    linked = page.text[page.text.index('id="mentions"'):page.text.index('id="close"')]
    assert f'href="/w/acme/mentions/{work["overdue"]}"' in linked and f'href="/w/acme/mentions/{work["red"]}"' in linked
    assert 'class="flag flag-red"' in linked and "<small>2</small>" in linked
    with db.read() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.opened_from == "mentions" and issue.severity == "critical"

    # The mention page links one more and comes back to itself; a foreign or made-up id is refused on the page.
    linked = post(lee, issue_id, "links", mention_id=str(work["yellow"]), next=f"/w/acme/mentions/{work['yellow']}")
    assert linked.status_code == 303 and linked.headers["location"] == f"/w/acme/mentions/{work['yellow']}"
    offsite = post(lee, issue_id, "links", mention_id=str(work["green"]), next="//evil.example/")
    assert offsite.headers["location"] == "/"
    refused = post(lee, issue_id, "links", mention_id=f"{work['green']}, x")
    assert refused.status_code == 422 and "mention id &#39;x&#39; is not a mention&#39;s number" in refused.text
    unlinked = post(lee, issue_id, "links/remove", mention_id=str(work["red"]))
    assert unlinked.status_code == 303 and unlinked.headers["location"].endswith("#mentions")
    assert "<small>3</small>" in lee.get(f"/w/acme/issues/{issue_id}").text  # overdue, yellow, green

    # The board pre-fills the form from mention ids (the mention page's link) and refuses a foreign mention.
    prefilled = lee.get(f"/w/acme/issues?mention_id={work['green']}")
    assert f'name="mention_id" value="{work["green"]}"' in prefilled.text
    refused = lee.post("/w/acme/issues", data={"csrf_token": token, "title": "Globex's problem",
                                               "mention_id": str(work["globex"])})
    assert refused.status_code == 422 and f"no mention {work['globex']} in this workspace" in refused.text
    assert 'value="Globex&#39;s problem"' in refused.text  # what was typed is kept

    ana = signed_in(app, ANA)
    forbidden = ana.post("/w/acme/issues", data={"csrf_token": csrf_token(ana, "/w/acme/issues"), "title": "Mine"})
    assert forbidden.status_code == 403 and "open_issue" in forbidden.text
    assert "may not open issues" in ana.get("/w/acme/issues").text
    no_token = lee.post("/w/acme/issues", data={"title": "No token"})
    assert no_token.status_code == 403


# ---------------------------------------------------------------------------------------------- the lifecycle


def test_stage_gates_refuse_then_pass_through_the_forms(app, db, settings, acme, work, lee):  # type: ignore[no-untyped-def]
    issue_id = open_issue(db, settings, acme, mention_ids=(work["red"],))
    clients = {LEE: lee}

    def client_for(email: str) -> TestClient:
        return clients.setdefault(email, signed_in(app, email))

    page = lee.get(f"/w/acme/issues/{issue_id}")
    assert "What blocks leaving Acknowledgement" in page.text
    assert "publish the approved text" in page.text and "1 required task is open" in page.text

    # Acknowledgement: refused while nothing is published and a required task is open.
    blocked = post(lee, issue_id, "stage", stage="discovery", revision=revision(lee, issue_id))
    assert blocked.status_code == 422
    assert "acknowledgement cannot be left yet" in blocked.text and 'class="error"' in blocked.text
    version_id = approved(client_for, issue_id, "acknowledgement", "We know. We are on it.", db)
    published = post(client_for(CORA), issue_id, "publish", version_id=str(version_id), slug="we-know",
                     reply_in_threads="1")
    assert published.status_code == 303 and published.headers["location"].endswith("#publish")
    for task_id in open_required_tasks(db, issue_id):
        done = post(lee, issue_id, f"tasks/{task_id}/complete")
        assert done.status_code == 303 and done.headers["location"].endswith(f"#task-{task_id}")
    assert "Nothing blocks leaving Acknowledgement" in lee.get(f"/w/acme/issues/{issue_id}").text
    stale = revision(lee, issue_id)
    moved = post(lee, issue_id, "stage", stage="discovery", revision=stale)
    assert moved.status_code == 303 and moved.headers["location"].endswith("#stage")

    # Discovery: the decision gate; a stale revision is refused; a lead may override with a reason.
    for task_id in open_required_tasks(db, issue_id):
        assert post(lee, issue_id, f"tasks/{task_id}/complete").status_code == 303
    blocked = post(lee, issue_id, "stage", stage="internal_discussion", revision=revision(lee, issue_id))
    assert blocked.status_code == 422 and "record the one-off / systemic decision" in blocked.text
    conflict = post(lee, issue_id, "decision", decision="systemic", reason="All on firmware 5.3", revision=stale)
    assert conflict.status_code == 409 and "changed since you loaded it" in conflict.text
    no_reason = post(lee, issue_id, "decision", decision="systemic", reason="", revision=revision(lee, issue_id))
    assert no_reason.status_code == 422 and "say why it is systemic" in no_reason.text
    decided = post(lee, issue_id, "decision", decision="systemic", reason="All on firmware 5.3",
                   revision=revision(lee, issue_id))
    assert decided.status_code == 303 and decided.headers["location"].endswith("#decision")
    assert post(lee, issue_id, "stage", stage="internal_discussion",
                revision=revision(lee, issue_id)).status_code == 303

    # Internal discussion: the agent may not move it; the lead overrides the open tasks with a reason.
    ana = client_for(ANA)
    refused = post(ana, issue_id, "stage", stage="content_approval", revision=revision(ana, issue_id),
                   override_reason="because")
    assert refused.status_code == 403 and "may not move the issue between stages" in refused.text
    overridden = post(lee, issue_id, "stage", stage="content_approval", revision=revision(lee, issue_id),
                      override_reason="the stakeholders met by phone")
    assert overridden.status_code == 303
    back = post(lee, issue_id, "stage", stage="discovery", revision=revision(lee, issue_id))
    assert back.status_code == 303
    page = lee.get(f"/w/acme/issues/{issue_id}")
    assert "stage <strong>Discovery / confirmation</strong>" in page.text
    assert "gate overridden by lee@acme.test: the stakeholders met by phone" in page.text
    timeline = page.text[page.text.index('id="timeline"'):]
    kinds = re.findall(r'<span class="event-kind">([a-z_.]+)</span>', timeline)
    assert kinds[0] == "issue.opened" and kinds.count("stage.moved") == 4 and "gate.overridden" in kinds
    assert kinds.index("decision.recorded") < kinds.index("gate.overridden")


def test_legal_approval_is_refused_for_an_agent_and_accepted_for_legal(app, db, settings, acme, lee):  # type: ignore[no-untyped-def]
    issue_id = open_issue(db, settings, acme)
    cora, lex, ana = signed_in(app, CORA), signed_in(app, LEX), signed_in(app, ANA)
    assert post(cora, issue_id, "drafts", kind="response", title="What happened",
                body="Line one.\nLine two.").status_code == 303
    draft_id, first = latest_version(db, issue_id, "response")
    added = post(cora, issue_id, f"drafts/{draft_id}/versions", body="Line one.\nLine 2, better.", based_on="1")
    assert added.status_code == 303 and added.headers["location"].endswith(f"#draft-{draft_id}")
    _, second = latest_version(db, issue_id, "response")
    stale = post(cora, issue_id, f"drafts/{draft_id}/versions", body="Someone else's words", based_on="1")
    assert stale.status_code == 409 and "someone added a version since you started" in stale.text
    assert post(cora, issue_id, f"versions/{second}/submit").status_code == 303

    # The diff between the versions, with + and - lines classed.
    page = ana.get(f"/w/acme/issues/{issue_id}")
    assert '<span class="diff-del">-Line two.</span>' in page.text
    assert '<span class="diff-add">+Line 2, better.</span>' in page.text
    asked = ana.get(f"/w/acme/issues/{issue_id}?draft={draft_id}&from=2&to=1")
    assert '<span class="diff-add">+Line two.</span>' in asked.text
    assert ana.get(f"/w/acme/issues/{issue_id}?draft={draft_id}&from=1&to=7").status_code == 422

    # An agent sees the verdict buttons disabled, and why; posting anyway is refused by the domain.
    review_form = page.text[page.text.index(f"/versions/{second}/review"):].split("</form>")[0]
    assert "<fieldset disabled>" in review_form and "only legal approves legal review" in review_form
    refused = post(ana, issue_id, f"versions/{second}/review", verdict="approved")
    assert refused.status_code == 403 and "only legal can approve legal review" in refused.text
    legal_page = lex.get(f"/w/acme/issues/{issue_id}").text
    legal_form = legal_page[legal_page.index(f"/versions/{second}/review"):].split("</form>")[0]
    assert "disabled" not in legal_form
    needs_comment = post(lex, issue_id, f"versions/{second}/review", verdict="changes_requested")
    assert needs_comment.status_code == 422 and "needs a comment" in needs_comment.text
    accepted = post(lex, issue_id, f"versions/{second}/review", verdict="approved", comment="Fine to publish.")
    assert accepted.status_code == 303 and accepted.headers["location"].endswith(f"#draft-{draft_id}")

    page = cora.get(f"/w/acme/issues/{issue_id}").text
    assert "version 2 approved" in page and "This version is locked" in page and "Fine to publish." in page
    again = post(lex, issue_id, f"versions/{second}/review", verdict="approved")
    assert again.status_code == 422 and "approved and locked" in again.text
    commented = post(ana, issue_id, f"versions/{first}/comments", text="Version one was shorter.")
    assert commented.status_code == 303
    assert "Version one was shorter." in cora.get(f"/w/acme/issues/{issue_id}").text


def test_publishing_an_approved_version_puts_it_on_the_public_newsroom(
        app, db, settings, acme, work, lee):  # type: ignore[no-untyped-def]
    issue_id = open_issue(db, settings, acme, title="Checkout errors", mention_ids=(work["red"],))
    clients: dict[str, TestClient] = {}

    def client_for(email: str) -> TestClient:
        return clients.setdefault(email, signed_in(app, email))

    connect(db, acme, "x-main", "http://127.0.0.1:9/outbox")  # nothing delivers here: no worker runs
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert "No approved version yet" in page and "cannot send: channel &#39;hooks" in page
    version_id = approved(client_for, issue_id, "response", "Payments failed for an hour.\n\nRefunds are on their way.",
                          db)
    ana = client_for(ANA)
    refused = post(ana, issue_id, "publish", version_id=str(version_id))
    assert refused.status_code == 403 and "may not publish" in refused.text
    published = post(client_for(CORA), issue_id, "publish", version_id=str(version_id), slug="checkout-errors",
                     channel="x-main", reply_in_threads="1")
    assert published.status_code == 303, published.text
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert 'href="/newsroom/acme/checkout-errors"' in page
    outbox = page[page.index("Posts and replies through the outbox"):].split("</table>")[0]
    assert outbox.count('<tr class="outbox-pending">') == 2  # the post on x-main and the reply in the red thread
    assert "<td>post</td>" in outbox and "<td>reply</td>" in outbox
    assert "content.published" in page

    public = TestClient(app).get("/newsroom/acme/checkout-errors")
    assert public.status_code == 200 and "Refunds are on their way." in public.text
    twice = post(client_for(CORA), issue_id, "publish", version_id=str(version_id))
    assert twice.status_code == 409 and "already published" in twice.text


def test_aftermath_summary_follow_ups_and_closing(app, db, settings, acme, work, lee):  # type: ignore[no-untyped-def]
    issue_id = open_issue(db, settings, acme, mention_ids=(work["overdue"], work["overdue_old"], work["red"]))
    early = post(lee, issue_id, "close", reason="", revision=revision(lee, issue_id))
    assert early.status_code == 422 and "needs a reason" in early.text
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert '<figure class="chart">' in page and "Linked mentions by channel" in page
    assert "Threads, busiest first" in page
    assert 'id="aftermath"' not in page

    move_on(db, settings, acme, issue_id, "aftermath")
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert 'id="aftermath"' in page and f'href="/w/acme/issues/{issue_id}/summary"' in page
    assert "Time in each stage" in page and "Follow-ups" in page
    summary = lee.get(f"/w/acme/issues/{issue_id}/summary")
    assert summary.status_code == 200 and "executive summary" in summary.text
    assert "style-src 'unsafe-inline'" in summary.headers["content-security-policy"]

    authors = re.findall(rf"/w/acme/issues/{issue_id}/follow-ups/(\d+)", page)
    assert authors, "the complaining authors are listed to follow up"
    assert post(lee, issue_id, f"follow-ups/{authors[0]}", note="Called them").status_code == 303
    lesson = post(lee, issue_id, "lessons", text="Page legal earlier", proposed_change="not: [a playbook section")
    assert lesson.status_code == 422
    assert post(lee, issue_id, "lessons", text="Page legal earlier").status_code == 303
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert "Called them" in page and "Page legal earlier" in page

    closed = post(lee, issue_id, "close", reason="", revision=revision(lee, issue_id))
    assert closed.status_code == 303 and closed.headers["location"].endswith("#close")
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert 'class="state state-closed"' in page and f"{issue_id}/stage" not in page  # no forms on a closed issue
    assert "Latch battery drain" in lee.get("/w/acme/issues?state=closed").text


# ---------------------------------------------------------------------------------------------- tenancy, escaping


def test_an_issue_of_another_workspace_is_not_found(app, db, settings, acme, globex, lee):  # type: ignore[no-untyped-def]
    ours = open_issue(db, settings, acme)
    add_member(db, globex, "gil@globex.test", ["lead"])
    with db.write() as session:
        runtime = runtime_of(session, settings, globex)
        user = accounts.get_user(session=session, email="gil@globex.test")
        theirs = service.open_issue(session, runtime=runtime, workspace_id=globex.id,
                                    actor=Actor(user.email, frozenset({"lead"}), user.id), now=utcnow(),
                                    title="Globex secret", owner_email=user.email).id
    for path in (f"/w/acme/issues/{theirs}", f"/w/acme/issues/{theirs}/summary", "/w/acme/issues/999999",
                 f"/w/acme/issues/{2**64}"):
        answer = lee.get(path)
        assert answer.status_code == 404 and "Globex secret" not in answer.text, path
    token = csrf_token(lee, f"/w/acme/issues/{ours}")
    for action in ("stage", "decision", "close", "tasks", "links", "publish"):
        answer = lee.post(f"/w/acme/issues/{theirs}/{action}", data={"csrf_token": token, "stage": "discovery"})
        assert answer.status_code == 404, action
    too_big = lee.post(f"/w/acme/issues/{ours}/tasks/{2**63}/complete", data={"csrf_token": token})
    assert too_big.status_code == 404
    gus = signed_in(app, "gus@globex.test")
    assert gus.get(f"/w/acme/issues/{ours}").status_code == 404
    assert gus.get("/w/acme/issues").status_code == 404
    with db.read() as session:
        issue = session.get(Issue, theirs)
        assert issue is not None and issue.stage == "acknowledgement" and issue.revision == 1


def test_a_hostile_title_and_text_are_escaped(app, db, settings, acme, lee):  # type: ignore[no-untyped-def]
    hostile = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    token = csrf_token(lee, "/w/acme/issues")
    answer = lee.post("/w/acme/issues", data={"csrf_token": token, "title": hostile, "severity": "low",
                                              "summary": "</textarea><b>bold</b>"})
    assert answer.status_code == 303
    issue_id = int(answer.headers["location"].rsplit("/", 1)[1])
    cora = signed_in(app, CORA)
    assert post(cora, issue_id, "drafts", kind="faq", title="<i>FAQ</i>", body="<svg onload=alert(2)>").status_code \
        == 303
    for page in (lee.get("/w/acme/issues").text, lee.get(f"/w/acme/issues/{issue_id}").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    page = lee.get(f"/w/acme/issues/{issue_id}").text
    assert "<b>bold</b>" not in page and "<svg onload" not in page and "<i>FAQ</i>" not in page
    assert "&lt;svg onload=alert(2)&gt;" in page


def test_mention_ids_are_read_from_repeated_and_comma_separated_fields() -> None:
    assert mention_ids_of(["12", "15, 16", " 12 ", ""]) == [12, 15, 16]
    for wrong in ("12, abc", "²", "0", str(2**63)):
        with pytest.raises(InvalidInput, match="is not a mention's number"):
            mention_ids_of([wrong])
    assert content.MAX_BODY < 1024 * 1024  # a whole version fits the long form limit
