"""Answering a mention (issue 6): reply from a saved text, take private, escalate, moderate; the thread and author.

Mentions go through the real pipeline; replies and moderations go through the real outbox to a signed
webhook bridge on loopback; escalation alerts are real alert rows for the playbook's targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from firebreak.audit.models import AuditEntry
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.outbox.delivery import OutboxDispatcher
from firebreak.outbox.models import OutboxMessage
from firebreak.triage.models import MentionTriage
from firebreak.workflow import moderation, responses
from firebreak.workflow.actions import Actor, assign, change_state
from tests.outbox_support import channel_secrets, connect, outbound_receiver
from tests.workflow_support import (
    TUESDAY_MORNING,
    Cast,
    actor,
    add_cast,
    alerts_of,
    clocks_of,
    ingest_at,
    mention_id,
    playbook_text,
    post,
    run_pipeline,
    services_for,
    use_playbook,
    work_item,
)

T = TUESDAY_MORNING  # the care team is on shift
BOOKING = "Please change my booking ABC123 to Friday"  # yellow, customer_support queue
LEGAL = "My lawyer will be in touch about this."  # red, escalations queue


@pytest.fixture
def cast(db, acme, globex) -> Cast:
    use_playbook(db, acme, playbook_text())
    return add_cast(db, acme, globex)


@pytest.fixture
def bridge(db, acme) -> Iterator:  # type: ignore[type-arg]
    """A signed webhook bridge on loopback that acme's x-main channel sends to (hooks has no connector)."""
    with outbound_receiver(channel_secrets(db, acme)) as receiver:
        connect(db, acme, "x-main", receiver.url("/x"))
        yield receiver


def opened(db, settings, ws, external_id: str, text: str, **fields: Any) -> int:
    ingest_at(db, ws, [post(external_id, text, at=T, **fields)], received_at=T)
    run_pipeline(db, settings, now=T)
    return mention_id(db, ws, external_id)


def run(db, settings, ws, change: Callable[..., Any], **fields: Any) -> Any:
    """Run a domain action in its own write transaction, as the web and the API do."""
    with db.write() as session:
        runtime = services_for(settings).workflows.for_workspace(session, ws.id)
        result = change(session, runtime=runtime, workspace_id=ws.id, **fields)
        session.flush()
        session.expunge_all()
    return result


def outbox_rows(db, ws) -> list[OutboxMessage]:
    with db.read() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.workspace_id == ws.id)
                                    .order_by(OutboxMessage.id)))
        session.expunge_all()
    return rows


def trail(db, mention: int) -> list[tuple[str, str]]:
    with db.read() as session:
        return [(row.actor, row.action) for row in session.scalars(
            select(AuditEntry).where(AuditEntry.subject_type == "mention", AuditEntry.subject_id == str(mention))
            .order_by(AuditEntry.id))]


def audit_details(db, mention: int, action: str) -> dict[str, Any]:
    with db.read() as session:
        entry = session.scalar(select(AuditEntry).where(
            AuditEntry.subject_id == str(mention), AuditEntry.action == action).order_by(AuditEntry.id.desc()))
        assert entry is not None, action
        return dict(entry.details)


# ---------------------------------------------------------------------------------------------- saved replies


def test_saved_replies_are_filled_with_the_author_and_the_brand(db, settings, acme, cast):
    with db.read() as session:
        runtime = services_for(settings).workflows.for_workspace(session, acme.id)
    filled = responses.saved_replies(runtime, handle="pat", brand="Acme")
    assert list(filled) == ["thank", "apologise-and-help", "take-it-private", "facts-with-source"]
    assert filled["thank"].startswith("Thank you, @pat!")
    assert "facts from Acme" in filled["facts-with-source"]
    # Without an author, {author} stays visible for the person to replace.
    assert responses.fill_reply("Hi {author}, {brand} here", handle=None, brand="Acme") == "Hi {author}, Acme here"


# ---------------------------------------------------------------------------------------------- reply


