"""The outbox: idempotent enqueueing, per-channel spacing, delivery through the webhook connector to a real
receiver on loopback, retries, permanent failures, and exactly-once delivery across crashes and races."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from firebreak.audit.models import AuditEntry
from firebreak.core.clock import FixedClock, utcnow
from firebreak.core.errors import Conflict, ConnectorError, InvalidInput
from firebreak.db.engine import Database
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, OutgoingMessage, SendFailed, WebhookConnector
from firebreak.outbox.delivery import OutboxDispatcher, backoff, retry_at
from firebreak.outbox.models import OutboxMessage
from tests.factories import WorkspaceFixture
from tests.outbox_support import add_channel, channel_secrets, connect, messages, outbound_receiver

ROOT = Path(__file__).resolve().parents[1]
SPACING = timedelta(seconds=30)


def _now() -> datetime:
    # The receiver checks signature timestamps against the wall clock, so dispatcher clocks start from it.
    return utcnow().replace(microsecond=0)


def _queue(db: Database, ws: WorkspaceFixture, channel_id: int, keys: list[str], *, now: datetime,
           spacing: timedelta = SPACING, kind: str = "post") -> outbox.Queued:
    drafts = [outbox.OutboxDraft(channel_id=channel_id, kind=kind, idempotency_key=key, body=f"update {key}",
                                 link="https://status.example/1", in_reply_to="t1" if kind == "reply" else None,
                                 conversation_id="c1" if kind == "reply" else None) for key in keys]
    with db.write() as session:
        return outbox.enqueue(session=session, workspace_id=ws.id, drafts=drafts, spacing=spacing, actor="test",
                              now=now)


def _dispatcher(db: Database, now: datetime, **options) -> OutboxDispatcher:  # type: ignore[no-untyped-def]
    return OutboxDispatcher(db, clock=FixedClock(now), **options)


# ---------------------------------------------------------------------------------------------- arithmetic


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=600),
       st.integers(min_value=1, max_value=86_400))
def test_backoff_doubles_from_the_base_and_never_passes_the_cap(attempts, base_seconds, cap_seconds):
    base, cap = timedelta(seconds=base_seconds), timedelta(seconds=cap_seconds)
    wait = backoff(attempts, base=base, cap=cap)
    assert wait <= cap
    assert wait == min(base * 2 ** min(attempts - 1, 20), cap)
    assert backoff(attempts + 1, base=base, cap=cap) >= wait
    assert backoff(1, base=base, cap=cap) == min(base, cap)


@given(st.integers(min_value=1, max_value=50), st.one_of(st.none(), st.floats(min_value=-10, max_value=10**7)))
def test_a_retry_waits_at_least_the_backoff_and_honours_a_bounded_retry_after(attempts, asked):
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    at = retry_at(now, attempts, asked=asked)
    assert at >= now + backoff(attempts)
    if asked is not None and asked > 0:
        assert at >= now + min(timedelta(seconds=asked), timedelta(hours=6))
    assert at <= now + max(backoff(attempts), timedelta(hours=6))


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=3600),
       st.one_of(st.none(), st.integers(min_value=-7200, max_value=7200)))
def test_slots_are_spaced_evenly_after_the_channels_last_message_and_never_in_the_past(count, seconds, last_offset):
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    spacing = timedelta(seconds=seconds)
    last = None if last_offset is None else now + timedelta(seconds=last_offset)
    slots = outbox.spaced_slots(outbox.first_free_slot(last, spacing, now), count, spacing)
    assert len(slots) == count
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert later - earlier == spacing
    if slots:
        assert slots[0] >= now
        assert last is None or slots[0] >= last + spacing
        assert slots[0] == (now if last is None else max(now, last + spacing))


# ---------------------------------------------------------------------------------------------- enqueue


def test_enqueue_is_idempotent_by_key_and_spaces_each_channel(db, acme):
    now = _now()
    hooks = acme.webhook_channel_id
    first = _queue(db, acme, hooks, ["a", "b", "c"], now=now)
    assert first.created == 3
    assert [m.next_attempt_at for m in first.messages] == [now, now + SPACING, now + 2 * SPACING]
    again = _queue(db, acme, hooks, ["b", "d"], now=now + timedelta(seconds=5))
    assert again.created == 1
    assert [m.idempotency_key for m in again.messages] == ["b", "d"]
    assert again.messages[0].id == first.messages[1].id, "a key stored before is kept, not stored twice"
    assert again.messages[1].next_attempt_at == now + 3 * SPACING, "new messages queue after the last one"
    other = _queue(db, acme, acme.x_channel_id, ["e"], now=now)
    assert other.messages[0].next_attempt_at == now, "another channel has its own pace"
    assert len(messages(db)) == 5
    assert messages(db)[0].payload == {outbox.SPACING_KEY: 30.0}


def test_enqueue_keeps_clear_of_a_message_just_sent_and_ignores_retry_backoff(db, acme):
    now = _now()
    hooks = acme.webhook_channel_id
    sent, retrying = _queue(db, acme, hooks, ["sent", "retrying"], now=now - timedelta(minutes=5)).messages
    with db.write() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == sent.id).values(
            state="sent", sent_at=now - timedelta(seconds=10)))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == retrying.id).values(
            attempts=3, next_attempt_at=now + timedelta(hours=1)))
    fresh = _queue(db, acme, hooks, ["fresh"], now=now).messages[0]
    assert fresh.next_attempt_at == now + timedelta(seconds=20)


def test_enqueue_refuses_bad_drafts(db, acme):
    now = _now()
    with pytest.raises(InvalidInput, match="unknown message kind 'dm'"):
        _queue(db, acme, acme.x_channel_id, ["k"], now=now, kind="dm")
    with pytest.raises(InvalidInput, match="idempotency key must be 1 to 200"):
        _queue(db, acme, acme.x_channel_id, ["k" * 201], now=now)
    bad = outbox.OutboxDraft(channel_id=acme.x_channel_id, kind="reply", idempotency_key="r", body="hi")
    with db.write() as session, pytest.raises(InvalidInput, match="a reply needs the id of the post it answers"):
        outbox.enqueue(session=session, workspace_id=acme.id, drafts=[bad], spacing=SPACING, actor="t", now=now)
    assert messages(db) == []


# ---------------------------------------------------------------------------------------------- delivery


def test_a_due_message_is_sent_signed_with_its_key_and_recorded_with_the_remote_id(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url("/hooks"))
        _queue(db, acme, acme.webhook_channel_id, ["publication:1:reply:2:c1"], now=now, kind="reply")
        report = _dispatcher(db, now).deliver_due()
        assert (report.sent, report.errors) == (1, [])
        delivery = bridge.wait_for(1)[0]
    assert bridge.rejected == []
    assert delivery.payload == {"kind": "reply", "body": "update publication:1:reply:2:c1",
                                "link": "https://status.example/1", "in_reply_to": "t1", "conversation_id": "c1",
                                "idempotency_key": "publication:1:reply:2:c1", "channel": "hooks"}
    assert delivery.headers["Idempotency-Key"] == "publication:1:reply:2:c1"
    (row,) = messages(db)
    assert (row.state, row.attempts, row.remote_id, row.sent_at, row.lease_until) == (
        "sent", 1, "remote-1", now, None)


def test_nothing_is_due_before_its_slot_and_an_idle_round_does_nothing(db, acme):
    now = _now()
    _queue(db, acme, acme.webhook_channel_id, ["later"], now=now + timedelta(minutes=1))
    report = _dispatcher(db, now).deliver_due()
    assert (report.sent, report.deferred, report.more) == (0, 0, False)
    assert messages(db)[0].state == "pending"


def test_a_5xx_is_retried_with_backoff_then_sent(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        bridge.fail_next(503, 2, text="upstream down")
        first = _dispatcher(db, now).deliver_due()
        assert (first.sent, first.retrying) == (0, 1)
        (row,) = messages(db)
        assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, now + timedelta(seconds=10))
        assert "503" in row.last_error and "upstream down" in row.last_error
        assert _dispatcher(db, now + timedelta(seconds=9)).deliver_due().more is False, "not before its backoff"
        second = _dispatcher(db, now + timedelta(seconds=10)).deliver_due()
        assert second.retrying == 1
        assert messages(db)[0].next_attempt_at == now + timedelta(seconds=30), "10s, then 20s"
        third = _dispatcher(db, now + timedelta(seconds=30)).deliver_due()
        assert third.sent == 1
    (row,) = messages(db)
    assert (row.state, row.attempts, row.last_error, row.remote_id) == ("sent", 3, None, "remote-1")


def test_429_waits_as_long_as_the_receiver_asks(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        bridge.fail_next(429, headers={"Retry-After": "120"}, text="slow down")
        assert _dispatcher(db, now).deliver_due().retrying == 1
    (row,) = messages(db)
    assert row.state == "pending"
    assert row.next_attempt_at == now + timedelta(seconds=120)


def test_a_4xx_fails_for_good_with_the_receivers_reason_in_the_audit_log(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        bridge.fail_next(400, text="text too long for this network")
        report = _dispatcher(db, now).deliver_due()
    assert (report.failed, report.retrying) == (1, 0)
    (row,) = messages(db)
    assert row.state == "failed"
    assert "refused the message (400)" in row.last_error and "text too long" in row.last_error
    with db.read() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.failed"))
    assert entry is not None and entry.details["permanent"] is True and entry.details["key"] == "k"
    assert _dispatcher(db, now + timedelta(hours=2)).deliver_due().more is False, "a failed message stays failed"


def test_transient_failures_give_up_after_max_attempts(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        bridge.fail_next(500, 5)
        at = now
        for _ in range(3):
            _dispatcher(db, at, max_attempts=3).deliver_due()
            at += timedelta(hours=1)
    (row,) = messages(db)
    assert (row.state, row.attempts) == ("failed", 3)
    assert bridge.delivered_keys() == []


def test_a_wrong_signature_is_refused_by_the_receiver_and_not_retried(db, acme):
    now = _now()
    secrets = channel_secrets(db, acme) | {"hooks": "whsec_not_the_channels"}
    with outbound_receiver(secrets) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        assert _dispatcher(db, now).deliver_due().failed == 1
    assert bridge.rejected == ["signature does not match the body and the channel's secret"]
    assert messages(db)[0].state == "failed"


def test_a_channel_disconnected_after_queueing_fails_with_the_reason(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        connect(db, acme, "hooks", None)
        assert _dispatcher(db, now).deliver_due().failed == 1
    assert "channel 'hooks' has no outbound connector" in messages(db)[0].last_error


def test_the_dispatcher_keeps_the_channel_pace_after_a_backlog(db, acme):
    now = _now()
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["a", "b", "c"], now=now - timedelta(minutes=10))
        # The worker was down for ten minutes: all three are due, yet only one goes now.
        first = _dispatcher(db, now).deliver_due()
        assert (first.sent, first.deferred) == (1, 0)
        second = _dispatcher(db, now).deliver_due()
        assert (second.sent, second.deferred) == (0, 1)
        assert _dispatcher(db, now + SPACING - timedelta(seconds=1)).deliver_due().sent == 0
        assert _dispatcher(db, now + SPACING).deliver_due().sent == 1
        assert _dispatcher(db, now + 2 * SPACING).deliver_due().sent == 1
    sent = sorted(m.sent_at for m in messages(db))
    assert sent == [now, now + SPACING, now + 2 * SPACING]
    assert bridge.delivered_keys() == ["a", "b", "c"]


def test_channels_are_sent_in_parallel_one_message_each_per_round(db, acme):
    now = _now()
    reddit = add_channel(db, acme, "reddit-main")
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        for slug in ("hooks", "x-main", "reddit-main"):
            connect(db, acme, slug, bridge.url(f"/{slug}"))
        for channel_id in (acme.webhook_channel_id, acme.x_channel_id, reddit):
            _queue(db, acme, channel_id, [f"{channel_id}:1", f"{channel_id}:2"], now=now, spacing=timedelta(0))
        rounds = []
        while (report := _dispatcher(db, now).deliver_due()).more:
            rounds.append(report.sent)
    assert rounds == [3, 3]
    assert len(bridge.delivered_keys()) == 6


# ---------------------------------------------------------------------------------------------- exactly once


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way up handles it."""


