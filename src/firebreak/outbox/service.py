"""Queue posts and replies in the outbox, spaced out per channel; list them, retry them, connect channels.

`enqueue` runs inside the caller's transaction (publishing an issue's response, say), so a message
exists exactly when its cause does. Its idempotency key names the intent; queueing the same key again
keeps the stored message as it is, so a repeated request never posts twice.

Throttling: a channel's messages are spaced `spacing` apart. Enqueueing gives each new message the
next free slot on its channel (after the channel's last queued or just-sent message), so the outbox
shows when each one will go; the dispatcher enforces the same spacing again when it sends, so a
backlog after downtime still trickles out instead of bursting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.channels.models import Channel
from firebreak.core.errors import Conflict, InvalidInput, NotFound
from firebreak.outbox.connectors import OUTBOUND_URL, OutboundChannel, cannot_send, check_outbound_url
from firebreak.outbox.models import OUTBOX_STATES, OutboxMessage

MESSAGE_KINDS = ("post", "reply", "moderate")
# Where the dispatcher reads a message's channel spacing (seconds), fixed when it was queued.
SPACING_KEY = "spacing_seconds"
MAX_LIST = 1000
_KEY_MAX = OutboxMessage.__table__.c.idempotency_key.type.length
_REMOTE_MAX = OutboxMessage.__table__.c.in_reply_to.type.length
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """A message to queue; the idempotency key names what it is for ("publication:4:channel:2")."""

    channel_id: int
    kind: str
    idempotency_key: str
    body: str
    link: str | None = None
    in_reply_to: str | None = None
    conversation_id: str | None = None
    issue_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Queued:
    """The stored messages in draft order (new or kept from before), and how many were new."""

    messages: list[OutboxMessage]
    created: int


def spaced_slots(first_free: datetime, count: int, spacing: timedelta) -> list[datetime]:
    """Return `count` send times from `first_free`, `spacing` apart."""
    return [first_free + spacing * index for index in range(count)]


def first_free_slot(last: datetime | None, spacing: timedelta, now: datetime) -> datetime:
    """Return the first moment a new message may go on a channel whose last message is (or went) at `last`."""
    if last is None:
        return now
    return max(now, last + spacing)


def enqueue(*, session: Session, workspace_id: int, drafts: Sequence[OutboxDraft], spacing: timedelta, actor: str,
            now: datetime) -> Queued:
    """Store the drafts as pending, each channel's new ones `spacing` apart after what it already has."""
    if spacing < timedelta(0):
        raise InvalidInput(f"spacing must not be negative, got {spacing}", field="spacing")
    unique: dict[str, OutboxDraft] = {}
    for draft in drafts:
        _check(draft)
        unique.setdefault(draft.idempotency_key, draft)
    if not unique:
        return Queued([], 0)
    existing = _by_key(session, workspace_id, list(unique))
    new = [draft for key, draft in unique.items() if key not in existing]
    rows: list[dict[str, Any]] = []
    by_channel: dict[int, list[OutboxDraft]] = {}
    for draft in new:
        by_channel.setdefault(draft.channel_id, []).append(draft)
    last = _last_slots(session, list(by_channel), spacing, now)
    for channel_id, channel_drafts in by_channel.items():
        slots = spaced_slots(first_free_slot(last.get(channel_id), spacing, now), len(channel_drafts), spacing)
        for draft, slot in zip(channel_drafts, slots, strict=True):
            rows.append(_row(workspace_id, draft, slot, spacing, actor, now))
    created = 0
    if rows:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        for start in range(0, len(rows), _CHUNK):
            stmt = insert(OutboxMessage).values(rows[start:start + _CHUNK]).on_conflict_do_nothing(
                index_elements=["workspace_id", "idempotency_key"])
            # Only rows actually inserted come back: a concurrent request may have stored the same key.
            created += len(session.execute(stmt.returning(OutboxMessage.id)).all())
        existing = _by_key(session, workspace_id, list(unique))
    return Queued([existing[key] for key in unique], created)


