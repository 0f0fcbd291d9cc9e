"""Publish an issue's approved content: the newsroom page, posts on the chosen channels, replies in every thread.

    result = publish(session, runtime=runtime, workspace_id=ws, issue_id=7, actor=actor, now=now,
                     base_url=settings.base_url, channels=["x-main"], reply_in_threads=True)
    result.link        # https://.../newsroom/acme/checkout-errors
    result.messages    # the outbox posts and replies, each with when it will go
    result.skipped     # channels nothing could be sent to, and why

One transaction does it all: the Publication (a frozen copy of the approved text), the timeline event,
and the outbox messages. Each message's idempotency key names its purpose (the publication and the
channel or the thread), so the dispatcher's retries and crash recovery never post twice, and
publishing is refused rather than repeated for a version already published.

Replies go to the latest post from the public in each thread linked to the issue (linked mentions
grouped by conversation), rendered from the playbook's `reply_template`, and every channel's messages
are spaced `publish_throttle` apart so the brand does not flood a network with identical replies.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.errors import Conflict, InvalidInput
from firebreak.issues import content, timeline
from firebreak.issues.access import get_issue, require
from firebreak.issues.models import Draft, DraftVersion, Issue, IssueMention, Publication
from firebreak.issues.newsroom import link_for, summarize
from firebreak.lifecycle import DRAFT_KINDS, render
from firebreak.mentions.models import Author, Mention
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.outbox.models import OutboxMessage
from firebreak.workflow.actions import Actor
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

# Talking points are for the brand's own people (sales, marketing, communications, support), never the public.
PUBLIC_KINDS = tuple(kind for kind in DRAFT_KINDS if kind != "talking_points")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
_SLUG_BASE_MAX = 80
_KEY_MAX = OutboxMessage.__table__.c.idempotency_key.type.length
_LOOKUP_CHUNK = 400


@dataclass(frozen=True, slots=True)
class Skipped:
    """Messages not queued on a channel, and why (no outbound connector, inactive...)."""

    channel: str
    kind: str  # post | reply
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    publication: Publication
    link: str
    messages: list[outbox.MessageView]
    skipped: list[Skipped]


@dataclass(frozen=True, slots=True)
class _Thread:
    channel_id: int
    conversation: str
    first_linked: datetime


def slugify(title: str) -> str:
    """Return a URL slug for a title: ASCII letters and digits joined by dashes ("update" if none are left)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:_SLUG_BASE_MAX].rstrip("-")
    return slug or "update"


def publish(
    session: Session,
    *,
    runtime: WorkflowRuntime,
    workspace_id: int,
    issue_id: int,
    actor: Actor,
    now: datetime,
    base_url: str,
    kind: str = "response",
    version_id: int | None = None,
    channels: Sequence[str] = (),
    reply_in_threads: bool = True,
    slug: str | None = None,
) -> PublishResult:
    """Publish the approved version on the newsroom and queue the posts and thread replies that point to it.

    Needs the `publish` permission. Without `version_id` the newest approved version of the issue's
    `kind` draft is published; `channels` are the slugs to post on; `slug` overrides the one made from
    the issue's title.
    """
    issue = get_issue(session, workspace_id, issue_id, lock=True)
    require(runtime, actor, "publish", f"publish issue {issue.number}'s content")
    if issue.state != "open":
        raise Conflict(f"issue {issue.number} is closed; reopen it before publishing", field="issue")
    version, draft = _approved(session, issue, kind, version_id)
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None  # the issue belongs to it
    already = session.scalar(select(Publication.slug).where(
        Publication.issue_id == issue.id, Publication.version_id == version.id))
    if already is not None:
        raise Conflict(f"version {version.number} of the {_words(draft.kind)} is already published at "
                       f"{link_for(base_url, workspace.slug, already)}", field="version_id")
    targets = _channels(session, workspace_id, channels)
    slug = _unique_slug(session, workspace_id, slug, issue.title)
    publication = Publication(workspace_id=workspace_id, issue_id=issue.id, version_id=version.id, slug=slug,
                              title=issue.title, body=version.body, published_at=now, published_by=actor.name,
                              updated_at=now)
    session.add(publication)
    session.flush()
    link = link_for(base_url, workspace.slug, slug)
    skipped: list[Skipped] = []
    drafts: list[outbox.OutboxDraft] = []
    post_body = f"{summarize(version.body)} {link}".strip()
    for channel in targets:
        reason = cannot_send(OutboundChannel.of(channel))
        if reason is not None:
            skipped.append(Skipped(channel.slug, "post", 1, reason))
            continue
        drafts.append(outbox.OutboxDraft(
            channel_id=channel.id, kind="post", idempotency_key=f"publication:{publication.id}:channel:{channel.id}",
            body=post_body, link=link, issue_id=issue.id, payload={"publication_id": publication.id}))
    if reply_in_threads:
        replies, reply_skips = _replies(session, runtime, workspace, issue, publication, link)
        drafts += replies
        skipped += reply_skips
    spacing = timedelta(seconds=runtime.loaded.playbook.issues.publish_throttle)
    queued = outbox.enqueue(session=session, workspace_id=workspace_id, drafts=drafts, spacing=spacing,
                            actor=actor.name, now=now)
    slugs = {channel.id: channel.slug for channel in session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id))}
    messages = [outbox.MessageView(message, slugs[message.channel_id]) for message in queued.messages]
    timeline.record(session, issue, kind="content.published", actor=actor.name, at=now, details={
        "publication_id": publication.id, "slug": slug, "link": link, "kind": draft.kind,
        "version_id": version.id, "version": version.number,
        "posts": sorted({view.channel for view in messages if view.message.kind == "post"}),
        "replies": sum(1 for view in messages if view.message.kind == "reply"),
        "skipped": [{"channel": s.channel, "kind": s.kind, "count": s.count, "reason": s.reason} for s in skipped],
    })
    return PublishResult(publication, link, messages, skipped)


