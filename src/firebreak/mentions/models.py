"""ORM rows for authors, mentions and recorded pipeline errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.clock import utcnow
from firebreak.db.base import Base, BigId, CreatedAtMixin, UtcDateTime, WorkspaceScoped


class Author(CreatedAtMixin, WorkspaceScoped, Base):
    """A person or account that posts; unique per workspace, network and handle."""

    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("workspace_id", "network", "handle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    network: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(300))
    follower_count: Mapped[int | None]
    verified: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Mention(Base):
    """One public post about the brand, as received, plus its pipeline state."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        CheckConstraint("direction IN ('inbound', 'outbound')", name="direction"),
        CheckConstraint("state IN ('pending', 'processed', 'parked')", name="state"),
        # The worker's queue: pending mentions whose retry time has come, in the claim's order (with the id,
        # so PostgreSQL reads a batch off the index instead of sorting every mention due at the same instant).
        Index("ix_mentions_state_next_attempt_at_id", "state", "next_attempt_at", "id"),
        # An author's recent posts (the workflow's author_recent_posts fact), and the author's foreign key.
        Index("ix_mentions_author_id_created_at", "author_id", "created_at"),
        Index("ix_mentions_workspace_id_received_at", "workspace_id", "received_at"),
        Index("ix_mentions_workspace_id_conversation_id", "workspace_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Not indexed alone: (workspace_id, received_at) serves it, and every index slows ingest.
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(300))
    author_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("authors.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    normalized_text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    language_confidence: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Thread position: the parent's external id as delivered, and a stable conversation key.
    reply_to_external_id: Mapped[str | None] = mapped_column(String(300))
    conversation_id: Mapped[str | None] = mapped_column(String(300))
    raw: Mapped[dict[str, Any] | None] = mapped_column()
    entities: Mapped[dict[str, Any] | None] = mapped_column()

    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PipelineError(Base):
    """One failure of one stage on one mention: the history an admin reads before retrying."""

    __tablename__ = "pipeline_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mention_id: Mapped[int] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int]
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