class _CrashAfterSending:
    def __init__(self, inner: WebhookConnector) -> None:
        self.inner = inner

    def send(self, message: OutgoingMessage) -> str:
        self.inner.send(message)
        raise _Crash("the process died after sending, before recording")


def test_a_crash_between_send_and_record_resends_with_the_same_key_and_the_receiver_posts_once(db, acme):
    now = _now()
    lease = timedelta(seconds=120)
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["publication:9:channel:2"], now=now)
        crashing = OutboxDispatcher(db, clock=FixedClock(now), lease=lease, connector_for=lambda channel:
                                    _CrashAfterSending(WebhookConnector(channel, timeout=5)))
        with pytest.raises(_Crash):
            crashing.deliver_due()
        (row,) = messages(db)
        assert (row.state, row.attempts, row.lease_until) == ("sending", 1, now + lease)
        assert _dispatcher(db, now + lease - timedelta(seconds=1)).deliver_due().more is False, "the lease holds"
        report = _dispatcher(db, now + lease).deliver_due()
        assert report.sent == 1
    (row,) = messages(db)
    assert (row.state, row.attempts, row.remote_id) == ("sent", 2, "remote-1")
    assert bridge.requests_for("publication:9:channel:2") == 2
    assert bridge.delivered_keys() == ["publication:9:channel:2"], "sent twice, posted once"


