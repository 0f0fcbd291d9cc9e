"""Triage stored mentions in bulk and keep each one's latest verdict.

The pipeline stage and `firebreak retriage` share `compute_triage` (read-only, outside any write lock)
and `store_rows` (two bulk statements), so a re-triage after a retrain or a playbook change computes
exactly what the pipeline would have.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.errors import NotFound
from firebreak.mentions.models import Author, Mention
from firebreak.triage.assess import Triager
from firebreak.triage.models import MentionTriage
from firebreak.triage.result import FLAG_SEVERITY, PostInput, TriageResult

LOOKUP_CHUNK = 500


def _prior_negatives(session: Session, *, author_ids: set[int], exclude: set[int], since: datetime) -> Counter[int]:
    """Count each author's stored negative mentions since `since`, leaving out this batch."""
    counts: Counter[int] = Counter()
    ids = sorted(author_ids)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Mention.author_id, Mention.id)
            .join(MentionTriage, MentionTriage.mention_id == Mention.id)
            .where(
                Mention.author_id.in_(chunk),
                Mention.created_at >= since,
                MentionTriage.sentiment == "negative",
                Mention.direction == "inbound",
            )
        )
        for author_id, mention_id in rows:
            if mention_id not in exclude:
                counts[author_id] += 1
    return counts


def compute_triage(
    *, session: Session, triager: Triager, mentions: Sequence[Mention], now: datetime
) -> list[TriageResult]:
    """Triage `mentions` as one batch with read-only queries; return the results in order."""
    if not mentions:
        return []
    author_ids = {m.author_id for m in mentions if m.author_id is not None}
    authors = {a.id: a for a in session.scalars(select(Author).where(Author.id.in_(author_ids)))} if author_ids else {}
    channel_ids = {m.channel_id for m in mentions}
    kinds = dict(session.execute(select(Channel.id, Channel.kind).where(Channel.id.in_(channel_ids))).all())
    window = triager.guide.threads
    since = now - timedelta(days=window.window_days)
    prior = _prior_negatives(session, author_ids=author_ids, exclude={m.id for m in mentions}, since=since)

    def post(mention: Mention, prior_count: int) -> PostInput:
        author = authors.get(mention.author_id) if mention.author_id else None
        return PostInput(
            text=mention.normalized_text or mention.text,
            channel_kind=kinds.get(mention.channel_id, "x"),
            url=mention.url,
            author_handle=author.handle if author else None,
            author_followers=author.follower_count if author else None,
            author_tags=tuple(author.tags or ()) if author else (),
            author_verified=bool(author.verified) if author else False,
            direction=mention.direction,
            prior_negative_by_author=prior_count,
        )

    posts = [post(m, prior.get(m.author_id, 0) if m.author_id else 0) for m in mentions]
    results = triager.triage(posts)
    # Complaints by one author inside this batch count too: walk in time order and re-triage the
    # posts whose running count differs from what the database alone said.
    running: dict[int, int] = defaultdict(int)
    redo: list[int] = []
    order = sorted(range(len(mentions)), key=lambda i: (mentions[i].created_at, mentions[i].id))
    for i in order:
        mention = mentions[i]
        if mention.author_id is None or mention.direction != "inbound":
            continue
        if running[mention.author_id]:
            posts[i] = post(mention, prior.get(mention.author_id, 0) + running[mention.author_id])
            redo.append(i)
        if results[i].sentiment == "negative":
            running[mention.author_id] += 1
    if redo:
        for i, result in zip(redo, triager.triage([posts[i] for i in redo]), strict=True):
            results[i] = result
    return results


def result_row(*, mention: Mention, result: TriageResult, triager: Triager, now: datetime) -> dict[str, Any]:
    """Return the `triage_results` row for one verdict."""
    return {
        "mention_id": mention.id,
        "workspace_id": mention.workspace_id,
        "flag": result.flag,
        "category": result.category,
        "category_group": result.group,
        "sentiment": result.sentiment,
        "sentiment_score": float(result.sentiment_score),
        "offensive": result.offensive,
        "offensive_score": float(result.offensive_score),
        "intent": result.intent,
        "confidence": float(result.confidence),
        "reasons": [reason.to_dict() for reason in result.reasons],
        "playbook_version": triager.playbook_version,
        "model_version": triager.model_version,
        "triaged_at": now,
    }


def store_rows(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Replace the stored verdicts of these mentions with `rows`, in two bulk statements."""
    if not rows:
        return
    session.execute(delete(MentionTriage).where(MentionTriage.mention_id.in_([r["mention_id"] for r in rows])))
    session.execute(MentionTriage.__table__.insert(), list(rows))


def get_triage(*, session: Session, workspace_id: int, mention_id: int) -> MentionTriage:
    """Return the stored verdict of a mention of the workspace, or raise NotFound."""
    row = session.scalar(
        select(MentionTriage).where(MentionTriage.workspace_id == workspace_id, MentionTriage.mention_id == mention_id)
    )
    if row is None:
        raise NotFound(f"mention {mention_id} has no triage result in this workspace (yet)")
    return row


def counts_by_flag(*, session: Session, workspace_id: int) -> dict[str, int]:
    """Return how many mentions carry each flag."""
    rows = session.execute(
        select(MentionTriage.flag, func.count())
        .where(MentionTriage.workspace_id == workspace_id)
        .group_by(MentionTriage.flag)
    )
    counts = dict(rows.all())
    return {flag: counts.get(flag, 0) for flag in sorted(FLAG_SEVERITY, key=FLAG_SEVERITY.get)}


def mentions_to_retriage(
    *, session: Session, since: datetime | None, workspace_id: int | None, batch_size: int
) -> Iterator[list[Mention]]:
    """Yield processed mentions received since `since`, in id order, a batch at a time."""
    last_id = 0
    while True:
        stmt = select(Mention).where(Mention.id > last_id, Mention.state == "processed")
        if since is not None:
            stmt = stmt.where(Mention.received_at >= since)
        if workspace_id is not None:
            stmt = stmt.where(Mention.workspace_id == workspace_id)
        batch = list(session.scalars(stmt.order_by(Mention.id).limit(batch_size)))
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def verdict_clauses(*, flag: str | None = None, category: str | None = None) -> tuple[ColumnElement[bool], ...]:
    """Return conditions on Mention that keep only mentions with this flag and/or category."""
    conditions = [MentionTriage.mention_id == Mention.id]
    if flag:
        conditions.append(MentionTriage.flag == flag)
    if category:
        conditions.append(MentionTriage.category == category)
    return (exists().where(*conditions),) if len(conditions) > 1 else ()


def verdicts(*, session: Session, workspace_id: int, mention_ids: Sequence[int]) -> dict[int, MentionTriage]:
    """Return the stored verdicts of these mentions of the workspace, by mention id."""
    if not mention_ids:
        return {}
    rows = session.scalars(
        select(MentionTriage).where(
            MentionTriage.workspace_id == workspace_id, MentionTriage.mention_id.in_(list(mention_ids))
        )
    )
    return {row.mention_id: row for row in rows}