def test_a_reply_queues_one_outbox_message_and_marks_the_item_responded(db, settings, acme, cast, bridge):
    customer = opened(db, settings, acme, "500", BOOKING, author={"handle": "pat"}, conversation_id="c500")
    ana = actor(db, acme, "ana@acme.test")
    before = work_item(db, acme, "500")
    done = run(db, settings, acme, responses.reply, mention_id=customer, actor=ana, now=T + timedelta(minutes=3),
               text="  Hi @pat, done: Friday it is.  ", template="thank", expected_revision=before.revision)
    assert done.channel == "x-main" and done.item.state == "responded"
    [message] = outbox_rows(db, acme)
    assert (message.kind, message.body, message.in_reply_to, message.conversation_id, message.state) == (
        "reply", "Hi @pat, done: Friday it is.", "500", "c500", "pending")
    assert message.created_by == "ana@acme.test" and message.payload["template"] == "thank"
    item = work_item(db, acme, "500")
    assert item.state == "responded" and item.first_response_at == T + timedelta(minutes=3)
    assert item.revision > before.revision
    assert clocks_of(db, customer)["first_response"].state == "met"
    assert trail(db, customer)[-2:] == [("ana@acme.test", "work.replied"), ("workflow", "work.responded")]
    assert audit_details(db, customer, "work.replied")["message_id"] == message.id

    # The same text again (a double-clicked form) is refused, not posted twice.
    with pytest.raises(Conflict, match=f"already in the outbox \\(message {message.id}, pending\\)"):
        run(db, settings, acme, responses.reply, mention_id=customer, actor=ana, now=T + timedelta(minutes=4),
            text="Hi @pat, done: Friday it is.")
    assert len(outbox_rows(db, acme)) == 1

    # The dispatcher sends it to the bridge as a signed reply in the customer's thread.
    report = OutboxDispatcher(db).deliver_due()
    assert report.sent == 1, report.errors
    [delivery] = bridge.wait_for(1)
    assert delivery.payload["kind"] == "reply" and delivery.payload["in_reply_to"] == "500"
    assert delivery.payload["body"] == "Hi @pat, done: Friday it is."

    # The network's copy of the reply comes back as the brand's post: still responded, nothing met twice.
    ingest_at(db, acme, [post("501", "Hi @pat, done: Friday it is.", at=T + timedelta(minutes=5), reply_to="500",
                              direction="outbound", conversation_id="c500")], received_at=T + timedelta(minutes=5))
    run_pipeline(db, settings, now=T + timedelta(minutes=5))
    assert work_item(db, acme, "500").state == "responded"
    assert work_item(db, acme, "500").first_response_at == T + timedelta(minutes=3)
    assert clocks_of(db, customer)["first_response"].state == "met"


def test_reply_refusals_name_what_is_wrong_and_queue_nothing(db, settings, acme, globex, cast, bridge):
    customer = opened(db, settings, acme, "510", BOOKING)  # no author
    foreign = opened(db, settings, globex, "g510", BOOKING)
    ana, lex = actor(db, acme, "ana@acme.test"), actor(db, acme, "lex@acme.test")
    at = T + timedelta(minutes=1)

    def attempt(**fields: Any) -> None:
        run(db, settings, acme, responses.reply, **{"mention_id": customer, "actor": ana, "now": at,
                                                     "text": "Thanks!", **fields})

    with pytest.raises(Forbidden, match=r"lex@acme.test \(legal\) may not reply to a mention: it needs the "
                                        r"'respond' permission"):
        attempt(actor=lex)
    with pytest.raises(NotFound):
        attempt(mention_id=foreign)
    with pytest.raises(InvalidInput, match="write the reply") as empty:
        attempt(text="   ")
    assert empty.value.field == "text"
    with pytest.raises(InvalidInput, match=r"replace \{author\} before sending"):
        attempt(text=responses.fill_reply("Thank you, {author}!", handle=None, brand="Acme"))
    with pytest.raises(InvalidInput, match="unknown saved reply 'nope'; saved replies are thank, "):
        attempt(template="nope")
    with pytest.raises(InvalidInput, match="at most 2000"):
        attempt(text="x" * 2001)
    with pytest.raises(Conflict, match="changed since you loaded it"):
        attempt(expected_revision=99)
    assert outbox_rows(db, acme) == []

    run(db, settings, acme, change_state, mention_id=customer, to_state="closed", reason="spam", now=at,
        actor=actor(db, acme, "lee@acme.test"))
    with pytest.raises(InvalidInput, match="is closed; reopen it before replying"):
        attempt()


