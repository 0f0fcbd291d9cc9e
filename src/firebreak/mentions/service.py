"""Store mentions idempotently in batches, and read them back with their threads.

Ingest is the hot path: a batch costs a handful of statements whatever its size (authors
selected, new authors inserted, mentions inserted with ON CONFLICT DO NOTHING ... RETURNING,
duplicates looked up), never one round trip per mention.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, and_, func, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc, utcnow
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.mentions.models import Author, Mention
from firebreak.mentions.schemas import AuthorIn, MentionIn

LOOKUP_CHUNK = 400


@dataclass(slots=True)
class IngestResult:
    """What happened to a batch: stored ids in input order and how many were new."""

    ids: list[int] = field(default_factory=list)
    created: int = 0
    duplicates: int = 0
    created_ids: list[int] = field(default_factory=list)

    def extend(self, other: IngestResult) -> None:
        self.ids.extend(other.ids)
        self.created += other.created
        self.duplicates += other.duplicates
        self.created_ids.extend(other.created_ids)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _clean(value: str) -> str:
    # PostgreSQL text cannot hold NUL; it never carries meaning in a post.
    return value.replace("\x00", "") if "\x00" in value else value


def _clean_raw(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    encoded = orjson.dumps(raw)
    if b"\\u0000" not in encoded:
        return raw
    return orjson.loads(encoded.replace(b"\\u0000", b""))


def _upsert_authors(
    session: Session, workspace_id: int, wanted: dict[tuple[str, str], AuthorIn]
) -> dict[tuple[str, str], int]:
    """Return author ids for (network, handle) keys, creating or refreshing authors as needed."""
    ids: dict[tuple[str, str], int] = {}
    if not wanted:
        return ids
    keys = list(wanted)
    existing: dict[tuple[str, str], Author] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(
                Author.id,
                Author.network,
                Author.handle,
                Author.display_name,
                Author.follower_count,
                Author.verified,
                Author.tags,
            ).where(Author.workspace_id == workspace_id, tuple_(Author.network, Author.handle).in_(chunk))
        ).all()
        for row in rows:
            existing[(row.network, row.handle)] = row
    now = utcnow()
    new_rows = []
    updates = []
    for key, data in wanted.items():
        row = existing.get(key)
        if row is None:
            new_rows.append(
                {
                    "workspace_id": workspace_id,
                    "network": key[0],
                    "handle": key[1],
                    "display_name": data.display_name,
                    "follower_count": data.followers,
                    "verified": data.verified,
                    "tags": sorted(set(data.tags)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        ids[key] = row.id
        tags = sorted(set(row.tags or []) | set(data.tags))
        changed = {
            "display_name": data.display_name or row.display_name,
            "follower_count": data.followers if data.followers is not None else row.follower_count,
            "verified": bool(data.verified or row.verified),
            "tags": tags,
        }
        if (changed["display_name"], changed["follower_count"], changed["verified"], changed["tags"]) != (
            row.display_name,
            row.follower_count,
            row.verified,
            sorted(row.tags or []),
        ):
            updates.append({"id": row.id, **changed, "updated_at": now})
    if new_rows:
        stmt = (
            _insert(session, Author.__table__)
            .on_conflict_do_nothing(index_elements=["workspace_id", "network", "handle"])
            .returning(Author.__table__.c.id, Author.__table__.c.network, Author.__table__.c.handle)
        )
        for row in session.execute(stmt, new_rows):
            ids[(row.network, row.handle)] = row.id
        missing = [key for key in wanted if key not in ids]
        # Another writer created some of them between our select and insert: read their ids.
        for start in range(0, len(missing), LOOKUP_CHUNK):
            chunk = missing[start : start + LOOKUP_CHUNK]
            for row in session.execute(
                select(Author.id, Author.network, Author.handle).where(
                    Author.workspace_id == workspace_id, tuple_(Author.network, Author.handle).in_(chunk)
                )
            ):
                ids[(row.network, row.handle)] = row.id
    if updates:
        session.execute(update(Author), updates)
    return ids


def ingest_mentions(
    *,
    session: Session,
    workspace_id: int,
    channels: dict[str, Channel],
    items: Sequence[MentionIn],
    default_channel: Channel | None = None,
    received_at: datetime | None = None,
) -> IngestResult:
    """Store a batch of mentions once each, in the caller's transaction; duplicates map to stored ids.

    `channels` maps slug → Channel for items that name one; others go to `default_channel`.
    """
    received = received_at or utcnow()
    resolved: list[tuple[Channel, MentionIn, str]] = []
    for index, item in enumerate(items):
        channel = channels.get(item.channel) if item.channel else default_channel
        if channel is None:
            if item.channel:
                raise NotFound(f"item {index}: unknown channel {item.channel!r} in this workspace")
            raise InvalidInput(f"item {index}: no channel given and no default channel", field="channel")
        resolved.append((channel, item, str(item.external_id)))

    # First occurrence of a (channel, external id) in the batch wins; later ones are duplicates.
    first: dict[tuple[int, str], int] = {}
    unique: list[tuple[Channel, MentionIn, str]] = []
    for channel, item, ext in resolved:
        key = (channel.id, ext)
        if key not in first:
            first[key] = len(unique)
            unique.append((channel, item, ext))

    authors = _upsert_authors(
        session,
        workspace_id,
        {(channel.kind, item.author.handle): item.author for channel, item, _ in unique if item.author},
    )
    conversations = _resolve_conversations(session, workspace_id, unique)

    rows = []
    for channel, item, ext in unique:
        rows.append(
            {
                "workspace_id": workspace_id,
                "channel_id": channel.id,
                "external_id": ext,
                "author_id": authors.get((channel.kind, item.author.handle)) if item.author else None,
                "direction": item.direction,
                "url": item.url,
                "text": _clean(item.text),
                "language": item.language,
                "created_at": ensure_utc(item.created_at) if item.created_at else received,
                "received_at": received,
                "reply_to_external_id": None if item.reply_to is None else str(item.reply_to),
                "conversation_id": conversations[(channel.id, ext)],
                "raw": _clean_raw(item.raw),
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": received,
            }
        )
    stored: dict[tuple[int, str], int] = {}
    created_keys: set[tuple[int, str]] = set()
    if rows:
        table = Mention.__table__
        stmt = (
            _insert(session, table)
            .on_conflict_do_nothing(index_elements=["channel_id", "external_id"])
            .returning(table.c.id, table.c.channel_id, table.c.external_id)
        )
        for row in session.execute(stmt, rows):
            stored[(row.channel_id, row.external_id)] = row.id
            created_keys.add((row.channel_id, row.external_id))
        missing = [key for key in first if key not in stored]
        for start in range(0, len(missing), LOOKUP_CHUNK):
            chunk = missing[start : start + LOOKUP_CHUNK]
            for row in session.execute(
                select(Mention.id, Mention.channel_id, Mention.external_id).where(
                    tuple_(Mention.channel_id, Mention.external_id).in_(chunk)
                )
            ):
                stored[(row.channel_id, row.external_id)] = row.id
        _adopt_orphans(
            session,
            workspace_id,
            [
                (channel.id, ext, conversations[(channel.id, ext)])
                for channel, _, ext in unique
                if (channel.id, ext) in created_keys
            ],
        )

    result = IngestResult()
    for channel, _, ext in resolved:
        mention_id = stored[(channel.id, ext)]
        result.ids.append(mention_id)
    result.created = len(created_keys)
    result.duplicates = len(resolved) - result.created
    result.created_ids = sorted(stored[key] for key in created_keys)
    return result


def _resolve_conversations(
    session: Session, workspace_id: int, unique: list[tuple[Channel, MentionIn, str]]
) -> dict[tuple[int, str], str]:
    """Give each mention a conversation key: explicit, else its parent's, else its own id.

    A reply whose parent is not stored yet takes the parent's external id as a provisional key;
    `_adopt_orphans` rewrites it when the parent arrives.
    """
    result: dict[tuple[int, str], str] = {}
    need_parent: list[tuple[int, str]] = []
    for channel, item, ext in unique:
        if item.conversation_id is not None:
            result[(channel.id, ext)] = str(item.conversation_id)
        elif item.reply_to is not None:
            need_parent.append((channel.id, str(item.reply_to)))
    parents: dict[tuple[int, str], str] = {}
    wanted = [key for key in dict.fromkeys(need_parent)]
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        for row in session.execute(
            select(Mention.channel_id, Mention.external_id, Mention.conversation_id).where(
                Mention.workspace_id == workspace_id, tuple_(Mention.channel_id, Mention.external_id).in_(chunk)
            )
        ):
            parents[(row.channel_id, row.external_id)] = row.conversation_id or row.external_id
    # Within the batch, walk reply chains in input order (parents usually come first).
    for channel, item, ext in unique:
        key = (channel.id, ext)
        if key in result:
            continue
        if item.reply_to is None:
            result[key] = ext
            continue
        parent_key = (channel.id, str(item.reply_to))
        result[key] = result.get(parent_key) or parents.get(parent_key) or str(item.reply_to)
    return result


def _adopt_orphans(session: Session, workspace_id: int, created: list[tuple[int, str, str]]) -> None:
    """Move replies that arrived before their parent into the parent's conversation."""
    moves = [(channel_id, ext, conv) for channel_id, ext, conv in created if conv != ext]
    if not moves:
        return
    for channel_id, ext, conv in moves:
        session.execute(
            update(Mention)
            .where(
                Mention.workspace_id == workspace_id, Mention.channel_id == channel_id, Mention.conversation_id == ext
            )
            .values(conversation_id=conv)
        )