def _approved(session: Session, issue: Issue, kind: str, version_id: int | None) -> tuple[DraftVersion, Draft]:
    """The version to publish: the one asked for, which must be approved, else the newest approved of `kind`."""
    if version_id is not None:
        version, draft = content.get_version(session, issue.workspace_id, version_id, issue_id=issue.id)
        if version.state != "approved":
            raise InvalidInput(f"version {version.number} of the {_words(draft.kind)} is "
                               f"{_words(version.state)}; only an approved version can be published",
                               field="version_id")
        _check_public(draft.kind)
        return version, draft
    if kind not in DRAFT_KINDS:
        raise InvalidInput(f"unknown content kind {kind!r}; kinds are {', '.join(PUBLIC_KINDS)}", field="kind")
    _check_public(kind)
    found = content.approved_version(session, workspace_id=issue.workspace_id, issue_id=issue.id, kind=kind)
    if found is None:
        raise InvalidInput(f"the {_words(kind)} has no approved version; publishing needs one", field="version_id")
    draft = session.get(Draft, found.draft_id)
    assert draft is not None  # the foreign key cascades deletes
    return found, draft


def _words(identifier: str) -> str:
    return identifier.replace("_", " ")


def _check_public(kind: str) -> None:
    if kind not in PUBLIC_KINDS:
        raise InvalidInput(f"{_words(kind)} are for the brand's own people and are never published",
                           field="kind")


def _channels(session: Session, workspace_id: int, slugs: Iterable[str]) -> list[Channel]:
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return []
    found = {channel.slug: channel for channel in session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.slug.in_(wanted)))}
    missing = [slug for slug in wanted if slug not in found]
    if missing:
        known = ", ".join(sorted(session.scalars(select(Channel.slug).where(Channel.workspace_id == workspace_id))))
        raise InvalidInput(f"unknown channel {missing[0]!r}; channels are {known or '(none)'}", field="channels")
    return [found[slug] for slug in wanted]


