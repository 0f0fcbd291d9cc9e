"""Deliver the outbox: claim due messages under a lease, send them outside any transaction, record the outcome.

One call of `OutboxDispatcher.deliver_due`:

1. In one short write transaction, claim at most one due message per channel: a pending one whose
   `next_attempt_at` has come, or a 'sending' one whose lease ran out (its dispatcher died mid-send).
   On PostgreSQL each channel is locked FOR NO KEY UPDATE SKIP LOCKED while it is looked at, so two
   dispatchers never claim on one channel at once; SQLite has one writer at a time. A channel with a
   message in flight waits, and so does one whose last message went out less than its spacing ago
   (a backlog after downtime trickles out in order instead of bursting). The claim is a conditional
   update (still due?) that sets 'sending', a lease and one more attempt.
2. With no transaction open, send each claimed message through its channel's connector, in parallel,
   each bounded by a timeout shorter than the lease.
3. Record each outcome in its own short transaction, fenced by the lease it was claimed with: sent
   (with the remote id); back to pending after an exponential backoff (or the receiver's Retry-After);
   or failed for good on a permanent error or after `max_attempts`, which is written to the audit log.

Exactly once, across crashes: the connector passes the message's idempotency key to the receiver.
A dispatcher that dies after sending and before recording leaves the message 'sending'; once the
lease runs out another claim sends it again with the same key, the receiver recognises the key and
answers with the post it already made, and the message ends 'sent' with that post's id. If the first
dispatcher was only slow and records after losing its lease, the fence makes its write a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.channels.models import Channel
from firebreak.core.backoff import RETRY_BASE, RETRY_CAP
from firebreak.core.backoff import retry_delay as backoff
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import ConnectorError
from firebreak.db.engine import Database
from firebreak.outbox.connectors import Connector, OutboundChannel, OutgoingMessage, SendFailed, WebhookConnector
from firebreak.outbox.models import OutboxMessage
from firebreak.outbox.service import SPACING_KEY

# A receiver may ask for a pause; longer than this and the message is better retried at the cap.
RETRY_AFTER_CAP = timedelta(hours=6)

ConnectorFactory = Callable[[OutboundChannel], Connector]


def retry_at(now: datetime, attempts: int, *, asked: float | None = None, base: timedelta = RETRY_BASE,
             cap: timedelta = RETRY_CAP) -> datetime:
    """Return when to try again: after the backoff, or later if the receiver asked for a longer pause."""
    wait = backoff(attempts, base=base, cap=cap)
    if asked is not None and asked > 0:
        wait = max(wait, min(timedelta(seconds=asked), RETRY_AFTER_CAP))
    return now + wait


@dataclass
class OutboxReport:
    """What one `deliver_due` call did, in messages."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0
    # Recorded by another dispatcher after this one's lease ran out (its own outcome was dropped).
    superseded: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def more(self) -> bool:
        """True when the call sent or settled something, so another may find the next message due."""
        return bool(self.sent or self.retrying or self.failed)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    workspace_id: int
    channel: OutboundChannel
    message: OutgoingMessage
    attempts: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class _Outcome:
    remote_id: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending messages whose time has come, and messages whose dispatcher died while sending them."""
    return or_(and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.state == "sending", OutboxMessage.lease_until <= now))


class OutboxDispatcher:
    """Sends due outbox messages; safe to run in several threads or processes at once."""

    def __init__(
        self,
        db: Database,
        *,
        connector_for: ConnectorFactory | None = None,
        clock: Clock | None = None,
        max_attempts: int = 8,
        lease: timedelta = timedelta(seconds=120),
        send_timeout: timedelta = timedelta(seconds=30),
        max_parallel: int = 8,
        retry_base: timedelta = RETRY_BASE,
        retry_cap: timedelta = RETRY_CAP,
    ) -> None:
        if send_timeout >= lease:
            # Otherwise a slow send could outlive its lease and another dispatcher would send it again.
            raise ValueError(f"send_timeout ({send_timeout}) must be shorter than the lease ({lease})")
        if max_attempts < 1 or max_parallel < 1:
            raise ValueError("max_attempts and max_parallel must be at least 1")
        self._db = db
        timeout = send_timeout.total_seconds()
        self._connector_for = connector_for or (lambda channel: WebhookConnector(channel, timeout=timeout))
        self._clock = clock or SystemClock()
        self._max_attempts = max_attempts
        self._lease = lease
        self._max_parallel = max_parallel
        self._retry_base = retry_base
        self._retry_cap = retry_cap

    def deliver_due(self, *, workspace_id: int | None = None) -> OutboxReport:
        """Send what is due (at most one message per channel, `max_parallel` channels) and report."""
        report = OutboxReport()
        now = self._clock.now()
        in_scope = [] if workspace_id is None else [OutboxMessage.workspace_id == workspace_id]
        # An idle poll looks with a reader first, so it never takes SQLite's write lock.
        with self._db.read() as session:
            channel_ids = list(session.scalars(
                select(OutboxMessage.channel_id).where(_due(now), *in_scope).distinct()))
        if not channel_ids:
            return report
        with self._db.write() as session:
            claimed = self._claim(session, sorted(channel_ids), now, in_scope, report)
        if not claimed:
            return report
        with ThreadPoolExecutor(max_workers=len(claimed), thread_name_prefix="outbox-send") as pool:
            futures = {pool.submit(self._send, item): item for item in claimed}
            # Recorded as each finishes, so one slow receiver holds up no other channel's record.
            for future in as_completed(futures):
                with self._db.write() as session:
                    self._record(session, futures[future], future.result(), self._clock.now(), report)
        return report

    def _claim(self, session: Session, channel_ids: list[int], now: datetime, in_scope: list[ColumnElement[bool]],
               report: OutboxReport) -> list[_Claimed]:
        if session.get_bind().dialect.name == "postgresql":
            # NO KEY UPDATE: new messages may still be inserted for the channel meanwhile.
            channel_ids = list(session.scalars(select(Channel.id).where(Channel.id.in_(channel_ids))
                                               .order_by(Channel.id).with_for_update(skip_locked=True, key_share=True)))
        claimed: list[_Claimed] = []
        for channel_id in channel_ids:
            if len(claimed) == self._max_parallel:
                break  # the rest stay due for the next call
            item = self._claim_on_channel(session, channel_id, now, in_scope, report)
            if item is not None:
                claimed.append(item)
        return claimed

    def _claim_on_channel(self, session: Session, channel_id: int, now: datetime,
                          in_scope: list[ColumnElement[bool]], report: OutboxReport) -> _Claimed | None:
        on_channel = OutboxMessage.channel_id == channel_id
        message = session.scalar(select(OutboxMessage).where(on_channel, _due(now), *in_scope)
                                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1))
        if message is None:
            return None
        in_flight = session.scalar(select(OutboxMessage.id).where(
            on_channel, OutboxMessage.state == "sending", OutboxMessage.lease_until > now).limit(1))
        if in_flight is not None:
            return None  # one message at a time per channel: that is what keeps the spacing
        spacing = timedelta(seconds=float((message.payload or {}).get(SPACING_KEY, 0.0)))
        if spacing > timedelta(0):
            last_sent = session.scalar(select(func.max(OutboxMessage.sent_at)).where(
                on_channel, OutboxMessage.state == "sent", OutboxMessage.sent_at > now - spacing))
            if last_sent is not None and last_sent + spacing > now:
                # Left as it is rather than rescheduled, so the channel's messages keep their order.
                report.deferred += 1
                return None
        lease_until = now + self._lease
        attempts = message.attempts + 1
        # Conditional: only if it is still due, so a message is never claimed twice.
        taken = session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id, _due(now)).values(
            state="sending", lease_until=lease_until, attempts=OutboxMessage.attempts + 1))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        channel = session.get(Channel, channel_id)
        assert channel is not None  # the foreign key cascades deletes
        outbound = OutboundChannel.of(channel)
        return _Claimed(
            id=message.id, workspace_id=message.workspace_id, channel=outbound, attempts=attempts,
            lease_until=lease_until,
            message=OutgoingMessage(kind=message.kind, body=message.body, link=message.link,
                                    in_reply_to=message.in_reply_to, conversation_id=message.conversation_id,
                                    idempotency_key=message.idempotency_key, channel=outbound.slug),
        )

    def _send(self, item: _Claimed) -> _Outcome:
        """Send one message; never raises an Exception (a BaseException, as when the process dies, goes up)."""
        try:
            return _Outcome(remote_id=self._connector_for(item.channel).send(item.message))
        except SendFailed as exc:
            return _Outcome(error=str(exc), permanent=exc.permanent, retry_after=exc.retry_after)
        except ConnectorError as exc:
            return _Outcome(error=str(exc), permanent=exc.permanent)
        except Exception as exc:  # noqa: BLE001 - a broken connector must not stop the other channels
            return _Outcome(error=f"{type(exc).__name__}: {exc}")

    def _record(self, session: Session, item: _Claimed, outcome: _Outcome, now: datetime,
                report: OutboxReport) -> None:
        # Fenced by the claim's lease: after losing the lease, another dispatcher owns the message.
        mine = (OutboxMessage.id == item.id, OutboxMessage.state == "sending",
                OutboxMessage.lease_until == item.lease_until)
        if outcome.error is None:
            done = session.execute(update(OutboxMessage).where(*mine).values(
                state="sent", sent_at=now, remote_id=outcome.remote_id, lease_until=None, last_error=None))
            if done.rowcount == 1:  # type: ignore[attr-defined]
                report.sent += 1
            else:
                report.superseded += 1
            return
        report.errors.append(f"outbox message {item.id} ({item.message.kind} on {item.channel.slug}): "
                             f"{outcome.error}")
        if outcome.permanent or item.attempts >= self._max_attempts:
            done = session.execute(update(OutboxMessage).where(*mine).values(
                state="failed", lease_until=None, last_error=outcome.error))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                report.superseded += 1
                return
            report.failed += 1
            # A post nobody made is something an administrator must be able to find later.
            audit.record(session=session, workspace_id=item.workspace_id, actor="outbox", action="outbox.failed",
                         subject_type="outbox_message", subject_id=item.id,
                         details={"channel": item.channel.slug, "kind": item.message.kind,
                                  "key": item.message.idempotency_key, "attempts": item.attempts,
                                  "permanent": outcome.permanent, "error": outcome.error})
            return
        later = retry_at(now, item.attempts, asked=outcome.retry_after, base=self._retry_base, cap=self._retry_cap)
        done = session.execute(update(OutboxMessage).where(*mine).values(
            state="pending", next_attempt_at=later, lease_until=None, last_error=outcome.error))
        if done.rowcount == 1:  # type: ignore[attr-defined]
            report.retrying += 1
        else:
            report.superseded += 1
