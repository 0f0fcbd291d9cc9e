"""ORM row holding the latest triage verdict of each mention, with the versions that produced it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.clock import utcnow
from firebreak.db.base import Base, BigId, UtcDateTime


class MentionTriage(Base):
    """One mention's flag, category, signals and reasons; replaced when the mention is re-triaged."""

    __tablename__ = "triage_results"
    __table_args__ = (
        CheckConstraint("flag IN ('green', 'yellow', 'red')", name="flag"),
        Index("ix_triage_results_workspace_id_flag", "workspace_id", "flag"),
        Index("ix_triage_results_workspace_id_category", "workspace_id", "category"),
    )

    mention_id: Mapped[int] = mapped_column(BigId, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id", ondelete="CASCADE"))
    flag: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(48))
    category_group: Mapped[str] = mapped_column(String(32))
    sentiment: Mapped[str] = mapped_column(String(16))
    sentiment_score: Mapped[float]
    offensive: Mapped[bool]
    offensive_score: Mapped[float]
    intent: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    playbook_version: Mapped[str] = mapped_column(String(80))
    model_version: Mapped[str] = mapped_column(String(80))
    triaged_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
