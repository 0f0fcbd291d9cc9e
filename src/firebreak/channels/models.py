"""ORM rows for channels and per-feed poll state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.types import ChannelKind
from firebreak.db.base import Base, BigId, CreatedAtMixin, WorkspaceScoped

_KINDS = ", ".join(f"'{k.value}'" for k in ChannelKind)


class Channel(CreatedAtMixin, WorkspaceScoped, Base):
    """A source of mentions in a workspace (an X account, a subreddit, a feed, a webhook sender)."""

    __tablename__ = "channels"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slug"),
        CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    # Shared secret for HMAC-signed webhooks; taken from the environment or generated, never from the repo.
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)


class FeedState(Base):
    """Conditional-GET validators and schedule of one polled RSS/Atom feed."""

    __tablename__ = "feed_states"

    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    interval_seconds: Mapped[int] = mapped_column(default=300)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