# ---------------------------------------------------------------------------------------------- reads


@dataclass(slots=True)
class MentionFilter:
    """What a caller may narrow a mention listing by."""

    channel: str | None = None
    state: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def encode_cursor(received_at: datetime, mention_id: int) -> str:
    """Return an opaque cursor for keyset pagination (newest first)."""
    raw = orjson.dumps([ensure_utc(received_at).isoformat(), mention_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Return (received_at, id) from a cursor, or raise InvalidInput naming the cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, mention_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return ensure_utc(datetime.fromisoformat(at)), int(mention_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not one this server issued", field="cursor") from None


def _search_clause(session: Session, q: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return text("to_tsvector('simple', mentions.text) @@ websearch_to_tsquery('simple', :q)").bindparams(q=q)
    return Mention.id.in_(
        text("SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH :q").bindparams(q=_fts5_query(q))
    )


def _fts5_query(q: str) -> str:
    """Turn free text into a safe FTS5 query: every word must appear (quoted, so no syntax errors)."""
    words = [w.replace('"', '""') for w in q.split() if w.strip()]
    return " ".join(f'"{w}"' for w in words) or '""'


def list_mentions(
    *,
    session: Session,
    workspace_id: int,
    filters: MentionFilter,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Mention], str | None]:
    """Return one page of mentions, newest received first, and the cursor of the next page."""
    stmt: Select[tuple[Mention]] = select(Mention).where(Mention.workspace_id == workspace_id)
    if filters.channel:
        channel_id = session.scalar(
            select(Channel.id).where(Channel.workspace_id == workspace_id, Channel.slug == filters.channel)
        )
        if channel_id is None:
            raise NotFound(f"unknown channel {filters.channel!r}")
        stmt = stmt.where(Mention.channel_id == channel_id)
    if filters.state:
        stmt = stmt.where(Mention.state == filters.state)
    if filters.direction:
        stmt = stmt.where(Mention.direction == filters.direction)
    if filters.since:
        stmt = stmt.where(Mention.received_at >= filters.since)
    if filters.until:
        stmt = stmt.where(Mention.received_at < filters.until)
    if filters.q and filters.q.strip():
        stmt = stmt.where(_search_clause(session, filters.q.strip()))
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Mention.received_at < at, and_(Mention.received_at == at, Mention.id < last_id)))
    stmt = stmt.order_by(Mention.received_at.desc(), Mention.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(rows[limit - 1].received_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_mention(*, session: Session, workspace_id: int, mention_id: int) -> Mention:
    """Return one mention of the workspace or raise NotFound."""
    mention = session.scalar(select(Mention).where(Mention.workspace_id == workspace_id, Mention.id == mention_id))
    if mention is None:
        raise NotFound(f"mention {mention_id} does not exist in this workspace")
    return mention


def get_thread(*, session: Session, mention: Mention) -> list[Mention]:
    """Return every stored post of the mention's conversation, oldest first."""
    if mention.conversation_id is None:
        return [mention]
    return list(
        session.scalars(
            select(Mention)
            .where(
                Mention.workspace_id == mention.workspace_id,
                Mention.conversation_id == mention.conversation_id,
                Mention.channel_id == mention.channel_id,
            )
            .order_by(Mention.created_at, Mention.id)
        )
    )


def authors_by_id(*, session: Session, workspace_id: int, ids: Iterable[int]) -> dict[int, Author]:
    """Return the workspace's authors for the given ids."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.scalars(select(Author).where(Author.workspace_id == workspace_id, Author.id.in_(wanted)))
    return {a.id: a for a in rows}


def count_by_state(*, session: Session, workspace_id: int | None = None) -> dict[str, int]:
    """Return how many mentions are in each processing state."""
    stmt = select(Mention.state, func.count()).group_by(Mention.state)
    if workspace_id is not None:
        stmt = stmt.where(Mention.workspace_id == workspace_id)
    return {state: n for state, n in session.execute(stmt)}
