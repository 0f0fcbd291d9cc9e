"""Store mentions idempotently in batches, and read them back with their threads.

Ingest is the hot path: a batch costs a handful of statements whatever its size (authors
selected, new authors inserted, mentions inserted with ON CONFLICT DO NOTHING ... RETURNING,
duplicates looked up), never one round trip per mention.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import CursorResult, Dialect, Select, Table, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc, utcnow
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.db.base import UtcDateTime
from firebreak.mentions.models import Author, Mention
from firebreak.mentions.schemas import AuthorIn, MentionIn

LOOKUP_CHUNK = 400
INSERT_PAGE = 1_000
# Bound parameters in one statement: SQLite allows 32766 (since 3.32), PostgreSQL 65535.
MAX_PARAMS = 32_000
# Marks "nothing seen yet" where None is a real value.
_UNSEEN: Any = object()


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


def _utc(value: datetime) -> datetime:
    # Decoded timestamps are nearly always UTC already; skip the conversion then.
    return value if value.tzinfo is UTC else ensure_utc(value)


def _by_first(keys: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, list[str]]]:
    """Group (a, b) keys into (a, [b, ...]) chunks for `a = ? AND b IN (...)` lookups.

    SQLite cannot use a two-column index for a row-value IN list and scans instead, which made
    each lookup cost a pass over the table; one column equal and one IN list is a plain index seek.
    """
    groups: dict[Any, list[str]] = {}
    for first, second in keys:
        groups.setdefault(first, []).append(second)
    for first, seconds in groups.items():
        for start in range(0, len(seconds), LOOKUP_CHUNK):
            yield first, seconds[start : start + LOOKUP_CHUNK]


_AUTHOR_COLUMNS = (
    "workspace_id",
    "network",
    "handle",
    "display_name",
    "follower_count",
    "verified",
    "tags",
    "created_at",
    "updated_at",
)
_MENTION_COLUMNS = (
    "workspace_id",
    "channel_id",
    "external_id",
    "author_id",
    "direction",
    "url",
    "text",
    "language",
    "created_at",
    "received_at",
    "reply_to_external_id",
    "conversation_id",
    "raw",
    "state",
    "attempts",
    "next_attempt_at",
)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """Format a datetime as UtcDateTime stores it on SQLite (naive UTC, always with microseconds)."""
    if value is None:
        return None
    return _utc(value).isoformat(" ", "microseconds")[:26]


@lru_cache(maxsize=16)
def _bind_converters(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[tuple[int, Any], ...]:
    """Return (position, converter) for the columns whose values the driver cannot take as they are.

    Each converter is the column type's own bind processor, except that UtcDateTime on SQLite uses
    a faster formatter, and only after checking that it writes exactly what the processor writes.
    """
    out = []
    for index, name in enumerate(names):
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        if dialect.name == "sqlite" and isinstance(column_type, UtcDateTime):
            samples = (
                datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
                datetime(1999, 1, 2, 3, 4, 5, 60, tzinfo=timezone(timedelta(hours=-8))),
                datetime(2026, 3, 1, 23, 59, 59, 999_999),
            )
            if all(_sqlite_utc_text(s) == processor(s) for s in samples):
                processor = _sqlite_utc_text
        out.append((index, processor))
    return tuple(out)


def _insert_new(
    session: Session,
    table: Table,
    names: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    conflict: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """Insert rows (tuples in `names` order), skipping conflicts; return `returning` of the new ones.

    Sends driver-level SQL instead of having SQLAlchemy compile parameters row by row, which cost
    more than the insert itself. SQLite gets one multi-row INSERT per page, so its FTS5 trigger
    flushes the index once per statement instead of once per row (about ten times faster).
    PostgreSQL gets one array per column, unnested server-side: a short statement psycopg does
    not have to re-parse for thousands of placeholders. Values still go through their column
    types' bind processors, so rows are stored exactly as a Core insert would store them.
    """
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    converters = _bind_converters(dialect, table, names)
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
    tail = (
        f" ON CONFLICT ({', '.join(quote(n) for n in conflict)}) DO NOTHING"
        f" RETURNING {', '.join(quote(n) for n in returning)}"
    )
    unnest = dialect.name == "postgresql"
    if unnest:
        arrays = ", ".join(f"%s::{table.c[n].type.compile(dialect=dialect)}[]" for n in names)
        statement = f"{into}SELECT * FROM unnest({arrays}){tail}"
        per_page = INSERT_PAGE * 5
    else:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        one_row = "(" + ", ".join([mark] * len(names)) + ")"
        per_page = max(1, min(INSERT_PAGE, MAX_PARAMS // len(names)))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_page):
        page = rows[start : start + per_page]
        # Convert column by column (transposing is cheap).
        columns: list[Any] = list(zip(*page, strict=True))
        for index, convert in converters:
            columns[index] = _convert_column(columns[index], convert)
        if unnest:
            result = connection.exec_driver_sql(statement, tuple(list(column) for column in columns))
        else:
            params = tuple(chain.from_iterable(zip(*columns, strict=True)))
            result = connection.exec_driver_sql(into + "VALUES " + ", ".join([one_row] * len(page)) + tail, params)
        out.extend(_driver_rows(result))
    return out


def _driver_rows(result: CursorResult[Any]) -> list[tuple[Any, ...]]:
    """Return a result's rows as the driver's own tuples, skipping SQLAlchemy's Row objects.

    The statement ran through SQLAlchemy, so its errors were wrapped as usual. Fetching after that
    hardly fails (psycopg holds every row already, SQLite ran the INSERT in full); a disk error
    while SQLite steps through a lookup would surface as the driver's own exception.
    """
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _convert_column(values: Sequence[Any], convert: Any) -> list[Any]:
    """Convert one column's values for the driver."""
    first = values[0]
    if values.count(first) == len(values):
        # One value shared by the whole page (received_at, next_attempt_at): convert it once.
        return [convert(first)] * len(values)
    none = convert(None)
    return [none if value is None else convert(value) for value in values]