@pytest.mark.slow
def test_a_dispatcher_killed_mid_send_is_recovered_and_the_message_posted_exactly_once(db, acme, database_url):
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["publication:3:channel:2"], now=_now() - timedelta(seconds=1))
        bridge.hold()  # the receiver posts it, then keeps the answer back until the sender is dead
        sender = subprocess.Popen([sys.executable, "-m", "tests.outbox_support", database_url], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            bridge.wait_until_held()
            assert sender.poll() is None, "the sender must be waiting for the answer"
            sender.send_signal(signal.SIGKILL)
            assert sender.wait(10) == -signal.SIGKILL
        finally:
            sender.kill()
            sender.wait()
        bridge.release()
        (row,) = messages(db)
        assert (row.state, row.attempts) == ("sending", 1), "killed between sending and recording"
        assert row.lease_until is not None
        # Past the dead dispatcher's lease, a new one takes the message over and sends it again.
        report = _dispatcher(db, row.lease_until).deliver_due()
        assert (report.sent, report.errors) == (1, [])
    (row,) = messages(db)
    assert (row.state, row.attempts, row.remote_id) == ("sent", 2, "remote-1")
    assert bridge.requests_for("publication:3:channel:2") == 2
    assert bridge.delivered_keys() == ["publication:3:channel:2"]


def test_concurrent_dispatchers_never_send_a_message_twice(db, acme):
    now = _now()
    channel_ids = [acme.webhook_channel_id, acme.x_channel_id] + [
        add_channel(db, acme, f"forum-{n}", kind="webhook") for n in range(4)]
    keys = [f"{channel_id}:{n}" for channel_id in channel_ids for n in range(5)]
    with outbound_receiver(channel_secrets(db, acme), answer_delay=0.01) as bridge:
        with db.read() as session:
            from firebreak.channels.models import Channel

            slugs = list(session.scalars(select(Channel.slug).where(Channel.workspace_id == acme.id)))
        for slug in slugs:
            connect(db, acme, slug, bridge.url(f"/{slug}"))
        for channel_id in channel_ids:
            _queue(db, acme, channel_id, [k for k in keys if k.startswith(f"{channel_id}:")], now=now,
                   spacing=timedelta(0))
        failures: list[BaseException] = []

        def run() -> None:
            try:
                dispatcher = OutboxDispatcher(db, clock=FixedClock(now), max_parallel=3)
                for _ in range(200):
                    dispatcher.deliver_due()
                    if not messages(db, state="pending") and not messages(db, state="sending"):
                        return
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert failures == []
    assert sorted(bridge.delivered_keys()) == sorted(keys)
    assert all(bridge.requests_for(key) == 1 for key in keys), "every message was sent exactly once"
    assert {m.state for m in messages(db)} == {"sent"}


class _Blocking:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.entered = threading.Event()
        self.go = threading.Event()

    def send(self, message: OutgoingMessage) -> str:
        self.entered.set()
        assert self.go.wait(10)
        return self.answer


def test_a_dispatcher_that_lost_its_lease_cannot_overwrite_the_new_owners_record(db, acme):
    now = _now()
    lease = timedelta(seconds=60)
    with outbound_receiver(channel_secrets(db, acme)) as bridge:
        connect(db, acme, "hooks", bridge.url())
        _queue(db, acme, acme.webhook_channel_id, ["k"], now=now)
        slow = _Blocking("stale-id")
        first = OutboxDispatcher(db, clock=FixedClock(now), lease=lease, connector_for=lambda channel: slow)
        reports = []
        thread = threading.Thread(target=lambda: reports.append(first.deliver_due()))
        thread.start()
        assert slow.entered.wait(10)
        # The first dispatcher is stuck past its lease; a second one takes over and finishes.
        assert _dispatcher(db, now + lease).deliver_due().sent == 1
        slow.go.set()
        thread.join(10)
    assert (reports[0].sent, reports[0].superseded) == (0, 1)
    (row,) = messages(db)
    assert (row.state, row.remote_id) == ("sent", "remote-1")


# ---------------------------------------------------------------------------------------------- connector


def _channel(url: str | None, *, secret: str | None = "whsec_test", active: bool = True) -> OutboundChannel:
    return OutboundChannel(id=1, slug="hooks", active=active, outbound_url=url, secret=secret)


MESSAGE = OutgoingMessage(kind="post", body="hello", link=None, in_reply_to=None, conversation_id=None,
                          idempotency_key="k", channel="hooks")


@pytest.mark.parametrize(("channel", "reason"), [
    (_channel(None), "has no outbound connector"),
    (_channel("ftp://bridge.example/x"), "must be an absolute http(s) URL"),
    (_channel("https://bridge.example/x", secret=None), "has no webhook secret"),
    (_channel("https://bridge.example/x", active=False), "is inactive"),
])
def test_the_webhook_connector_refuses_a_channel_it_cannot_send_to(channel, reason):
    with pytest.raises(ConnectorError, match=re.escape(reason)) as caught:
        WebhookConnector(channel, timeout=1)
    assert caught.value.permanent


def test_the_connector_reads_the_receivers_answer():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers: list[tuple[int, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connector = WebhookConnector(_channel(f"http://127.0.0.1:{server.server_address[1]}/"), timeout=5)
        answers.append((201, {}, b'{"id": 1861234567}'))
        assert connector.send(MESSAGE) == "1861234567"
        for status, headers, body, permanent, phrase in [
            (200, {}, b"ok", True, 'without a JSON {"id": ...}'),
            (204, {}, b"", True, "without a JSON"),
            (301, {"Location": "https://elsewhere.example/"}, b"", True, "redirected (301) to https://elsewhere"),
            (404, {}, b"no such route", True, "refused the message (404): no such route"),
            (408, {}, b"", False, "answered 408"),
            (502, {}, b"<html>bad gateway</html>", False, "answered 502"),
        ]:
            answers.append((status, headers, body))
            with pytest.raises(SendFailed, match=re.escape(phrase)) as caught:
                connector.send(MESSAGE)
            assert caught.value.permanent is permanent
            assert caught.value.status == status
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_or_slow_receiver_is_a_transient_failure():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    with pytest.raises(SendFailed, match="cannot reach the receiver") as caught:
        WebhookConnector(_channel(f"http://127.0.0.1:{port}/"), timeout=2).send(MESSAGE)
    assert not caught.value.permanent
    with outbound_receiver({"hooks": "whsec_test"}, answer_delay=1.0) as bridge:
        with pytest.raises(SendFailed, match="did not answer within 0.2s") as caught:
            WebhookConnector(_channel(bridge.url()), timeout=0.2).send(MESSAGE)
        assert not caught.value.permanent
        assert bridge.wait_for(1)[0].key == "k", "it may have been posted: that is why the key is sent"


# ---------------------------------------------------------------------------------------------- retry, connect


def test_retry_gives_a_failed_message_fresh_tries_and_refuses_sent_or_sending_ones(db, acme):
    now = _now()
    connect(db, acme, "hooks", "https://bridge.example/hooks")
    failed, sent, sending = _queue(db, acme, acme.webhook_channel_id, ["f", "s", "i"], now=now).messages
    with db.write() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == failed.id).values(
            state="failed", attempts=8, last_error="answered 400"))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == sent.id).values(
            state="sent", sent_at=now, remote_id="r1"))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == sending.id).values(
            state="sending", lease_until=now + timedelta(minutes=1)))
    later = now + timedelta(hours=1)
    with db.write() as session:
        view = outbox.retry(session=session, workspace_id=acme.id, message_id=failed.id, actor="ana", now=later)
        assert (view.message.state, view.message.attempts, view.message.next_attempt_at) == ("pending", 0, later)
        assert view.channel == "hooks"
    with db.write() as session, pytest.raises(Conflict, match=r"already sent at .* \(remote id r1\); it is not sent"):
        outbox.retry(session=session, workspace_id=acme.id, message_id=sent.id, actor="ana", now=later)
    with db.write() as session, pytest.raises(Conflict, match="being sent right now"):
        outbox.retry(session=session, workspace_id=acme.id, message_id=sending.id, actor="ana", now=later)
    connect(db, acme, "hooks", None)
    with db.write() as session, pytest.raises(InvalidInput, match="would fail again: channel 'hooks' has no outbound"):
        outbox.retry(session=session, workspace_id=acme.id, message_id=failed.id, actor="ana", now=later)
    with db.read() as session:
        audited = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("outbox.%"))))
    assert audited == ["outbox.retried"]


