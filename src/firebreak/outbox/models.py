"""Outgoing posts and replies: each is a row until the network confirmed it, never a call in flight.

The idempotency key names the intent ("publication 4 on channel 2", "reply to mention 981 for issue 7"),
is unique per workspace, and is sent to the network's connector, so neither a retry nor a crash
between sending and recording can post twice to a connector that honours it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId, UtcDateTime, WorkspaceScoped

OUTBOX_STATES = ("pending", "sending", "sent", "failed", "cancelled")


class OutboxMessage(WorkspaceScoped, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in OUTBOX_STATES)})", name="state"),
        # A moderation (hide, delete, report as spam) of the post `in_reply_to` names goes out as kind 'moderate'.
        CheckConstraint("kind IN ('post', 'reply', 'moderate')", name="kind"),
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_messages_channel_id_next_attempt_at", "channel_id", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    # For a reply: the post it answers (external id on that channel) and its thread.
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    conversation_id: Mapped[str | None] = mapped_column(String(300))
    issue_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("issues.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # When it may go out: retries back off, and replies on one channel are spaced out (throttling).
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    remote_id: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