@lru_cache(maxsize=16)
def _result_converters(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[tuple[int, Any], ...]:
    """Return (position, converter) for the selected columns whose driver values need converting."""
    out = []
    for index, name in enumerate(names):
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            out.append((index, processor))
    return tuple(out)


def _select_in(
    session: Session,
    table: Table,
    names: tuple[str, ...],
    *,
    equal: tuple[tuple[str, Any], ...],
    column: str,
    values: list[str],
) -> list[tuple[Any, ...]]:
    """Return `names` of the rows where every `equal` column matches and `column` is in `values`.

    Plain SQL, with only the columns that need it converted (and each distinct stored value once):
    for the thousands of authors a batch looks up, a Core select's per-row processing cost more
    than the query. Values get their column types' result processing all the same.
    """
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    conditions = [f"{quote(name)} = {mark}" for name, _ in equal]
    conditions.append(f"{quote(column)} IN ({', '.join([mark] * len(values))})")
    sql = f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table.name)} WHERE {' AND '.join(conditions)}"
    rows = _driver_rows(connection.exec_driver_sql(sql, (*(value for _, value in equal), *values)))
    converters = _result_converters(dialect, table, names)
    if not converters:
        return [tuple(row) for row in rows]
    # Rows repeat the same stored text (JSON `[]`, a common tag list): convert each distinct one once.
    # Converted values are therefore shared between rows, and callers must not mutate them.
    seen: dict[tuple[int, Any], Any] = {}
    out = []
    for row in rows:
        values_out = list(row)
        for index, convert in converters:
            value = values_out[index]
            if isinstance(value, str):
                key = (index, value)
                if key not in seen:
                    seen[key] = convert(value)
                values_out[index] = seen[key]
            else:
                values_out[index] = convert(value)
        out.append(tuple(values_out))
    return out


