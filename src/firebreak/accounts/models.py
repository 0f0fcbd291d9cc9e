"""Users belong to workspaces through memberships (one row per role) and to playbook teams.

A user is global (one e-mail, one password) because agencies and shared services work for several
brands; what they may see and do is always decided per workspace by their membership rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId, CreatedAtMixin, UtcDateTime, WorkspaceScoped

# The same six roles as firebreak.routing.ROLES (the playbook's roles:); kept here because accounts
# sits below the playbook layers and the database check constraint needs them.
ROLE_NAMES = ("agent", "lead", "communications", "legal", "executive", "admin")


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Membership(CreatedAtMixin, WorkspaceScoped, Base):
    """One role of one user in one workspace."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id", "role"),
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLE_NAMES)})", name="role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(24))


class TeamMember(CreatedAtMixin, WorkspaceScoped, Base):
    """A user's place in a playbook team: whether they take work now, and when they last got some.

    Teams and queues are playbook data; who is in them changes daily, so it lives here.
    """

    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "team", "user_id"),
        Index("ix_team_members_workspace_id_user_id", "workspace_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team: Mapped[str] = mapped_column(String(48))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    # Off shift, on leave, at lunch: not given new work, still sees their queue.
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