def _unique_slug(session: Session, workspace_id: int, wanted: str | None, title: str) -> str:
    taken_by = select(Publication.id).where(Publication.workspace_id == workspace_id)
    if wanted is not None:
        if not SLUG_RE.match(wanted):
            raise InvalidInput(f"{wanted!r} is not a valid slug: use 1-120 lowercase letters, digits and dashes",
                               field="slug")
        if session.scalar(taken_by.where(Publication.slug == wanted)) is not None:
            raise Conflict(f"the newsroom already has a page at {wanted!r}; choose another slug", field="slug")
        return wanted
    base = slugify(title)
    taken = set(session.scalars(select(Publication.slug).where(
        Publication.workspace_id == workspace_id, Publication.slug.like(f"{base}%"))))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _replies(session: Session, runtime: WorkflowRuntime, workspace: Workspace, issue: Issue,
             publication: Publication, link: str) -> tuple[list[outbox.OutboxDraft], list[Skipped]]:
    """One reply per linked thread, to its latest post from the public, on channels that can send."""
    threads = _threads(session, issue)
    if not threads:
        return [], []
    channels = {channel.id: channel for channel in session.scalars(
        select(Channel).where(Channel.id.in_({thread.channel_id for thread in threads})))}
    latest = _latest_inbound(session, workspace.id, threads)
    template = runtime.loaded.playbook.issues.reply_template
    drafts: list[outbox.OutboxDraft] = []
    left_out: dict[tuple[int, str], int] = {}  # (channel, reason) -> threads
    for thread in threads:
        channel = channels[thread.channel_id]
        reason = cannot_send(OutboundChannel.of(channel))
        target = latest.get((thread.channel_id, thread.conversation))
        if reason is None and target is None:
            reason = "the thread has no post from the public to answer"
        if reason is not None:
            left_out[(channel.id, reason)] = left_out.get((channel.id, reason), 0) + 1
            continue
        assert target is not None
        external_id, handle = target
        values = {"title": issue.title, "link": link, "brand": workspace.name}
        if handle:
            values["handle"] = handle
        drafts.append(outbox.OutboxDraft(
            channel_id=channel.id, kind="reply",
            idempotency_key=_reply_key(publication.id, channel.id, thread.conversation),
            body=render(template, values), link=link, in_reply_to=external_id, conversation_id=thread.conversation,
            issue_id=issue.id, payload={"publication_id": publication.id}))
    skipped = [Skipped(channels[channel_id].slug, "reply", count, reason)
               for (channel_id, reason), count in left_out.items()]
    return drafts, skipped


def _reply_key(publication_id: int, channel_id: int, conversation: str) -> str:
    # Conversation ids are only unique within a channel, so the channel is part of the key.
    key = f"publication:{publication_id}:reply:{channel_id}:{conversation}"
    if len(key) <= _KEY_MAX:
        return key
    digest = hashlib.sha256(conversation.encode()).hexdigest()[:40]
    return f"publication:{publication_id}:reply:{channel_id}:sha256:{digest}"


def _threads(session: Session, issue: Issue) -> list[_Thread]:
    """The issue's threads, (channel, conversation) pairs, in the order their first post was linked."""
    rows = session.execute(
        select(IssueMention.channel_id, IssueMention.conversation_id, Mention.conversation_id, Mention.external_id,
               IssueMention.posted_at)
        .join(Mention, Mention.id == IssueMention.mention_id)
        .where(IssueMention.issue_id == issue.id)
    )
    first: dict[tuple[int, str], datetime] = {}
    for channel_id, linked_conversation, conversation, external_id, posted_at in rows:
        key = (channel_id, linked_conversation or conversation or external_id)
        if key not in first or posted_at < first[key]:
            first[key] = posted_at
    return [_Thread(channel_id, conversation, at)
            for (channel_id, conversation), at in sorted(first.items(), key=lambda item: (item[1], item[0]))]


def _latest_inbound(session: Session, workspace_id: int,
                    threads: list[_Thread]) -> dict[tuple[int, str], tuple[str, str | None]]:
    """The external id and author handle of each thread's latest post from the public."""
    wanted = {(thread.channel_id, thread.conversation) for thread in threads}
    conversations = sorted({thread.conversation for thread in threads})
    best: dict[tuple[int, str], tuple[datetime, int, str, str | None]] = {}
    for start in range(0, len(conversations), _LOOKUP_CHUNK):
        rows = session.execute(
            select(Mention.channel_id, Mention.conversation_id, Mention.created_at, Mention.id, Mention.external_id,
                   Author.handle)
            .outerjoin(Author, Author.id == Mention.author_id)
            .where(Mention.workspace_id == workspace_id, Mention.direction == "inbound",
                   Mention.conversation_id.in_(conversations[start:start + _LOOKUP_CHUNK]))
        )
        for channel_id, conversation, created_at, mention_id, external_id, handle in rows:
            key = (channel_id, conversation)
            if key in wanted and (key not in best or (created_at, mention_id) > best[key][:2]):
                best[key] = (created_at, mention_id, external_id, handle)
    return {key: (external_id, handle) for key, (_, _, external_id, handle) in best.items()}