def _upsert_authors(
    session: Session, workspace_id: int, wanted: dict[tuple[str, str], AuthorIn]
) -> dict[tuple[str, str], int]:
    """Return author ids for (network, handle) keys, creating or refreshing authors as needed."""
    ids: dict[tuple[str, str], int] = {}
    if not wanted:
        return ids
    existing: dict[tuple[str, str], Any] = {}
    for network, handles in _by_first(wanted):
        rows = _select_in(
            session,
            Author.__table__,
            ("id", "network", "handle", "display_name", "follower_count", "verified", "tags"),
            equal=(("workspace_id", workspace_id), ("network", network)),
            column="handle",
            values=handles,
        )
        for row in rows:
            existing[(row[1], row[2])] = row
    now = utcnow()
    new_rows: list[tuple[Any, ...]] = []
    updates = []
    for key, data in wanted.items():
        row = existing.get(key)
        if row is None:
            new_rows.append(
                (
                    workspace_id,
                    key[0],
                    key[1],
                    data.display_name,
                    data.followers,
                    data.verified,
                    sorted(set(data.tags)),
                    now,
                    now,
                )
            )
            continue
        author_id, _, _, display_name, follower_count, verified, row_tags = row
        ids[key] = author_id
        # Merge: a new display name or follower count wins, verified sticks, tags accumulate.
        # Most repeat authors change nothing, so test field by field before building the update.
        if data.tags:
            tags = sorted(set(row_tags or []) | set(data.tags))
            tags_changed = tags != sorted(row_tags or [])
        elif row_tags:
            tags = sorted(set(row_tags))
            tags_changed = tags != sorted(row_tags)
        else:
            tags, tags_changed = [], False
        if (
            tags_changed
            or (data.display_name and data.display_name != display_name)
            or (data.followers is not None and data.followers != follower_count)
            or (data.verified and not verified)
        ):
            updates.append(
                {
                    "id": author_id,
                    "display_name": data.display_name or display_name,
                    "follower_count": data.followers if data.followers is not None else follower_count,
                    "verified": bool(data.verified or verified),
                    "tags": tags,
                    "updated_at": now,
                }
            )
    if new_rows:
        inserted = _insert_new(
            session,
            Author.__table__,
            _AUTHOR_COLUMNS,
            new_rows,
            conflict=("workspace_id", "network", "handle"),
            returning=("id", "network", "handle"),
        )
        for author_id, network, handle in inserted:
            ids[(network, handle)] = author_id
        missing = [key for key in wanted if key not in ids]
        # Another writer created some of them between our select and insert: read their ids.
        for network, handles in _by_first(missing):
            for author_id, network_, handle in _select_in(
                session,
                Author.__table__,
                ("id", "network", "handle"),
                equal=(("workspace_id", workspace_id), ("network", network)),
                column="handle",
                values=handles,
            ):
                ids[(network_, handle)] = author_id
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
    # (channel id, network) per slug, read once: ORM attribute reads cost more than the rest of the loop.
    targets: dict[str, tuple[int, str] | None] = {}
    default = (default_channel.id, default_channel.kind) if default_channel is not None else None
    keys: list[tuple[int, str]] = []  # (channel id, external id) of every item, in input order
    # First occurrence of a (channel, external id) in the batch wins; later ones are duplicates.
    first: dict[tuple[int, str], None] = {}
    unique: list[tuple[int, str, MentionIn, str]] = []
    wanted: dict[tuple[str, str], AuthorIn] = {}
    for index, item in enumerate(items):
        slug = item.channel
        if slug:
            target = targets.get(slug, _UNSEEN)
            if target is _UNSEEN:
                channel = channels.get(slug)
                target = targets[slug] = (channel.id, channel.kind) if channel is not None else None
        else:
            target = default
        if target is None:
            if slug:
                raise NotFound(f"item {index}: unknown channel {slug!r} in this workspace")
            raise InvalidInput(f"item {index}: no channel given and no default channel", field="channel")
        external_id = item.external_id
        ext = external_id if type(external_id) is str else str(external_id)
        key = (target[0], ext)
        keys.append(key)
        if key not in first:
            first[key] = None
            unique.append((target[0], target[1], item, ext))
            if item.author:
                wanted[(target[1], item.author.handle)] = item.author

    if session.get_bind().dialect.name == "postgresql":
        # Take unique-index locks in one global order, so two deliveries that share new posts (or
        # new authors) in different orders wait for each other instead of deadlocking.
        wanted = dict(sorted(wanted.items()))
    authors = _upsert_authors(session, workspace_id, wanted)
    conversations = _resolve_conversations(session, workspace_id, unique)

    rows: list[tuple[Any, ...]] = []
    # Replies filed under another conversation: if they turn out new, earlier orphans may follow them.
    moved: list[tuple[int, str, str]] = []
    for (channel_id, network, item, ext), conversation in zip(unique, conversations, strict=True):
        author = item.author
        reply_to = item.reply_to
        created_at = item.created_at
        text_ = item.text
        if conversation != ext:
            moved.append((channel_id, ext, conversation))
        # In _MENTION_COLUMNS order; helpers are inlined because this loop runs once per mention.
        rows.append(
            (
                workspace_id,
                channel_id,
                ext,
                authors.get((network, author.handle)) if author else None,
                item.direction,
                item.url,
                _clean(text_) if "\x00" in text_ else text_,
                item.language,
                received if not created_at else created_at if created_at.tzinfo is UTC else ensure_utc(created_at),
                received,
                None if reply_to is None else str(reply_to),
                conversation,
                None if item.raw is None else _clean_raw(item.raw),
                "pending",
                0,
                received,
            )
        )
    stored: dict[tuple[int, str], int] = {}
    created_ids: list[int] = []
    if rows and session.get_bind().dialect.name == "postgresql":
        rows.sort(key=lambda row: (row[1], row[2]))  # (channel_id, external_id): see the lock-order note above
    if rows:
        inserted = _insert_new(
            session,
            Mention.__table__,
            _MENTION_COLUMNS,
            rows,
            conflict=("channel_id", "external_id"),
            returning=("id", "channel_id", "external_id"),
        )
        for mention_id, channel_id, external_id in inserted:
            stored[(channel_id, external_id)] = mention_id
            created_ids.append(mention_id)
        created_keys = set(stored)
        if len(stored) < len(first):
            missing = [key for key in first if key not in stored]
            for channel_id, externals in _by_first(missing):
                for mention_id, channel_id_, external_id in _select_in(
                    session,
                    Mention.__table__,
                    ("id", "channel_id", "external_id"),
                    equal=(("channel_id", channel_id),),
                    column="external_id",
                    values=externals,
                ):
                    stored[(channel_id_, external_id)] = mention_id
        _adopt_orphans(session, workspace_id, [move for move in moved if (move[0], move[1]) in created_keys])

    result = IngestResult()
    result.ids = [stored[key] for key in keys]
    result.created = len(created_ids)
    result.duplicates = len(keys) - result.created
    result.created_ids = sorted(created_ids)
    return result


