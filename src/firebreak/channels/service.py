"""Create and look up channels; generate and rotate webhook secrets."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.channels.models import Channel, FeedState
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.core.types import ChannelKind
from firebreak.workspaces.service import check_name, check_slug


def new_secret() -> str:
    """Return a fresh random webhook secret."""
    return "whsec_" + secrets.token_urlsafe(32)


def create_channel(
    *,
    session: Session,
    workspace_id: int,
    slug: str,
    kind: str,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    webhook_secret: str | None = None,
    actor: str = "system",
) -> Channel:
    """Create a channel; every channel gets a webhook secret so any source can push to it."""
    check_slug(slug, what="channel")
    try:
        ChannelKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in ChannelKind)
        raise InvalidInput(f"unknown channel kind {kind!r}; known kinds: {known}", field="kind") from None
    exists = session.scalar(select(Channel.id).where(Channel.workspace_id == workspace_id, Channel.slug == slug))
    if exists is not None:
        raise InvalidInput(f"channel {slug!r} already exists in this workspace", field="channel")
    channel = Channel(
        workspace_id=workspace_id,
        slug=slug,
        kind=kind,
        name=check_name(name) if name else slug,
        config=config or {},
        webhook_secret=webhook_secret or new_secret(),
    )
    session.add(channel)
    session.flush()
    audit.record(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action="channel.created",
        subject_type="channel",
        subject_id=channel.id,
        details={"slug": slug, "kind": kind},
    )
    return channel


def get_channel(*, session: Session, workspace_id: int, slug: str) -> Channel:
    """Return the workspace's channel with this slug or raise NotFound."""
    channel = session.scalar(select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug == slug))
    if channel is None:
        raise NotFound(f"channel {slug!r} does not exist in this workspace")
    return channel


def channels_by_slug(*, session: Session, workspace_id: int) -> dict[str, Channel]:
    """Return all channels of a workspace keyed by slug."""
    return {c.slug: c for c in session.scalars(select(Channel).where(Channel.workspace_id == workspace_id))}


def rotate_secret(*, session: Session, channel: Channel, actor: str) -> str:
    """Replace a channel's webhook secret and return the new one."""
    channel.webhook_secret = new_secret()
    audit.record(
        session=session,
        workspace_id=channel.workspace_id,
        actor=actor,
        action="channel.secret_rotated",
        subject_type="channel",
        subject_id=channel.id,
    )
    return channel.webhook_secret


def add_feed(
    *,
    session: Session,
    workspace_id: int,
    slug: str,
    url: str,
    interval_seconds: int,
    kind: str = "rss",
    name: str | None = None,
    actor: str = "system",
) -> Channel:
    """Create a polled RSS/Atom channel with its schedule; the first poll is due at once."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"feed URL must be http(s), got {url!r}", field="url")
    if interval_seconds < 10:
        raise InvalidInput("poll interval must be at least 10 seconds", field="interval_seconds")
    channel = create_channel(
        session=session,
        workspace_id=workspace_id,
        slug=slug,
        kind=kind,
        name=name,
        config={"feed_url": url},
        actor=actor,
    )
    session.add(FeedState(channel_id=channel.id, url=url, interval_seconds=interval_seconds, next_poll_at=utcnow()))
    session.flush()
    return channel
