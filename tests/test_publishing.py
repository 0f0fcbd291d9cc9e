"""Publishing an issue's approved response: the newsroom page, the posts, a reply in every linked thread,
spaced per channel; through the service, the API (with the worker delivering) and the CLI, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from firebreak.app import create_app
from firebreak.cli.main import app as cli_app
from firebreak.core.clock import FixedClock, utcnow
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.db.engine import Database
from firebreak.issues.models import Issue, IssueEvent, Publication
from firebreak.issues.publishing import PublishResult, publish, slugify
from firebreak.outbox.delivery import OutboxDispatcher
from firebreak.outbox.models import OutboxMessage
from firebreak.settings import Settings, get_settings
from firebreak.workflow.actions import Actor
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture, ingest, mention
from tests.outbox_support import (
    add_channel,
    add_version,
    channel_secrets,
    connect,
    link_mentions,
    make_issue,
    messages,
    outbound_receiver,
)
from tests.workflow_support import add_member, services_for

BASE = "https://status.acme.example"
CORA = Actor("cora@acme.test", frozenset({"communications"}))
ANA = Actor("ana@acme.test", frozenset({"agent"}))
BODY = ("Since Tuesday some customers could not pay at checkout. We fixed it at 10:00 today.\n\n"
        "What to do: try again; if you were charged twice, write to https://acme.example/help.")
LINK = f"{BASE}/newsroom/acme/checkout-errors"
REPLY = f"We've posted an update on Checkout errors: {LINK}"


def _publish(db: Database, settings: Settings, ws: WorkspaceFixture, issue_id: int, *, actor: Actor = CORA,
             at=None, **options) -> PublishResult:  # type: ignore[no-untyped-def]
    with db.write() as session:
        runtime = services_for(settings).workflow(session, ws.id)
        return publish(session, runtime=runtime, workspace_id=ws.id, issue_id=issue_id, actor=actor,
                       now=at or utcnow(), base_url=BASE, **options)


def _threads(db: Database, acme: WorkspaceFixture) -> None:
    """Three threads on x-main and hooks, and one on a forum channel with no outbound connector.

    x-main thread 100: ann's post, bob's later reply (the latest from the public), then the brand's
    own reply (outbound, never answered); x-main thread 200: cat alone; hooks 300: dan; forum 400: eve.
    """
    add_channel(db, acme, "forum")
    ingest(db, acme, [
        mention("100", "checkout broken again", author={"handle": "ann"}),
        mention("101", "same here", reply_to="100", author={"handle": "bob"}),
        mention("102", "we are on it", reply_to="101", direction="outbound", author={"handle": "acme"}),
        mention("200", "cannot pay", author={"handle": "cat"}),
    ])
    ingest(db, acme, [mention("300", "checkout fails", author={"handle": "dan"})], channel_slug="hooks")
    ingest(db, acme, [mention("400", "payment page down?", author={"handle": "eve"})], channel_slug="forum")


@pytest.fixture
def bridge(db, acme) -> Iterator:  # type: ignore[type-arg]
    """A receiver on loopback that x-main and hooks post to (the forum has no connector)."""
    with outbound_receiver(channel_secrets(db, acme)) as receiver:
        connect(db, acme, "x-main", receiver.url("/x"))
        connect(db, acme, "hooks", receiver.url("/hooks"))
        yield receiver


# ---------------------------------------------------------------------------------------------- refusals


def test_publishing_needs_an_approved_version(db, settings, acme):
    now = utcnow()
    issue_id, _ = make_issue(db, acme, at=now, state="in_review")
    with pytest.raises(InvalidInput) as refused:
        _publish(db, settings, acme, issue_id)
    assert refused.value.message == "the response has no approved version; publishing needs one"
    issue_without_content, _ = make_issue(db, acme, at=now, body=None, number=2)
    with pytest.raises(InvalidInput, match="the acknowledgement has no approved version"):
        _publish(db, settings, acme, issue_without_content, kind="acknowledgement")
    with db.read() as session:
        assert session.scalar(select(Publication.id)) is None


def test_only_people_who_may_publish_can(db, settings, acme):
    issue_id, _ = make_issue(db, acme, at=utcnow())
    with pytest.raises(Forbidden, match=r"ana@acme.test \(agent\) may not publish issue 1's content: it needs the "
                                        r"'publish' permission"):
        _publish(db, settings, acme, issue_id, actor=ANA)
    with pytest.raises(Forbidden):
        _publish(db, settings, acme, issue_id, actor=Actor("lee@acme.test", frozenset({"lead"})))


def test_a_version_must_be_approved_public_and_of_this_issue(db, settings, acme, globex):
    now = utcnow()
    issue_id, _ = make_issue(db, acme, at=now)
    other_issue, other_version = make_issue(db, acme, at=now, number=2)
    with db.write() as session:
        in_review = add_version(session, acme, issue_id, body="new words", state="in_review", at=now)
        points = add_version(session, acme, issue_id, body="say this to customers", kind="talking_points", at=now)
    with pytest.raises(InvalidInput, match="version 2 of the response is in review; only an approved version"):
        _publish(db, settings, acme, issue_id, version_id=in_review)
    with pytest.raises(InvalidInput, match="talking points are for the brand's own people and are never published"):
        _publish(db, settings, acme, issue_id, version_id=points)
    with pytest.raises(InvalidInput, match="talking points are for the brand's own people"):
        _publish(db, settings, acme, issue_id, kind="talking_points")
    with pytest.raises(NotFound, match=f"draft version {other_version} does not exist of issue {issue_id}"):
        _publish(db, settings, acme, issue_id, version_id=other_version)
    with pytest.raises(NotFound, match=f"issue {other_issue} does not exist in this workspace"):
        _publish(db, settings, globex, other_issue)
    add_channel(db, acme, "forum")
    with pytest.raises(InvalidInput, match="unknown channel 'tiktok'; channels are forum, hooks, x-main") as bad:
        _publish(db, settings, acme, issue_id, channels=["x-main", "tiktok"])
    assert bad.value.field == "channels"


def test_a_closed_issue_is_not_published(db, settings, acme):
    issue_id, _ = make_issue(db, acme, at=utcnow())
    with db.write() as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(state="closed"))
    with pytest.raises(Conflict, match="issue 1 is closed; reopen it before publishing"):
        _publish(db, settings, acme, issue_id)


# ---------------------------------------------------------------------------------------------- publishing


def test_publish_makes_the_page_a_post_per_channel_and_a_reply_per_thread_spaced_per_channel(
        db, settings, acme, bridge):
    now = utcnow().replace(microsecond=0)
    _threads(db, acme)
    issue_id, version_id = make_issue(db, acme, at=now, body=BODY)
    link_mentions(db, acme, issue_id, ["100", "200", "300", "400"], at=now)

    result = _publish(db, settings, acme, issue_id, at=now, channels=["x-main", "forum", "x-main"])

    publication = result.publication
    assert (publication.slug, publication.title, publication.body, publication.version_id) == (
        "checkout-errors", "Checkout errors", BODY, version_id)
    assert (publication.published_at, publication.published_by) == (now, "cora@acme.test")
    assert result.link == LINK
    rows = [(v.channel, v.message.kind, v.message.in_reply_to, v.message.next_attempt_at) for v in result.messages]
    assert rows == [
        ("x-main", "post", None, now),
        ("x-main", "reply", "101", now + timedelta(seconds=30)),  # bob's reply is the thread's latest public post
        ("x-main", "reply", "200", now + timedelta(seconds=60)),
        ("hooks", "reply", "300", now),
    ]
    post, reply_100, _, reply_300 = (view.message for view in result.messages)
    assert post.body == ("Since Tuesday some customers could not pay at checkout. We fixed it at 10:00 today. "
                         + LINK)
    assert post.idempotency_key == f"publication:{publication.id}:channel:{acme.x_channel_id}"
    assert reply_100.body == REPLY and reply_300.body == REPLY
    assert reply_100.idempotency_key == f"publication:{publication.id}:reply:{acme.x_channel_id}:100"
    assert reply_100.conversation_id == "100" and reply_100.link == LINK
    assert {view.message.issue_id for view in result.messages} == {issue_id}
    assert [(s.channel, s.kind, s.count) for s in result.skipped] == [("forum", "post", 1), ("forum", "reply", 1)]
    assert all("channel 'forum' has no outbound connector" in s.reason for s in result.skipped)

    with db.read() as session:
        event = session.scalar(select(IssueEvent).where(IssueEvent.kind == "content.published"))
    assert event is not None and event.actor == "cora@acme.test"
    assert event.details["link"] == LINK and event.details["posts"] == ["x-main"] and event.details["replies"] == 3
    assert [s["channel"] for s in event.details["skipped"]] == ["forum", "forum"]

    # The worker sends what is due now, then each channel's next message once its spacing is over.
    first = OutboxDispatcher(db, clock=FixedClock(now)).deliver_due()
    assert first.sent == 2
    assert {d.payload["kind"] for d in bridge.wait_for(2)} == {"post", "reply"}
    assert OutboxDispatcher(db, clock=FixedClock(now + timedelta(seconds=29))).deliver_due().sent == 0
    assert OutboxDispatcher(db, clock=FixedClock(now + timedelta(seconds=30))).deliver_due().sent == 1
    assert OutboxDispatcher(db, clock=FixedClock(now + timedelta(seconds=60))).deliver_due().sent == 1
    delivered = {d.key: d.payload for d in bridge.wait_for(4)}
    assert delivered[reply_100.idempotency_key]["in_reply_to"] == "101"
    assert delivered[reply_100.idempotency_key]["channel"] == "x-main"
    assert {m.state for m in messages(db)} == {"sent"}


def test_a_version_is_published_once_and_a_newer_one_gets_its_own_page(db, settings, acme):
    now = utcnow()
    issue_id, _ = make_issue(db, acme, at=now)
    first = _publish(db, settings, acme, issue_id, at=now)
    with pytest.raises(Conflict, match=f"version 1 of the response is already published at {LINK}"):
        _publish(db, settings, acme, issue_id, at=now)
    with db.write() as session:
        add_version(session, acme, issue_id, body="Updated: refunds are on their way.", at=now + timedelta(hours=1))
    second = _publish(db, settings, acme, issue_id, at=now + timedelta(hours=1))
    assert (first.publication.slug, second.publication.slug) == ("checkout-errors", "checkout-errors-2")
    assert second.publication.body == "Updated: refunds are on their way."
    with db.write() as session:
        add_version(session, acme, issue_id, body="Third words.", at=now + timedelta(hours=2))
    with pytest.raises(Conflict, match="the newsroom already has a page at 'checkout-errors'"):
        _publish(db, settings, acme, issue_id, slug="checkout-errors")
    with pytest.raises(InvalidInput, match="'Checkout Errors!' is not a valid slug"):
        _publish(db, settings, acme, issue_id, slug="Checkout Errors!")
    third = _publish(db, settings, acme, issue_id, slug="refunds-update")
    assert third.publication.slug == "refunds-update"


def test_publishing_without_channels_or_threads_queues_nothing(db, settings, acme):
    issue_id, _ = make_issue(db, acme, at=utcnow())
    result = _publish(db, settings, acme, issue_id, reply_in_threads=False)
    assert (result.messages, result.skipped) == ([], [])
    assert messages(db) == []


def test_replies_can_be_left_out_and_a_thread_with_only_brand_posts_is_reported(db, settings, acme, bridge):
    now = utcnow()
    _threads(db, acme)
    ingest(db, acme, [mention("500", "our announcement", direction="outbound")])
    issue_id, _ = make_issue(db, acme, at=now)
    link_mentions(db, acme, issue_id, ["100", "500"], at=now)
    without = _publish(db, settings, acme, issue_id, at=now, reply_in_threads=False, channels=["hooks"])
    assert [(v.channel, v.message.kind) for v in without.messages] == [("hooks", "post")]
    with db.write() as session:
        add_version(session, acme, issue_id, body="More.", at=now)
    both = _publish(db, settings, acme, issue_id, at=now)
    assert [(v.channel, v.message.kind, v.message.in_reply_to) for v in both.messages] == [("x-main", "reply", "101")]
    assert [(s.channel, s.kind, s.count, s.reason) for s in both.skipped] == [
        ("x-main", "reply", 1, "the thread has no post from the public to answer")]


@pytest.mark.parametrize(("title", "slug"), [
    ("Checkout errors", "checkout-errors"),
    ("  Café prices: 50% off?! ", "cafe-prices-50-off"),
    ("¿Qué pasó?", "que-paso"),
    ("支付失败", "update"),
    ("x" * 300, "x" * 80),
])
def test_slugs_are_made_from_the_title(title, slug):
    assert slugify(title) == slug


# ---------------------------------------------------------------------------------------------- API


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _personal_token(db: Database, ws: WorkspaceFixture, email: str, roles: list[str]) -> str:
    user_id = add_member(db, ws, email, roles)
    with db.write() as session:
        _, token = workspace_service.create_token(session=session, workspace_id=ws.id, name=email,
                                                  scopes=["mentions:read", "workflow:write"], user_id=user_id)
    return token


def test_publish_over_the_api_and_the_worker_delivers(db, settings, acme, globex, bridge):
    _threads(db, acme)
    issue_id, _ = make_issue(db, acme, at=utcnow(), body=BODY)
    link_mentions(db, acme, issue_id, ["100", "300"], at=utcnow())
    cora = _personal_token(db, acme, "cora@acme.test", ["communications"])
    ana = _personal_token(db, acme, "ana@acme.test", ["agent"])
    api = f"/api/v1/workspaces/acme/issues/{issue_id}"
    with TestClient(create_app(settings, db=db, run_worker=True)) as client:
        refused = client.post(f"{api}/publish", json={"channels": ["x-main"]}, headers=_auth(ana))
        assert refused.status_code == 403
        assert "'publish' permission" in refused.json()["error"]["message"]
        assert client.post(f"/api/v1/workspaces/globex/issues/{issue_id}/publish", json={},
                           headers=_auth(cora)).status_code == 404
        assert client.post(f"{api}/publish", json={"kind": "memo"}, headers=_auth(cora)).status_code == 422

        answer = client.post(f"{api}/publish", json={"channels": ["x-main"]}, headers=_auth(cora))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["publication"]["url"] == f"{settings.base_url}/newsroom/acme/checkout-errors"
        assert body["publication"]["published_by"] == "cora@acme.test"
        assert [(m["channel"], m["kind"], m["in_reply_to"]) for m in body["messages"]] == [
            ("x-main", "post", None), ("x-main", "reply", "101"), ("hooks", "reply", "300")]
        assert body["skipped"] == []
        # The in-process worker delivers what is due now (one message per channel; the reply on x-main
        # waits out the 30 s spacing).
        assert len(bridge.wait_for(2)) == 2

        again = client.post(f"{api}/publish", json={}, headers=_auth(cora))
        assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")

        listed = client.get(f"{api}/outbox", headers=_auth(acme.read_token))
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert [m["kind"] for m in items] == ["reply", "reply", "post"], "newest first"
        assert client.get(f"{api}/outbox?state=sent", headers=_auth(acme.read_token)).status_code == 200
        assert client.get(f"{api}/outbox?state=lost", headers=_auth(acme.read_token)).status_code == 422
        assert client.get(f"/api/v1/workspaces/globex/issues/{issue_id}/outbox",
                          headers=_auth(globex.read_token)).status_code == 404
    with db.read() as session:
        states = dict(session.execute(select(OutboxMessage.kind, OutboxMessage.state).where(
            OutboxMessage.channel_id == acme.webhook_channel_id)).all())
    assert states == {"reply": "sent"}


def test_retry_and_connect_over_the_api(db, settings, acme):
    issue_id, _ = make_issue(db, acme, at=utcnow())
    cora = _personal_token(db, acme, "cora@acme.test", ["communications"])
    ana = _personal_token(db, acme, "ana@acme.test", ["agent"])
    with TestClient(create_app(settings, db=db, run_worker=False)) as client:
        connect_url = "/api/v1/workspaces/acme/channels/hooks/outbound"
        assert client.put(connect_url, json={"url": "https://bridge.example/x"}, headers=_auth(cora)).status_code == 403
        bad = client.put(connect_url, json={"url": "mailto:x@example.com"}, headers=_auth(acme.admin_token))
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "url")
        ok = client.put(connect_url, json={"url": "https://bridge.example/x"}, headers=_auth(acme.admin_token))
        assert ok.json() == {"channel": "hooks", "outbound_url": "https://bridge.example/x", "can_send": True,
                             "reason": None}
        api = f"/api/v1/workspaces/acme/issues/{issue_id}"
        published = client.post(f"{api}/publish", json={"channels": ["hooks"]}, headers=_auth(cora)).json()
        message_id = published["messages"][0]["id"]
        with db.write() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
                state="failed", attempts=8, last_error="answered 400"))
        assert client.post(f"{api}/outbox/{message_id}/retry", headers=_auth(ana)).status_code == 403
        retried = client.post(f"{api}/outbox/{message_id}/retry", headers=_auth(cora))
        assert retried.status_code == 200
        assert (retried.json()["state"], retried.json()["attempts"]) == ("pending", 0)
        assert client.post(f"{api}/outbox/999/retry", headers=_auth(cora)).status_code == 404
        cleared = client.put(connect_url, json={"url": None}, headers=_auth(acme.admin_token)).json()
        assert cleared["can_send"] is False and "has no outbound connector" in cleared["reason"]


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path),
           "FIREBREAK_PUBLIC_URL": BASE}

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        return CliRunner().invoke(cli_app, list(args), env=env)

    yield run
    get_settings.cache_clear()


def test_publish_and_work_the_outbox_from_the_command_line(db, acme, cli):
    _threads(db, acme)
    issue_id, _ = make_issue(db, acme, at=utcnow(), body=BODY)
    link_mentions(db, acme, issue_id, ["100"], at=utcnow())
    add_member(db, acme, "ana@acme.test", ["agent"])
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connected = cli("outbox", "connect", "x-main", "-w", "acme", "--url", bridge.url())
        assert connected.exit_code == 0, connected.output
        assert "Channel x-main sends to http://127.0.0.1:" in connected.output
        assert cli("outbox", "connect", "x-main", "-w", "acme").exit_code == 2

        refused = cli("publish", str(issue_id), "-w", "acme", "--as", "ana@acme.test")
        assert refused.exit_code == 2 and "'publish' permission" in refused.output

        published = cli("publish", str(issue_id), "-w", "acme", "--channel", "x-main", "--channel", "hooks")
        assert published.exit_code == 0, published.output
        assert f"Published at {LINK}" in published.output
        assert "Queued 1 post and 1 reply." in published.output
        assert "skipped 1 post on hooks: channel 'hooks' has no outbound connector" in published.output

        again = cli("publish", str(issue_id), "-w", "acme")
        assert again.exit_code == 2 and "already published" in again.output

        sent = cli("outbox", "send", "-w", "acme")
        assert sent.exit_code == 0, sent.output
        assert "Sent 1 message(s); 0 to retry, 0 failed for good." in sent.output
        assert "1 message(s) wait for their time" in sent.output
        assert bridge.delivered_keys() == [messages(db)[0].idempotency_key]

        listed = cli("outbox", "list", "-w", "acme", "--issue", str(issue_id))
        assert listed.exit_code == 0, listed.output
        assert "sent" in listed.output and "pending" in listed.output and "101" in listed.output

        reply = messages(db, kind="reply")[0]
        with db.write() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == reply.id).values(
                state="failed", last_error="answered 400"))
        assert "answered 400" in cli("outbox", "list", "-w", "acme", "--state", "failed").output
        retried = cli("outbox", "retry", str(reply.id), "-w", "acme")
        assert retried.exit_code == 0, retried.output
        assert messages(db, kind="reply")[0].state == "pending"
        assert cli("outbox", "list", "-w", "acme", "--state", "lost").exit_code == 2
