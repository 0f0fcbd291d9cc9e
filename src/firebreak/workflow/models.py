"""Work items (one per inbound mention that needs handling), SLA clocks and the events they fired.

Deadlines are rows, not timers: each running clock carries its next firing moment (`next_fire_at`),
and the scheduler advances it in the same transaction that records the event, so a crash fires
nothing twice and loses nothing (see workflow/scheduler.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Double, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId, UtcDateTime, WorkspaceScoped

WORK_STATES = ("new", "assigned", "responded", "waiting", "resolved", "closed")
OPEN_STATES = ("new", "assigned", "responded", "waiting")
CLOCK_STATES = ("running", "paused", "met", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WorkItem(WorkspaceScoped, Base):
    """What the team must do about one inbound mention, who does it, and how far it got."""

    __tablename__ = "work_items"
    __table_args__ = (
        CheckConstraint(_in("state", WORK_STATES), name="state"),
        Index("ix_work_items_workspace_id_queue_state", "workspace_id", "queue", "state"),
        Index("ix_work_items_workspace_id_assignee_id_state", "workspace_id", "assignee_id", "state"),
        Index("ix_work_items_workspace_id_state_opened_at", "workspace_id", "state", "opened_at"),
        Index("ix_work_items_workspace_id_state_sla_due_at", "workspace_id", "state", "sla_due_at"),
        Index("ix_work_items_workspace_id_updated_at_mention_id", "workspace_id", "updated_at", "mention_id"),
    )

    mention_id: Mapped[int] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="new")
    queue: Mapped[str] = mapped_column(String(48))
    team: Mapped[str] = mapped_column(String(48))
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    route_rule: Mapped[str] = mapped_column(String(48))
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    # The assessment: the recommended action, the outcome of the tree and the path that led there.
    action: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(48))
    needs_response: Mapped[bool] = mapped_column(Boolean, default=True)
    assessment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sla_policy: Mapped[str | None] = mapped_column(String(48))
    # The earliest due time of its running clocks, kept here so a queue sorts by urgency on one index.
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    playbook_version: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    waiting_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Bumped on every change, so two people acting on the same item cannot silently overwrite each other.
    revision: Mapped[int] = mapped_column(default=1)


class SlaClock(WorkspaceScoped, Base):
    """One time goal, measured in business time on a playbook calendar: a mention's response or resolution
    goal, or an issue's stage goal or legal review (then `issue_id` is set instead of `mention_id`, and
    `reference_id` names the stage visit or the draft version).

    Business seconds used so far are `consumed_seconds` plus the time since `segment_started_at` while
    running; pausing folds the running segment into `consumed_seconds`, resuming starts a new segment
    and moves `due_at` / `warn_at` on by the paused time in the calendar's business hours.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        CheckConstraint(_in("state", CLOCK_STATES), name="state"),
        CheckConstraint("metric IN ('first_response', 'next_response', 'resolution', 'stage', 'legal_review')",
                        name="metric"),
        CheckConstraint("(mention_id IS NULL) <> (issue_id IS NULL)", name="one_subject"),
        UniqueConstraint("mention_id", "metric"),
        Index("ix_sla_clocks_next_fire_at", "next_fire_at"),
        Index("ix_sla_clocks_workspace_id_state_due_at", "workspace_id", "state", "due_at"),
        Index("ix_sla_clocks_issue_clocks", "issue_id", sqlite_where=text("issue_id IS NOT NULL"),
              postgresql_where=text("issue_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mention_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"))
    issue_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    reference_id: Mapped[int | None] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(48))
    calendar: Mapped[str] = mapped_column(String(48))
    target_seconds: Mapped[float] = mapped_column(Double)
    warn_fraction: Mapped[float] = mapped_column(Double)
    state: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    segment_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    consumed_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    warn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The scheduler's cursor: when and what fires next (warning, breach, escalation:N); null when done.
    next_fire_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_event: Mapped[str | None] = mapped_column(String(24))
    escalation_level: Mapped[int] = mapped_column(default=0)


class SlaEvent(WorkspaceScoped, Base):
    """A warning, breach or escalation that fired; unique per clock, so none can fire twice."""

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("clock_id", "event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    clock_id: Mapped[int] = mapped_column(BigId, ForeignKey("sla_clocks.id", ondelete="CASCADE"))
    mention_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    issue_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(24))
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
