"""What the playbook's conditions can know about a batch of mentions, gathered in a few bulk queries.

The assessment tree, routing rules and SLA policies all test the same facts (see firebreak.conditions),
so they are built once per mention: triage results, the author, the channel, and the thread history
("this author already had three unanswered posts in this thread").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from firebreak.channels.models import Channel
from firebreak.mentions.models import Author, Mention
from firebreak.triage.models import MentionTriage
from firebreak.workflow.models import WorkItem

RECENT_DAYS = 7
UNANSWERED_STATES = ("new", "assigned")


@dataclass(slots=True)
class BatchContext:
    """Lookups shared by every mention of a batch."""

    channels: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (slug, kind)
    authors: dict[int, Author] = field(default_factory=dict)
    # (conversation, author_id) -> earlier inbound posts in the thread not yet answered / answered
    unanswered: Counter[tuple[str, int]] = field(default_factory=Counter)
    answered: set[tuple[str, int]] = field(default_factory=set)
    thread_length: Counter[tuple[int, str]] = field(default_factory=Counter)  # (workspace, conversation)
    # Earlier posts of the same batch (a backlog can bring a whole thread at once), per mention id:
    # the author's posts in the thread (all still unanswered), and all posts in the thread.
    unanswered_in_batch: dict[int, int] = field(default_factory=dict)
    thread_before_in_batch: dict[int, int] = field(default_factory=dict)
    # Brand replies already stored to posts of this batch (a retried post can come after its answer):
    # (channel, replied-to external id) -> (the earliest reply's mention id, when it was posted).
    earlier_replies: dict[tuple[int, str], tuple[int, datetime]] = field(default_factory=dict)
    recent_posts: Counter[int] = field(default_factory=Counter)
    recent_negative: Counter[int] = field(default_factory=Counter)


def load_context(session: Session, mentions: Sequence[Mention], *, now: datetime) -> BatchContext:
    """Run the batch's lookups: channels, authors, thread history and recent activity per author."""
    context = BatchContext()
    if not mentions:
        return context
    channel_ids = {m.channel_id for m in mentions}
    context.channels = {row[0]: (row[1], row[2]) for row in session.execute(
        select(Channel.id, Channel.slug, Channel.kind).where(Channel.id.in_(channel_ids)))}
    author_ids = {m.author_id for m in mentions if m.author_id is not None}
    if author_ids:
        context.authors = {a.id: a for a in session.scalars(select(Author).where(Author.id.in_(author_ids)))}
    batch_ids = [m.id for m in mentions]
    threads = {(m.workspace_id, m.conversation_id) for m in mentions if m.conversation_id}
    if threads:
        rows = session.execute(
            select(Mention.workspace_id, Mention.conversation_id, Mention.author_id, Mention.direction,
                   WorkItem.state, WorkItem.first_response_at, Mention.id, Mention.channel_id,
                   Mention.reply_to_external_id, Mention.created_at)
            .outerjoin(WorkItem, WorkItem.mention_id == Mention.id)
            .where(in_threads(threads), Mention.id.not_in(batch_ids))
        )
        for (workspace_id, conversation, author_id, direction, state, first_response_at, mention_id, channel_id,
             reply_to, created_at) in rows:
            context.thread_length[(workspace_id, conversation)] += 1
            if direction != "inbound":
                if reply_to is not None:
                    known = context.earlier_replies.get((channel_id, reply_to))
                    if known is None or created_at < known[1]:
                        context.earlier_replies[(channel_id, reply_to)] = (mention_id, created_at)
                continue
            if author_id is None:
                continue
            if state in UNANSWERED_STATES:
                context.unanswered[(conversation, author_id)] += 1
            if first_response_at is not None:
                context.answered.add((conversation, author_id))
        _count_earlier_in_batch(context, mentions)
    if author_ids:
        since = now - timedelta(days=RECENT_DAYS)
        recent = session.execute(
            select(Mention.author_id, func.count(), func.count(MentionTriage.mention_id).filter(
                MentionTriage.sentiment == "negative"))
            .outerjoin(MentionTriage, MentionTriage.mention_id == Mention.id)
            .where(Mention.author_id.in_(author_ids), Mention.created_at >= since, Mention.id.not_in(batch_ids))
            .group_by(Mention.author_id)
        )
        for author_id, posts, negative in recent:
            context.recent_posts[author_id] = posts
            context.recent_negative[author_id] = negative
    return context


def in_threads(threads: set[tuple[int, str]]) -> ColumnElement[bool]:
    """Mentions of these (workspace, conversation) threads, as one IN list per workspace.

    SQLite cannot use the (workspace_id, conversation_id) index for a row-value IN list and scans the
    whole table; `workspace_id = ? AND conversation_id IN (...)` is an index lookup per conversation.
    """
    by_workspace: dict[int, list[str]] = {}
    for workspace_id, conversation in threads:
        by_workspace.setdefault(workspace_id, []).append(conversation)
    return or_(*(and_(Mention.workspace_id == ws, Mention.conversation_id.in_(conversations))
                 for ws, conversations in by_workspace.items()))


def _count_earlier_in_batch(context: BatchContext, mentions: Sequence[Mention]) -> None:
    by_author: Counter[tuple[int, str, int]] = Counter()
    by_thread: Counter[tuple[int, str]] = Counter()
    for mention in sorted(mentions, key=lambda m: (m.created_at, m.id)):
        if not mention.conversation_id:
            continue
        thread = (mention.workspace_id, mention.conversation_id)
        if by_thread[thread]:
            context.thread_before_in_batch[mention.id] = by_thread[thread]
        by_thread[thread] += 1
        if mention.direction == "inbound" and mention.author_id is not None:
            key = (*thread, mention.author_id)
            if by_author[key]:
                context.unanswered_in_batch[mention.id] = by_author[key]
            by_author[key] += 1


def mention_facts(mention: Mention, triage: dict[str, Any] | None, context: BatchContext) -> dict[str, Any]:
    """The facts of one mention, as the `when:` language names them."""
    slug, kind = context.channels.get(mention.channel_id, ("", ""))
    author = context.authors.get(mention.author_id) if mention.author_id is not None else None
    conversation = mention.conversation_id or ""
    facts: dict[str, Any] = {
        "channel": slug,
        "channel_kind": kind,
        "language": mention.language,
        "direction": mention.direction,
        "is_reply": mention.reply_to_external_id is not None,
        "author_tags": tuple(author.tags or ()) if author else (),
        "author_followers": (author.follower_count or 0) if author else 0,
        "author_verified": bool(author.verified) if author else False,
        "unanswered_replies": context.unanswered.get((conversation, mention.author_id or 0), 0)
        + context.unanswered_in_batch.get(mention.id, 0),
        "thread_length": context.thread_length.get((mention.workspace_id, conversation), 0) + 1
        + context.thread_before_in_batch.get(mention.id, 0),
        "author_recent_posts": context.recent_posts.get(mention.author_id or 0, 0),
        "author_recent_negative": context.recent_negative.get(mention.author_id or 0, 0),
    }
    if triage is not None:
        facts.update(
            flag=triage["flag"], category=triage["category"], category_group=triage["category_group"],
            sentiment=triage["sentiment"], intent=triage.get("intent"), offensive=triage["offensive"],
            confidence=triage["confidence"],
        )
    return facts


def already_answered(mention: Mention, context: BatchContext) -> bool:
    """Has the brand already answered this author in this thread (so the next answer is a 'next response')?"""
    return (mention.conversation_id or "", mention.author_id or 0) in context.answered
