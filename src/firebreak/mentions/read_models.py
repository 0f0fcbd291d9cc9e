"""Pydantic shapes of mentions as the API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from firebreak.mentions.models import Author, Mention


class AuthorRead(BaseModel):
    id: int
    network: str
    handle: str
    display_name: str | None
    follower_count: int | None
    verified: bool
    tags: list[str]


class ReasonRead(BaseModel):
    kind: str
    label: str
    category: str | None = None
    flag: str | None = None


class TriageRead(BaseModel):
    """The mention's triage verdict, with the versions that produced it."""

    flag: str
    category: str
    group: str
    sentiment: str
    sentiment_score: float
    offensive: bool
    offensive_score: float
    intent: str | None
    confidence: float
    reasons: list[ReasonRead]
    playbook_version: str
    model_version: str
    triaged_at: datetime


class MentionRead(BaseModel):
    id: int
    channel_id: int
    external_id: str
    direction: str
    url: str | None
    text: str
    language: str | None
    created_at: datetime
    received_at: datetime
    reply_to_external_id: str | None
    conversation_id: str | None
    state: str
    attempts: int
    last_error: str | None
    author: AuthorRead | None
    entities: dict[str, Any] | None
    triage: TriageRead | None = None


class MentionPage(BaseModel):
    items: list[MentionRead]
    next_cursor: str | None


class MentionDetail(MentionRead):
    thread: list[MentionRead]
    raw: dict[str, Any] | None


class IngestAccepted(BaseModel):
    ids: list[int]
    created: int
    duplicates: int


def author_read(author: Author | None) -> AuthorRead | None:
    if author is None:
        return None
    return AuthorRead(
        id=author.id,
        network=author.network,
        handle=author.handle,
        display_name=author.display_name,
        follower_count=author.follower_count,
        verified=author.verified,
        tags=list(author.tags or []),
    )


def mention_read(mention: Mention, authors: dict[int, Author]) -> MentionRead:
    return MentionRead(
        id=mention.id,
        channel_id=mention.channel_id,
        external_id=mention.external_id,
        direction=mention.direction,
        url=mention.url,
        text=mention.text,
        language=mention.language,
        created_at=mention.created_at,
        received_at=mention.received_at,
        reply_to_external_id=mention.reply_to_external_id,
        conversation_id=mention.conversation_id,
        state=mention.state,
        attempts=mention.attempts,
        last_error=mention.last_error,
        author=author_read(authors.get(mention.author_id)) if mention.author_id else None,
        entities=mention.entities,
    )