def test_a_reply_needs_a_channel_that_can_send(db, settings, acme, cast):
    customer = opened(db, settings, acme, "520", BOOKING)  # x-main has no outbound connector here
    with pytest.raises(InvalidInput, match="the reply cannot be sent: channel 'x-main' has no outbound connector") \
            as refused:
        run(db, settings, acme, responses.reply, mention_id=customer, actor=actor(db, acme, "ana@acme.test"),
            now=T, text="Thanks!")
    assert refused.value.field == "channel"
    assert outbox_rows(db, acme) == [] and work_item(db, acme, "520").state != "responded"


def test_taking_a_conversation_private_replies_and_notes_it(db, settings, acme, cast, bridge):
    customer = opened(db, settings, acme, "530", BOOKING, author={"handle": "kim"})
    with db.read() as session:
        runtime = services_for(settings).workflows.for_workspace(session, acme.id)
    text = responses.saved_replies(runtime, handle="kim", brand="Acme")[responses.PRIVATE_REPLY]
    run(db, settings, acme, responses.take_private, mention_id=customer, actor=actor(db, acme, "ana@acme.test"),
        now=T + timedelta(minutes=2), text=text, note="Booking details needed")
    [message] = outbox_rows(db, acme)
    assert message.body.startswith("@kim, we'd like to help") and message.payload["private"] is True
    assert work_item(db, acme, "530").state == "responded"
    details = audit_details(db, customer, "work.taken_private")
    assert details["note"] == "Booking details needed" and details["message_id"] == message.id
    # Without a note of their own, the item says what happened.
    other = opened(db, settings, acme, "531", BOOKING, author={"handle": "kim"})
    run(db, settings, acme, responses.take_private, mention_id=other, actor=actor(db, acme, "ana@acme.test"),
        now=T + timedelta(minutes=2), text=text)
    assert audit_details(db, other, "work.taken_private")["note"] == responses.PRIVATE_NOTE


# ---------------------------------------------------------------------------------------------- escalate


def test_escalating_raises_the_item_and_alerts_the_red_flag_targets_once(db, settings, acme, cast):
    customer = opened(db, settings, acme, "540", BOOKING, author={"handle": "pat"})
    lee = actor(db, acme, "lee@acme.test")
    run(db, settings, acme, assign, mention_id=customer, assignee_email="ana@acme.test", actor=lee, reason=None, now=T)
    before = work_item(db, acme, "540")
    assert (before.queue, before.priority, before.state) == ("customer_support", "high", "assigned")
    assert alerts_of(db, mention=customer) == []

    with pytest.raises(InvalidInput, match="say why you escalate") as missing:
        run(db, settings, acme, responses.escalate, mention_id=customer, actor=lee, now=T, reason="  ",
            public_url="https://firebreak.test")
    assert missing.value.field == "reason"
    with pytest.raises(Forbidden, match=r"ana@acme.test \(agent\) may not escalate a mention"):
        run(db, settings, acme, responses.escalate, mention_id=customer, actor=actor(db, acme, "ana@acme.test"),
            now=T, reason="angry", public_url="https://firebreak.test")

    done = run(db, settings, acme, responses.escalate, mention_id=customer, actor=lee, now=T + timedelta(minutes=1),
               reason="Journalist asking about this", public_url="https://firebreak.test")
    assert (done.plan.queue, done.plan.team, done.plan.priority, done.plan.rule) == (
        "escalations", "crisis", "urgent", "red_to_crisis")
    item = work_item(db, acme, "540")
    assert (item.queue, item.team, item.priority, item.route_rule) == ("escalations", "crisis", "urgent", "escalated")
    # ana works in care, not on the crisis desk: the item goes back to the escalation queue for the desk.
    assert (item.assignee_id, item.state) == (None, "new")
    alerts = alerts_of(db, mention=customer)
    assert sorted(a.target for a in alerts) == sorted(["crisis", "legal_desk", f"email:{done.plan.on_call}"])
    assert done.plan.on_call in ("cris@acme.test", "dan@acme.test", "eve@acme.test")
    assert done.alerts == 3
    crisis = next(a for a in alerts if a.target == "crisis")
    assert crisis.kind == "red_flag" and crisis.subject.startswith("ESCALATED yellow")
    assert "lee@acme.test escalated" in crisis.body and "Why: Journalist asking about this" in crisis.body
    assert "https://firebreak.test/" in crisis.body and str(customer) in crisis.link
    details = audit_details(db, customer, "work.escalated")
    assert details["reason"] == "Journalist asking about this" and details["from"]["queue"] == "customer_support"

    with pytest.raises(Conflict, match="already escalated by lee@acme.test"):
        run(db, settings, acme, responses.escalate, mention_id=customer, actor=lee, now=T + timedelta(minutes=2),
            reason="again", public_url="https://firebreak.test")
    assert len(alerts_of(db, mention=customer)) == 3


