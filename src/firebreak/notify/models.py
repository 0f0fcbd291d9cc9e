"""ORM row of the alert outbox: one alert for one target, stored before it is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.clock import utcnow
from firebreak.db.base import Base, BigId, UtcDateTime

ALERT_STATES = ("pending", "sending", "sent", "failed", "suppressed")


class Alert(Base):
    """An alert waiting for, undergoing or done with delivery to one target (the outbox row).

    pending → sending → sent; a failed send goes back to pending with a later `next_attempt_at` until
    the attempts run out (failed). Suppressed alerts were never sent because the playbook no longer
    routes them to that target.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        # The same alert (same target, same dedupe key) is stored, and so sent, once.
        UniqueConstraint("workspace_id", "target", "dedupe_key"),
        CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'suppressed')", name="state"),
        # The dispatcher's queue: due pending rows, and sending rows whose lease ran out.
        Index("ix_alerts_state_next_attempt_at", "state", "next_attempt_at"),
        # The rate limit: messages sent to one target within the last window.
        Index("ix_alerts_workspace_id_target_sent_at", "workspace_id", "target", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Not indexed alone: the unique (workspace_id, target, dedupe_key) index serves it, and enqueueing
    # happens inside the pipeline's write transaction, where every index costs.
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id", ondelete="CASCADE"))
    # A playbook target id, or a per-person target the workflow makes up ("email:<address>").
    target: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    # No index: mentions are rarely deleted and alerts are few, so the SET NULL scan is cheap.
    mention_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The id of the first alert of the message that carried this one; alerts combined into one message
    # share it, so the rate limit counts messages, not alerts.
    batch_id: Mapped[int | None] = mapped_column(BigId)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
