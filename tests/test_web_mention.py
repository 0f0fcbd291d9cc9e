"""The mention page: the post in its thread, the author card, the assessment, clocks, audit trail and every action form.

Real people sign in with passwords; mentions go through the app's own pipeline; replies and moderations
land in the real outbox; escalations make real alert rows.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.issues.models import Issue, IssueMention
from firebreak.outbox.models import OutboxMessage
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from tests.factories import WorkspaceFixture
from tests.outbox_support import connect
from tests.web_support import add_cast_with_passwords, csrf_token, ingest_one, ingest_work, mention_ids, signed_in
from tests.workflow_support import alerts_of, playbook_text, use_playbook, work_item

NOWHERE_BRIDGE = "http://127.0.0.1:9/bridge"  # queued messages are only looked at, never sent, in these tests


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    use_playbook(db, acme, playbook_text())  # red-flag targets crisis and legal_desk, acme's crisis rota
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, int]:
    return ingest_work(app, db, acme, globex)


@pytest.fixture
def lee(app: FastAPI) -> TestClient:
    return signed_in(app, "lee@acme.test")


@pytest.fixture
def connected(db: Database, acme: WorkspaceFixture) -> None:
    connect(db, acme, "x-main", NOWHERE_BRIDGE)


def post_form(client: TestClient, mention_id: int, route: str, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/w/acme/mentions/{mention_id}")
    return client.post(f"/w/acme/mentions/{mention_id}/{route}", data={"csrf_token": token, **fields})


def assign(client: TestClient, mention_id: int, **fields: str):  # type: ignore[no-untyped-def]
    return post_form(client, mention_id, "assign", **fields)


def move(client: TestClient, mention_id: int, state: str, **fields: str):  # type: ignore[no-untyped-def]
    return post_form(client, mention_id, "state", state=state, **fields)


def form_html(page: str, form_id: str) -> str:
    """The HTML of the form with this id."""
    return page.split(f'id="{form_id}">')[1].split("</form>")[0]


def error_in(page: str, form_id: str) -> str:
    """The error shown inside the form (empty when none)."""
    found = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', form_html(page, form_id), re.S)
    return found.group(1) if found else ""


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
    return rows


def drain(app: FastAPI, db: Database) -> None:
    BackgroundWorker(db, app.state.services.pipeline()).drain()


# ---------------------------------------------------------------------------------------------- the page


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
    assert re.search(r'<td class="countdown overdue" data-due="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">OVERDUE 1h \d+m</td>',
                     text)
    assert "Recommended action: <strong>escalate</strong>" in text
    assert re.search(r"<strong>[^<]+</strong> work\.opened", text)
    # Every form that posts carries the session's token (assign, state, reply, private, escalate, moderate,
    # open an issue, sign out).
    assert text.count('method="post"') == text.count('name="csrf_token"') == 8
    for anchor in ("assign", "state", "reply", "private", "escalate", "moderate", "open-issue"):
        assert f'id="{anchor}"' in text, anchor
    # The page's own files only: no inline script or style under the strict CSP.
    assert '<script src="/static/mention.js" defer></script>' in text and "<script>" not in text
    assert "style=" not in text and "onclick" not in text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_the_static_files_are_served(lee):
    script = lee.get("/static/mention.js")
    assert script.status_code == 200 and "hashchange" in script.text
    countdown = lee.get("/static/countdown.js")  # every page loads it, through base.html
    assert countdown.status_code == 200 and "data-due" in countdown.text
    assert lee.get("/static/mention.css").status_code == 200


def test_mention_text_is_escaped(app, db, acme, globex, lee):
    mention_id = ingest_one(db, acme, "xss", "<script>alert(1)</script> see you in court", utcnow(),
                            author={"handle": "x", "display_name": "<b>Bold</b>"})
    drain(app, db)
    page = lee.get(f"/w/acme/mentions/{mention_id}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>Bold</b>" not in page.text and "&lt;b&gt;Bold&lt;/b&gt;" in page.text


def test_the_thread_is_in_order_with_the_brand_marked_and_this_mention_highlighted(app, db, acme, lee):
    now = utcnow()
    ids = {
        "root": ingest_one(db, acme, "t1", "Is checkout down for anyone else?", now - timedelta(minutes=30),
                           author={"handle": "ann"}, created_at=now - timedelta(minutes=30)),
        "reply": ingest_one(db, acme, "t2", "Same here, card declined", now - timedelta(minutes=20),
                            author={"handle": "bob"}, reply_to="t1", created_at=now - timedelta(minutes=20)),
        "brand": ingest_one(db, acme, "t3", "We're looking into it now", now - timedelta(minutes=10),
                            author={"handle": "acme"}, reply_to="t2", direction="outbound",
                            created_at=now - timedelta(minutes=10)),
    }
    drain(app, db)
    page = lee.get(f"/w/acme/mentions/{ids['reply']}")
    assert page.status_code == 200
    thread = page.text.split('<ol class="thread">')[1].split("</ol>")[0]
    posts = re.findall(r'<li class="post([^"]*)"', thread)
    assert posts == ["", " current", " brand"]
    order = [thread.index(text) for text in ("checkout down", "card declined", "looking into it")]
    assert order == sorted(order)
    assert 'aria-current="true"' in thread and "this mention" in thread
    assert mention_ids(thread) == [ids["root"]]  # the other customer post links to its page; the brand's has none
    assert "3 posts" in page.text


def test_the_author_card_shows_who_and_their_history_with_links(app, db, acme, lee):
    now = utcnow()
    pat = {"handle": "pat", "display_name": "Pat Doe", "followers": 12500, "verified": True, "tags": ["key_customer"]}
    earlier = [ingest_one(db, acme, f"a{n}", text, now - timedelta(days=n), author=pat,
                          created_at=now - timedelta(days=n))
               for n, text in ((3, "Thank you for the amazing service today!"),
                               (2, "My lawyer will be in touch about this."))]
    current = ingest_one(db, acme, "a0", "Please change my booking ABC123 to Friday", now, author=pat)
    drain(app, db)
    page = lee.get(f"/w/acme/mentions/{current}")
    card = page.text.split('<div class="author-card">')[1].split("</div>")[0]
    assert "<strong>@pat</strong> Pat Doe" in card and "verified" in card and "key_customer" in card
    assert "<dd>12,500</dd>" in card
    assert re.search(r"<dd>3 mentions, \d+ negative, 1 red</dd>", card)
    assert mention_ids(card) == [earlier[1], earlier[0]]  # newest first, each linked
    assert 'class="flag flag-red"' in card


def test_a_foreign_or_unknown_mention_is_not_found(app, lee, work):
    assert lee.get(f"/w/acme/mentions/{work['globex']}").status_code == 404
    assert lee.get("/w/acme/mentions/999999").status_code == 404
    token = csrf_token(lee, f"/w/acme/mentions/{work['red']}")
    for action in ("reply", "private", "escalate", "moderate"):
        assert lee.post(f"/w/acme/mentions/{work['globex']}/{action}",
                        data={"csrf_token": token, "text": "hi", "reason": "x", "action": "hide"}).status_code == 404


def test_forms_without_the_session_token_are_refused(lee, work):
    for action in ("reply", "private", "escalate", "moderate", "link-issue"):
        response = lee.post(f"/w/acme/mentions/{work['red']}/{action}", data={"text": "hi", "reason": "x"})
        assert response.status_code == 403, action


# ---------------------------------------------------------------------------------------------- assign and state


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
    form = form_html(refused.text, "assign")
    assert '<p class="error" role="alert" id="assign-error">' in form and error_in(refused.text, "assign")
    assert 'value="lee@acme.test"' in form  # what was typed stays in the field
    assert error_in(refused.text, "reply") == ""  # and no other form shows it

    nobody = assign(lee, work["yellow"], assignee="nobody@acme.test")
    assert nobody.status_code == 422 and "nobody@acme.test" in nobody.text

    illegal = move(lee, work["yellow"], "waiting")
    assert illegal.status_code == 422
    assert "new" in error_in(illegal.text, "state")


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
    late_reply = lee.post(f"/w/acme/mentions/{work['red']}/reply", data={**stale, "text": "On it"})
    assert late_reply.status_code == 409 and "changed since you loaded it" in error_in(late_reply.text, "reply")


# ---------------------------------------------------------------------------------------------- reply and private


def test_the_reply_form_offers_saved_replies_filled_for_the_author(lee, work):
    page = lee.get(f"/w/acme/mentions/{work['overdue_old']}")  # by @pat
    reply = form_html(page.text, "reply")
    assert re.search(r'<option value="thank" data-text="Thank you, @pat! [^"]*">thank</option>', reply)
    assert 'value="take-it-private"' in reply and 'value="facts-with-source"' in reply
    assert "@pat, we&#39;d like to help" in form_html(page.text, "private")
    # Without JavaScript, ?template= starts the reply from a saved reply.
    chosen = lee.get(f"/w/acme/mentions/{work['overdue_old']}?template=apologise-and-help")
    assert re.search(r"<textarea name=\"text\"[^>]*>We&#39;re sorry about this, @pat\.", chosen.text)
    assert re.search(r'<option value="apologise-and-help" data-text="[^"]*" selected>', chosen.text)
    unknown = lee.get(f"/w/acme/mentions/{work['overdue_old']}?template=nope")
    assert unknown.status_code == 422 and "no saved reply &#39;nope&#39;" in error_in(unknown.text, "reply")


def test_a_reply_is_queued_in_the_outbox_and_the_item_is_responded(app, lee, db, acme, work, connected):
    response = post_form(lee, work["overdue_old"], "reply", template="thank", text="Thanks @pat, we're on it.")
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/acme/mentions/{work['overdue_old']}?done=reply#reply"
    [message] = outbox_rows(db)
    assert (message.kind, message.body, message.created_by) == ("reply", "Thanks @pat, we're on it.", "lee@acme.test")
    assert work_item(db, acme, "overdue_old").state == "responded"
    page = lee.get(response.headers["location"])
    assert "Reply queued in the outbox" in page.text
    assert "<strong>lee@acme.test</strong> work.replied" in page.text
    queued = page.text.split('<ul class="outgoing">')[1].split("</ul>")[0]
    assert "pending" in queued and "Thanks @pat, we&#39;re on it." in queued

    # Empty text with a saved reply chosen sends the saved reply as it is (the form without JavaScript).
    as_is = post_form(lee, work["overdue_old"], "reply", template="thank", text="")
    assert as_is.status_code == 303
    assert outbox_rows(db)[-1].body.startswith("Thank you, @pat!")


def test_reply_refusals_are_shown_in_the_reply_form(app, db, acme, lee, work, connected):
    lex = signed_in(app, "lex@acme.test")  # legal: may not respond
    refused = post_form(lex, work["red"], "reply", text="My words")
    assert refused.status_code == 403
    assert "needs the &#39;respond&#39; permission" in error_in(refused.text, "reply")
    assert ">My words</textarea>" in form_html(refused.text, "reply")
    assert 'aria-invalid="true" aria-describedby="reply-error"' in form_html(refused.text, "reply")

    empty = post_form(lee, work["red"], "reply", text="  ")
    assert empty.status_code == 422 and "write the reply" in error_in(empty.text, "reply")
    assert outbox_rows(db) == []


def test_a_channel_without_a_connector_says_so_and_refuses_the_reply(lee, db, work):
    page = lee.get(f"/w/acme/mentions/{work['red']}")
    assert "Nothing can be sent on this channel yet" in page.text and "no outbound connector" in page.text
    refused = post_form(lee, work["red"], "reply", text="Hello")
    assert refused.status_code == 422 and "no outbound connector" in error_in(refused.text, "reply")
    assert outbox_rows(db) == []


def test_taking_it_private_replies_and_notes_the_item(lee, db, acme, work, connected):
    response = post_form(lee, work["yellow"], "private", text="Please DM us your booking code.",
                         note="Needs the booking code")
    assert response.status_code == 303 and response.headers["location"].endswith("?done=private#private")
    [message] = outbox_rows(db)
    assert message.body == "Please DM us your booking code." and message.payload["private"] is True
    page = lee.get(f"/w/acme/mentions/{work['yellow']}")
    assert "work.taken_private" in page.text and "Needs the booking code" in page.text
    assert work_item(db, acme, "yellow").state == "responded"


# ---------------------------------------------------------------------------------------------- escalate


def test_escalating_needs_a_reason_and_the_permission_and_alerts_once(app, lee, db, acme, work):
    page = lee.get(f"/w/acme/mentions/{work['yellow']}")
    assert "Moves it to queue escalations (crisis) at priority urgent; alerts crisis, legal_desk, " in page.text

    missing = post_form(lee, work["yellow"], "escalate", reason="")
    assert missing.status_code == 422 and "say why you escalate" in error_in(missing.text, "escalate")
    ana = signed_in(app, "ana@acme.test")
    refused = post_form(ana, work["yellow"], "escalate", reason="angry customer")
    assert refused.status_code == 403 and "needs the &#39;escalate&#39; permission" in error_in(refused.text,
                                                                                                   "escalate")
    assert ">angry customer</textarea>" in form_html(refused.text, "escalate")
    assert alerts_of(db, mention=work["yellow"]) == []

    done = post_form(lee, work["yellow"], "escalate", reason="Reporter from the Gazette asking")
    assert done.status_code == 303 and done.headers["location"].endswith("?done=escalate#escalate")
    item = work_item(db, acme, "yellow")
    assert (item.queue, item.priority) == ("escalations", "urgent")
    assert {a.target for a in alerts_of(db, mention=work["yellow"])} >= {"crisis", "legal_desk"}
    shown = lee.get(done.headers["location"]).text
    assert "Escalated: the item moved" in shown and "Reporter from the Gazette asking" in shown

    again = post_form(lee, work["yellow"], "escalate", reason="again")
    assert again.status_code == 409 and "already escalated" in error_in(again.text, "escalate")
    assert len(alerts_of(db, mention=work["yellow"])) == 3


# ---------------------------------------------------------------------------------------------- moderate


def test_moderation_is_recorded_queued_and_refused_beyond_authority(app, lee, db, work, connected):
    page = lee.get(f"/w/acme/mentions/{work['green']}")
    assert "No network connector can moderate yet" in form_html(page.text, "moderate")
    ana = signed_in(app, "ana@acme.test")
    refused = post_form(ana, work["green"], "moderate", action="delete", reason="abusive")
    assert refused.status_code == 403
    assert "may not delete the post" in error_in(refused.text, "moderate")
    assert 'value="delete" checked' in form_html(refused.text, "moderate")

    hidden = post_form(ana, work["green"], "moderate", action="hide", reason="abusive")
    assert hidden.status_code == 303 and hidden.headers["location"].endswith("?done=moderate#moderate")
    [message] = outbox_rows(db)
    assert (message.kind, message.body) == ("moderate", "hide")
    again = post_form(ana, work["green"], "moderate", action="hide")
    assert again.status_code == 409 and "already queued" in error_in(again.text, "moderate")
    bad = post_form(lee, work["green"], "moderate", action="ban")
    assert bad.status_code == 422 and "unknown moderation" in error_in(bad.text, "moderate")


def test_moderation_without_a_connector_is_recorded_and_the_page_says_so(lee, db, work):
    response = post_form(lee, work["green"], "moderate", action="report_spam")
    assert response.status_code == 303 and "done=moderate-recorded" in response.headers["location"]
    page = lee.get(response.headers["location"])
    assert "Moderation recorded only: this channel has no outbound connector" in page.text
    assert "work.moderated" in page.text and outbox_rows(db) == []


# ---------------------------------------------------------------------------------------------- issues


def test_issue_forms_open_or_link_through_the_issues_pages(lee, db, acme, work):
    page = lee.get(f"/w/acme/mentions/{work['red']}")
    opener = form_html(page.text, "open-issue")
    assert re.search(r'<form method="post" action="/w/acme/issues" class="action" id="open-issue">', page.text)
    assert f'name="mention_id" value="{work["red"]}"' in opener and '<option value="medium" selected>' in opener
    assert "Not part of any issue." in page.text and 'id="link-issue"' not in page.text

    token = csrf_token(lee, f"/w/acme/mentions/{work['red']}")
    opened = lee.post("/w/acme/issues", data={"csrf_token": token, "title": "Small claims threats", "severity": "high",
                                              "summary": "", "mention_id": str(work["red"])})
    assert opened.status_code == 303, opened.text
    other = lee.post("/w/acme/issues", data={"csrf_token": token, "title": "Court threats", "severity": "medium",
                                             "summary": ""})
    assert other.status_code == 303, other.text
    with db.read() as session:
        issues = {issue.title: issue.id for issue in session.scalars(select(Issue))}
    page = lee.get(f"/w/acme/mentions/{work['red']}").text
    linked = page.split('<ul class="linked">')[1].split("</ul>")[0]
    assert f'href="/w/acme/issues/{issues["Small claims threats"]}"' in linked and "Small claims threats" in linked
    choices = form_html(page, "link-issue")
    assert f'<option value="{issues["Court threats"]}">' in choices and "Small claims threats" not in choices

    # The select posts to this page, which hands the same POST on to the chosen issue's links.
    fields = {"csrf_token": token, "issue_id": str(issues["Court threats"]), "mention_id": str(work["red"])}
    bad = lee.post(f"/w/acme/mentions/{work['red']}/link-issue", data={**fields, "issue_id": "x"})
    assert bad.status_code == 422 and "Choose an open issue" in error_in(bad.text, "link-issue")
    handed = lee.post(f"/w/acme/mentions/{work['red']}/link-issue", data=fields)
    assert handed.status_code == 307
    assert handed.headers["location"] == f"/w/acme/issues/{issues['Court threats']}/links"
    linked_now = lee.post(handed.headers["location"], data=fields)
    assert linked_now.status_code == 303, linked_now.text
    with db.read() as session:
        assert set(session.scalars(select(IssueMention.issue_id).where(IssueMention.mention_id == work["red"]))) == set(
            issues.values())