def _check(draft: OutboxDraft) -> None:
    if draft.kind not in MESSAGE_KINDS:
        raise InvalidInput(f"unknown message kind {draft.kind!r}; kinds are {', '.join(MESSAGE_KINDS)}",
                           field="kind")
    if not draft.idempotency_key or len(draft.idempotency_key) > _KEY_MAX:
        raise InvalidInput(f"the idempotency key must be 1 to {_KEY_MAX} characters, got "
                           f"{len(draft.idempotency_key)}", field="idempotency_key")
    if not draft.body.strip():
        raise InvalidInput("a message needs a body", field="body")
    if draft.kind == "reply" and not draft.in_reply_to:
        raise InvalidInput("a reply needs the id of the post it answers", field="in_reply_to")
    if draft.kind == "moderate" and not draft.in_reply_to:
        raise InvalidInput("a moderation needs the id of the post it acts on", field="in_reply_to")
    for name in ("in_reply_to", "conversation_id"):
        value = getattr(draft, name)
        if value is not None and len(value) > _REMOTE_MAX:
            raise InvalidInput(f"{name} is longer than {_REMOTE_MAX} characters", field=name)


def _row(workspace_id: int, draft: OutboxDraft, slot: datetime, spacing: timedelta, actor: str,
         now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id, "channel_id": draft.channel_id, "kind": draft.kind,
        "idempotency_key": draft.idempotency_key, "body": draft.body, "link": draft.link,
        "in_reply_to": draft.in_reply_to, "conversation_id": draft.conversation_id, "issue_id": draft.issue_id,
        "payload": {**draft.payload, SPACING_KEY: spacing.total_seconds()}, "state": "pending", "attempts": 0,
        "next_attempt_at": slot, "created_by": actor, "created_at": now,
    }


def _by_key(session: Session, workspace_id: int, keys: list[str]) -> dict[str, OutboxMessage]:
    found: dict[str, OutboxMessage] = {}
    for start in range(0, len(keys), _CHUNK):
        found.update((row.idempotency_key, row) for row in session.scalars(select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.idempotency_key.in_(keys[start:start + _CHUNK]))))
    return found


def _last_slots(session: Session, channel_ids: list[int], spacing: timedelta, now: datetime) -> dict[int, datetime]:
    """The last moment each channel has a message going (or gone) out that new ones must keep clear of.

    Queued messages that never failed count at their slot; one in flight counts as now; one sent within
    the spacing counts when it went. Retries are left out: their backoff says nothing about the pace.
    """
    if not channel_ids:
        return {}
    last: dict[int, datetime] = {}

    def later(channel_id: int, moment: datetime | None) -> None:
        if moment is not None and (channel_id not in last or moment > last[channel_id]):
            last[channel_id] = moment

    of_channels = OutboxMessage.channel_id.in_(channel_ids)
    for channel_id, moment in session.execute(
        select(OutboxMessage.channel_id, func.max(OutboxMessage.next_attempt_at))
        .where(of_channels, OutboxMessage.state == "pending", OutboxMessage.attempts == 0)
        .group_by(OutboxMessage.channel_id)
    ):
        later(channel_id, moment)
    for channel_id, moment in session.execute(
        select(OutboxMessage.channel_id, func.max(OutboxMessage.sent_at))
        .where(of_channels, OutboxMessage.state == "sent", OutboxMessage.sent_at > now - spacing)
        .group_by(OutboxMessage.channel_id)
    ):
        later(channel_id, moment)
    for channel_id in session.scalars(
        select(OutboxMessage.channel_id).where(of_channels, OutboxMessage.state == "sending").distinct()
    ):
        later(channel_id, now)
    return last


@dataclass(frozen=True, slots=True)
class MessageView:
    """An outbox message with its channel's slug, as lists show it."""

    message: OutboxMessage
    channel: str


