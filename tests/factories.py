"""Helpers that build workspaces, channels, tokens and mentions for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from firebreak.channels import service as channel_service
from firebreak.db.engine import Database
from firebreak.mentions import service as mention_service
from firebreak.mentions.schemas import MentionIn
from firebreak.workspaces import service as workspace_service

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class WorkspaceFixture:
    id: int
    slug: str
    x_channel_id: int
    webhook_channel_id: int
    webhook_secret: str
    read_token: str
    admin_token: str


def make_workspace(db: Database, slug: str) -> WorkspaceFixture:
    with db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug=slug, name=slug.title())
        x = channel_service.create_channel(session=session, workspace_id=ws.id, slug="x-main", kind="x")
        hook = channel_service.create_channel(session=session, workspace_id=ws.id, slug="hooks", kind="webhook")
        _, read_token = workspace_service.create_token(
            session=session, workspace_id=ws.id, name="reader", scopes=["mentions:read"]
        )
        _, admin_token = workspace_service.create_token(
            session=session, workspace_id=ws.id, name="admin", scopes=["admin"]
        )
        return WorkspaceFixture(ws.id, slug, x.id, hook.id, hook.webhook_secret or "", read_token, admin_token)


def mention(external_id: str | int, text: str = "my order never arrived", **fields: Any) -> MentionIn:
    tail = str(external_id)[-3:]
    fields.setdefault("created_at", T0 + timedelta(minutes=int(tail) if tail.isdigit() else 0))
    return msgspec.convert({"external_id": external_id, "text": text, **fields}, MentionIn)


def ingest(db: Database, ws: WorkspaceFixture, items: list[MentionIn], channel_slug: str = "x-main"):  # type: ignore[no-untyped-def]
    with db.write() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
        return mention_service.ingest_mentions(
            session=session, workspace_id=ws.id, channels=channels, default_channel=channels[channel_slug], items=items
        )