def test_escalating_never_lowers_the_priority_and_foreign_mentions_are_not_found(db, settings, acme, globex, cast):
    red = opened(db, settings, acme, "550", LEGAL)
    lee = actor(db, acme, "lee@acme.test")
    done = run(db, settings, acme, responses.escalate, mention_id=red, actor=lee, now=T, reason="legal",
               public_url="https://firebreak.test")
    assert done.plan.priority == "urgent" and work_item(db, acme, "550").queue == "escalations"
    foreign = opened(db, settings, globex, "g550", LEGAL)
    with pytest.raises(NotFound):
        run(db, settings, acme, responses.escalate, mention_id=foreign, actor=lee, now=T, reason="x",
            public_url="https://firebreak.test")


# ---------------------------------------------------------------------------------------------- moderate


def test_moderation_is_queued_for_the_connector_as_authority_allows(db, settings, acme, globex, cast, bridge):
    customer = opened(db, settings, acme, "560", "buy cheap followers at spam.example", author={"handle": "bot"})
    ana, lee = actor(db, acme, "ana@acme.test"), actor(db, acme, "lee@acme.test")
    hidden = run(db, settings, acme, moderation.moderate, mention_id=customer, action="hide", reason="spam link",
                 actor=ana, now=T)
    assert hidden.message is not None and hidden.not_queued is None
    [message] = outbox_rows(db, acme)
    assert (message.kind, message.body, message.in_reply_to, message.payload["reason"]) == (
        "moderate", "hide", "560", "spam link")
    with pytest.raises(Forbidden, match=r"ana@acme.test may not delete the post: the agent role may not delete a "
                                        r"post; ask someone with the lead or admin role"):
        run(db, settings, acme, moderation.moderate, mention_id=customer, action="delete", reason=None, actor=ana,
            now=T)
    with pytest.raises(Forbidden, match="may not hide the post"):
        run(db, settings, acme, moderation.moderate, mention_id=customer, action="hide", reason=None,
            actor=actor(db, acme, "lex@acme.test"), now=T)
    with pytest.raises(Conflict, match="hide of mention .* is already queued"):
        run(db, settings, acme, moderation.moderate, mention_id=customer, action="hide", reason=None, actor=lee,
            now=T)
    with pytest.raises(InvalidInput, match="unknown moderation 'ban'"):
        run(db, settings, acme, moderation.moderate, mention_id=customer, action="ban", reason=None, actor=lee, now=T)
    foreign = opened(db, settings, globex, "g560", "spam")
    with pytest.raises(NotFound):
        run(db, settings, acme, moderation.moderate, mention_id=foreign, action="hide", reason=None, actor=lee, now=T)
    run(db, settings, acme, moderation.moderate, mention_id=customer, action="delete", reason=None, actor=lee, now=T)
    assert [m.body for m in outbox_rows(db, acme)] == ["hide", "delete"]
    assert [a for _, a in trail(db, customer)].count("work.moderated") == 2

    report = OutboxDispatcher(db).deliver_due()
    assert report.sent == 1, report.errors  # one message per channel per round
    [delivery] = bridge.wait_for(1)
    assert delivery.payload["kind"] == "moderate" and delivery.payload["in_reply_to"] == "560"


def test_moderation_without_a_connector_is_recorded_and_says_so(db, settings, acme, cast):
    customer = opened(db, settings, acme, "570", "spam spam spam")
    done = run(db, settings, acme, moderation.moderate, mention_id=customer, action="report_spam", reason=None,
               actor=actor(db, acme, "ana@acme.test"), now=T)
    assert done.message is None and "has no outbound connector" in (done.not_queued or "")
    assert outbox_rows(db, acme) == []
    details = audit_details(db, customer, "work.moderated")
    assert details["action"] == "report_spam" and details["message_id"] is None
    assert "has no outbound connector" in details["not_queued"]


