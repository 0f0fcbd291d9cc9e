"""Rapid-response issues: the issue, its people, stages, linked mentions, tasks, content and timeline.

An issue moves through the playbook's stages (acknowledgement → discovery → internal discussion →
content and approval → publishing → aftermath); each stage visit is a row with its time goal, and
the goal's clock is an `sla_clocks` row, so stage deadlines warn and escalate exactly like SLAs.
Everything that happens is also one row in `issue_events`, the issue's ordered timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId, UtcDateTime, WorkspaceScoped
from firebreak.lifecycle import DRAFT_KINDS, STAKEHOLDER_ROLES

SEVERITIES = ("low", "medium", "high", "critical")
VERSION_STATES = ("draft", "in_review", "changes_requested", "approved", "superseded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Issue(WorkspaceScoped, Base):
    __tablename__ = "issues"
    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        CheckConstraint("state IN ('open', 'closed')", name="state"),
        CheckConstraint("decision IS NULL OR decision IN ('one_off', 'systemic')", name="decision"),
        UniqueConstraint("workspace_id", "number"),
        Index("ix_issues_workspace_id_state_stage", "workspace_id", "state", "stage"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int]  # per workspace, what people say ("issue 12")
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(12), default="medium")
    state: Mapped[str] = mapped_column(String(8), default="open")
    stage: Mapped[str] = mapped_column(String(48))
    stage_entered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    decision: Mapped[str | None] = mapped_column(String(12))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Rules that link arriving mentions automatically: keywords, categories, products.
    link_rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_from: Mapped[str] = mapped_column(String(24), default="manual")  # manual | mentions | detection
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    playbook_version: Mapped[str] = mapped_column(String(80))
    revision: Mapped[int] = mapped_column(default=1)


class IssueStakeholder(WorkspaceScoped, Base):
    __tablename__ = "issue_stakeholders"
    __table_args__ = (
        CheckConstraint(_in("role", STAKEHOLDER_ROLES), name="role"),
        UniqueConstraint("issue_id", "user_id", "role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(24))


class IssueStage(WorkspaceScoped, Base):
    """One visit of an issue to a stage, with its time goal and how it ended."""

    __tablename__ = "issue_stages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(48))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    goal: Mapped[str | None] = mapped_column(String(24))  # as the playbook writes it: "2h", "2bd"
    calendar: Mapped[str | None] = mapped_column(String(48))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the stage was left with required tasks open: who overrode the gate and why.
    override_reason: Mapped[str | None] = mapped_column(Text)
    left_by: Mapped[str | None] = mapped_column(String(200))


class IssueMention(WorkspaceScoped, Base):
    """A mention that is part of the issue's conversation; `site` feeds the ripple map."""

    __tablename__ = "issue_mentions"
    __table_args__ = (
        UniqueConstraint("issue_id", "mention_id"),
        Index("ix_issue_mentions_issue_id_posted_at", "issue_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    mention_id: Mapped[int] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(200))  # the URL's host, else the channel kind
    conversation_id: Mapped[str | None] = mapped_column(String(300))
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    linked_by: Mapped[str] = mapped_column(String(200))  # a person, or "rule:<what matched>"


class IssueTask(WorkspaceScoped, Base):
    __tablename__ = "issue_tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(300))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    from_playbook: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Draft(WorkspaceScoped, Base):
    """A piece of content for the issue (the acknowledgement, the response, FAQs...) and its versions."""

    __tablename__ = "issue_drafts"
    __table_args__ = (CheckConstraint(_in("kind", DRAFT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str | None] = mapped_column(String(48))  # talking points: sales, marketing, comms, support
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DraftVersion(WorkspaceScoped, Base):
    """An immutable text of a draft; approval locks it, and only an approved version can be published."""

    __tablename__ = "issue_draft_versions"
    __table_args__ = (
        CheckConstraint(_in("state", VERSION_STATES), name="state"),
        UniqueConstraint("draft_id", "number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    draft_id: Mapped[int] = mapped_column(BigId, ForeignKey("issue_drafts.id", ondelete="CASCADE"))
    number: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(200))
    source_statement: Mapped[str | None] = mapped_column(String(48))  # a holding statement it started from


class DraftReview(WorkspaceScoped, Base):
    """A reviewer's verdict on a version, or a comment (verdict null)."""

    __tablename__ = "issue_draft_reviews"
    __table_args__ = (
        CheckConstraint("verdict IS NULL OR verdict IN ('approved', 'changes_requested')", name="verdict"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(BigId, ForeignKey("issue_draft_versions.id", ondelete="CASCADE"),
                                            index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    reviewer_role: Mapped[str | None] = mapped_column(String(24))
    verdict: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Publication(WorkspaceScoped, Base):
    """An approved version published on the workspace's newsroom page (a frozen copy of the text)."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(BigId, ForeignKey("issue_draft_versions.id", ondelete="RESTRICT"))
    slug: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IssueEvent(WorkspaceScoped, Base):
    """The issue's timeline: every stage change, link, draft, review, publication and comment, in order."""

    __tablename__ = "issue_events"
    __table_args__ = (Index("ix_issue_events_issue_id_id", "issue_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IssueLesson(WorkspaceScoped, Base):
    """A lesson learned, optionally with the playbook change it proposes (YAML), for the aftermath."""

    __tablename__ = "issue_lessons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    proposed_change: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