def _resolve_conversations(
    session: Session, workspace_id: int, unique: list[tuple[int, str, MentionIn, str]]
) -> list[str]:
    """Give each mention a conversation key (in `unique` order): explicit, else its parent's, else its own id.

    A reply whose parent is not stored yet takes the parent's external id as a provisional key;
    `_adopt_orphans` rewrites it when the parent arrives.
    """
    result: dict[tuple[int, str], str] = {}
    need_parent: list[tuple[int, str]] = []
    for channel_id, _, item, ext in unique:
        if item.conversation_id is not None:
            result[(channel_id, ext)] = str(item.conversation_id)
        elif item.reply_to is not None:
            need_parent.append((channel_id, str(item.reply_to)))
    parents: dict[tuple[int, str], str] = {}
    for channel_id, externals in _by_first(dict.fromkeys(need_parent)):
        for row in session.connection().execute(
            select(Mention.channel_id, Mention.external_id, Mention.conversation_id).where(
                # `+ 0` keeps SQLite's planner off the (workspace_id, received_at) index, a scan of the
                # whole workspace per lookup; the (channel_id, external_id) key finds each parent directly.
                Mention.workspace_id + 0 == workspace_id,
                Mention.channel_id == channel_id,
                Mention.external_id.in_(externals),
            )
        ):
            parents[(row[0], row[1])] = row[2] or row[1]
    # Within the batch, walk reply chains in input order (parents usually come first).
    conversations: list[str] = []
    for channel_id, _, item, ext in unique:
        key = (channel_id, ext)
        conversation = result.get(key)
        if conversation is None:
            reply_to = item.reply_to
            if reply_to is None:
                conversation = ext
            else:
                parent_key = (channel_id, str(reply_to))
                conversation = result.get(parent_key) or parents.get(parent_key) or str(reply_to)
            result[key] = conversation
        conversations.append(conversation)
    return conversations


def _adopt_orphans(session: Session, workspace_id: int, created: list[tuple[int, str, str]]) -> None:
    """Move replies that arrived before their parent into the parent's conversation."""
    moves = [(channel_id, ext, conv) for channel_id, ext, conv in created if conv != ext]
    if not moves:
        return
    # Orphans are rare, so find the conversation keys that exist at all with a few chunked selects
    # instead of one UPDATE per reply. A move can create a key a later move matches, hence `present`.
    present: set[tuple[int, str]] = set()
    for channel_id, externals in _by_first(dict.fromkeys((channel_id, ext) for channel_id, ext, _ in moves)):
        for row in session.connection().execute(
            select(Mention.channel_id, Mention.conversation_id)
            .where(
                Mention.workspace_id == workspace_id,
                Mention.channel_id == channel_id,
                Mention.conversation_id.in_(externals),
            )
            .distinct()
        ):
            present.add((row[0], row[1]))
    for channel_id, ext, conv in moves:
        if (channel_id, ext) not in present:
            continue
        present.add((channel_id, conv))
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
    # SQL conditions on Mention added by higher layers (e.g. triage flag), so this module needn't know them.
    extra: tuple[Any, ...] = ()


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
    for clause in filters.extra:
        stmt = stmt.where(clause)
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