def test_an_integration_token_acts_with_its_fixed_roles(db, settings, acme, cast, bridge):
    customer = opened(db, settings, acme, "580", BOOKING, author={"handle": "pat"})
    token = Actor("token:bot", frozenset({"agent"}))
    run(db, settings, acme, responses.reply, mention_id=customer, actor=token, now=T, text="Hello @pat")
    assert outbox_rows(db, acme)[0].created_by == "token:bot"


# ---------------------------------------------------------------------------------------------- reading


def test_the_thread_is_in_order_with_the_brand_marked_and_the_mention_current(db, settings, acme, cast):
    ingest_at(db, acme, [
        post("600", "checkout broken again", at=T, author={"handle": "ann"}),
        post("601", "same here", at=T + timedelta(minutes=1), reply_to="600", author={"handle": "bob"}),
        post("602", "we are on it", at=T + timedelta(minutes=2), reply_to="601", direction="outbound",
             author={"handle": "acme"}),
        post("700", "another thread", at=T, author={"handle": "ann"}),
    ], received_at=T)
    run_pipeline(db, settings, now=T)
    current = mention_id(db, acme, "601")
    with db.read() as session:
        shown = responses.thread(session, workspace_id=acme.id, mention_id=current)
        elsewhere = responses.thread(session, workspace_id=acme.id + 999, mention_id=current)
    assert [(p.handle, p.direction, p.current) for p in shown.posts] == [
        ("ann", "inbound", False), ("bob", "inbound", True), ("acme", "outbound", False)]
    assert shown.total == 3 and (shown.hidden_before, shown.hidden_after) == (0, 0)
    assert [p.has_work for p in shown.posts] == [True, True, False]
    assert elsewhere.posts == []


def test_a_long_thread_shows_its_first_post_and_a_window_around_the_mention(db, settings, acme, cast, monkeypatch):
    monkeypatch.setattr(responses, "THREAD_AROUND", 2)
    ingest_at(db, acme, [post("800", "first", at=T)] + [
        post(str(800 + n), f"reply {n}", at=T + timedelta(minutes=n), reply_to="800") for n in range(1, 10)],
        received_at=T)
    current = mention_id(db, acme, "806")
    with db.read() as session:
        shown = responses.thread(session, workspace_id=acme.id, mention_id=current)
    assert [p.text for p in shown.posts] == ["first", "reply 4", "reply 5", "reply 6", "reply 7", "reply 8"]
    assert (shown.total, shown.hidden_before, shown.hidden_after) == (10, 3, 1)


def test_the_author_card_counts_their_history_in_this_workspace(db, settings, acme, globex, cast):
    author = {"handle": "pat", "display_name": "Pat Doe", "followers": 1200, "verified": True,
              "tags": ["customer"]}
    ingest_at(db, acme, [
        post("900", "Thank you for the amazing service today!", at=T - timedelta(days=3), author=author),
        post("901", LEGAL, at=T - timedelta(days=2), author=author),
        post("902", "Delayed again, worst airline ever", at=T - timedelta(days=1), author=author),
        post("903", BOOKING, at=T, author=author),
    ], received_at=T)
    ingest_at(db, globex, [post("g900", LEGAL, at=T, author=author)], received_at=T)
    run_pipeline(db, settings, now=T)
    current = mention_id(db, acme, "903")
    with db.read() as session:
        card = responses.author_card(session, workspace_id=acme.id, mention_id=current)
    assert card is not None
    assert (card.handle, card.display_name, card.followers, card.verified, card.tags) == (
        "pat", "Pat Doe", 1200, True, ["customer"])
    with db.read() as session:  # what the triage said of each of pat's acme posts, read one by one
        sentiments = [session.get(MentionTriage, mention_id(db, acme, e)).sentiment
                      for e in ("900", "901", "902", "903")]
    assert sentiments.count("negative") >= 1  # the legal threat at least
    assert (card.total, card.red, card.negative) == (4, 1, sentiments.count("negative"))
    assert [p.mention_id for p in card.previous] == [mention_id(db, acme, e) for e in ("902", "901", "900")]
    assert card.previous[1].flag == "red" and all(p.has_work for p in card.previous)
    nobody = opened(db, settings, acme, "910", BOOKING)
    with db.read() as session:
        assert responses.author_card(session, workspace_id=acme.id, mention_id=nobody) is None