def list_messages(*, session: Session, workspace_id: int, issue_id: int | None = None,
                  states: Sequence[str] = (), channel: str | None = None, limit: int = 100) -> list[MessageView]:
    """Return the workspace's messages (of one issue, in some states, on one channel), newest first."""
    unknown = [state for state in states if state not in OUTBOX_STATES]
    if unknown:
        raise InvalidInput(f"unknown outbox state {unknown[0]!r}; states are {', '.join(OUTBOX_STATES)}",
                           field="state")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be 1 to {MAX_LIST}, got {limit}", field="limit")
    stmt = (select(OutboxMessage, Channel.slug).join(Channel, Channel.id == OutboxMessage.channel_id)
            .where(OutboxMessage.workspace_id == workspace_id).order_by(OutboxMessage.id.desc()).limit(limit))
    if issue_id is not None:
        stmt = stmt.where(OutboxMessage.issue_id == issue_id)
    if states:
        stmt = stmt.where(OutboxMessage.state.in_(list(states)))
    if channel is not None:
        stmt = stmt.where(Channel.slug == channel)
    return [MessageView(message, slug) for message, slug in session.execute(stmt)]


def waiting(*, session: Session, workspace_id: int | None = None) -> tuple[int, datetime | None]:
    """Return how many messages wait to be sent (queued or retrying) and when the first of them is due."""
    stmt = select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.state == "pending")
    if workspace_id is not None:
        stmt = stmt.where(OutboxMessage.workspace_id == workspace_id)
    count, first = session.execute(stmt).one()
    return int(count), first


def get_message(*, session: Session, workspace_id: int, message_id: int, issue_id: int | None = None) -> MessageView:
    """Return one message of the workspace (and of the issue, when given), or NotFound."""
    stmt = (select(OutboxMessage, Channel.slug).join(Channel, Channel.id == OutboxMessage.channel_id)
            .where(OutboxMessage.workspace_id == workspace_id, OutboxMessage.id == message_id))
    if issue_id is not None:
        stmt = stmt.where(OutboxMessage.issue_id == issue_id)
    row = session.execute(stmt).one_or_none()
    if row is None:
        where = f" of issue {issue_id}" if issue_id is not None else ""
        raise NotFound(f"outbox message {message_id}{where} does not exist in this workspace")
    return MessageView(row[0], row[1])


def retry(*, session: Session, workspace_id: int, message_id: int, actor: str, now: datetime,
          issue_id: int | None = None) -> MessageView:
    """Send a failed (or cancelled) message again with a fresh set of tries, or a queued one now.

    It keeps its idempotency key, so a receiver that already posted it answers with the same post.
    """
    view = get_message(session=session, workspace_id=workspace_id, message_id=message_id, issue_id=issue_id)
    message = view.message
    if message.state == "sent":
        raise Conflict(f"outbox message {message_id} was already sent at {message.sent_at:%Y-%m-%d %H:%M:%S} UTC "
                       f"(remote id {message.remote_id}); it is not sent twice", field="state")
    if message.state == "sending":
        raise Conflict(f"outbox message {message_id} is being sent right now; look again in a minute",
                       field="state")
    channel = session.get(Channel, message.channel_id)
    assert channel is not None  # the foreign key cascades deletes
    reason = cannot_send(OutboundChannel.of(channel))
    if reason is not None:
        raise InvalidInput(f"outbox message {message_id} would fail again: {reason}", field="channel")
    before = message.state
    message.state = "pending"
    message.next_attempt_at = now
    message.lease_until = None
    if before != "pending":
        message.attempts = 0
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="outbox.retried",
                 subject_type="outbox_message", subject_id=message.id,
                 details={"was": before, "key": message.idempotency_key, "last_error": message.last_error})
    session.flush()
    return view


def set_outbound_url(*, session: Session, workspace_id: int, channel: str, url: str | None,
                     actor: str) -> Channel:
    """Point the channel's webhook connector at `url` (None disconnects it); the change is audited."""
    found = session.scalar(select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug == channel))
    if found is None:
        raise NotFound(f"channel {channel!r} does not exist in this workspace")
    if url is not None:
        try:
            check_outbound_url(url)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="url") from None
    config = dict(found.config or {})
    before = config.get(OUTBOUND_URL)
    if url is None:
        config.pop(OUTBOUND_URL, None)
    else:
        config[OUTBOUND_URL] = url
    found.config = config  # a new dict, so the JSON column is written
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="channel.outbound_set",
                 subject_type="channel", subject_id=found.id, details={"slug": channel, "from": before, "to": url})
    session.flush()
    return found