def test_messages_are_private_to_their_workspace(db, acme, globex):
    now = _now()
    (message,) = _queue(db, acme, acme.webhook_channel_id, ["k"], now=now).messages
    with db.read() as session:
        assert outbox.list_messages(session=session, workspace_id=globex.id) == []
        from firebreak.core.errors import NotFound

        with pytest.raises(NotFound, match=f"outbox message {message.id} does not exist"):
            outbox.get_message(session=session, workspace_id=globex.id, message_id=message.id)
        assert [v.message.id for v in outbox.list_messages(session=session, workspace_id=acme.id,
                                                           states=["pending"], channel="hooks")] == [message.id]
        with pytest.raises(InvalidInput, match="unknown outbox state 'lost'"):
            outbox.list_messages(session=session, workspace_id=acme.id, states=["lost"])


def test_connecting_a_channel_checks_the_url_and_is_audited(db, acme):
    with pytest.raises(InvalidInput, match="absolute http"):
        connect(db, acme, "hooks", "bridge.example/hooks")
    connect(db, acme, "hooks", "https://bridge.example/hooks")
    connect(db, acme, "hooks", None)
    with db.read() as session:
        details = [e.details for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "channel.outbound_set").order_by(AuditEntry.id))]
    assert [(d["from"], d["to"]) for d in details] == [(None, "https://bridge.example/hooks"),
                                                        ("https://bridge.example/hooks", None)]

