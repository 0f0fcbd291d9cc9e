"""Playbook versions per workspace: every accepted upload is kept, one is in force."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId, CreatedAtMixin, WorkspaceScoped


class PlaybookVersion(CreatedAtMixin, WorkspaceScoped, Base):
    """The YAML text as uploaded (so history shows exactly what was in force) and its content hash."""

    __tablename__ = "playbook_versions"
    __table_args__ = (Index("ix_playbook_versions_workspace_id_active", "workspace_id", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[str] = mapped_column(String(80))
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
