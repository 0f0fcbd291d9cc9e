"""The inbox as a team reads it: filtered work, by SLA urgency or newest first, a page at a time, and the
feed of work that changed since a moment (for the live inbox).

Pages use keyset pagination: the cursor is the last row's sort key, and the next page asks for rows
after it, so page 200 costs what page 1 costs and rows arriving meanwhile never shift a page. Each
page is two queries: the keys, one index range scan per state (each state is its own stretch of the
`(workspace, state, due)` and `(workspace, state, opened)` indexes, so every stretch is read in order
and stops after a page), then the rows' mention, channel, author, triage and assignee for those keys.
A search on SQLite first counts its hits up to DENSE_HITS (one FTS5 lookup) to choose how to read; see _Plan.

Urgency puts work with a running SLA clock first, due soonest first (overdue at the top), then work
without a clock, oldest first; newest puts the most recently received first. A work item's
`opened_at` is its mention's received time, so "received since" filters on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, column, func, literal, literal_column, or_, select, table, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from firebreak.accounts.models import User
from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc
from firebreak.core.errors import InvalidInput
from firebreak.mentions.models import Author, Mention
from firebreak.triage.models import MentionTriage
from firebreak.workflow.models import OPEN_STATES, WORK_STATES, WorkItem

SORTS = ("urgency", "newest")
FLAGS = ("red", "yellow", "green")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 16
# On SQLite, a search matching this many posts reads in order and checks the hits (see _Plan).
DENSE_HITS = 2000
RECEIVED_SINCE = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                  "30d": timedelta(days=30)}
_CURSOR_VERSION = 1
# Words as SQLite's unicode61 tokenizer cuts them: letters and digits, anything else separates.
_WORD = re.compile(r"[^\W_]+")
_SQLITE_FTS = table("mentions_fts", column("rowid"), column("mentions_fts"))
_SIMPLE = literal_column("'simple'::regconfig")  # the exact expression of ix_mentions_text_fts (migration 0001)


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """Which work to list; every field narrows (None: no narrowing). Ids are resolved by the caller."""

    states: tuple[str, ...] = OPEN_STATES
    flag: str | None = None
    category: str | None = None
    channel_id: int | None = None
    queue: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    received_from: datetime | None = None  # inclusive
    received_before: datetime | None = None  # exclusive
    search: str | None = None

    def __post_init__(self) -> None:
        if not self.states:
            raise InvalidInput("name at least one state", field="state")
        unknown = sorted(set(self.states) - set(WORK_STATES))
        if unknown:
            raise InvalidInput(f"unknown state {', '.join(map(repr, unknown))}; states are {', '.join(WORK_STATES)}",
                               field="state")
        if self.flag is not None and self.flag not in FLAGS:
            raise InvalidInput(f"unknown flag {self.flag!r}; flags are {', '.join(FLAGS)}", field="flag")
        if self.assignee_id is not None and self.unassigned:
            raise InvalidInput("ask for one assignee or for unassigned work, not both", field="assignee")
        if self.search is not None:
            if len(self.search) > MAX_SEARCH_LENGTH:
                raise InvalidInput(f"search for at most {MAX_SEARCH_LENGTH} characters", field="q")
            if not search_words(self.search):
                raise InvalidInput("search for at least one word (letters or digits)", field="q")
        if (self.received_from is not None and self.received_before is not None
                and self.received_from >= self.received_before):
            raise InvalidInput("the received range ends before it starts", field="to")


def states_for(choice: str) -> tuple[str, ...]:
    """'open' (or blank), 'all', or one state, as the states to list."""
    if choice in ("", "open"):
        return OPEN_STATES
    if choice == "all":
        return WORK_STATES
    if choice not in WORK_STATES:
        raise InvalidInput(f"unknown state {choice!r}; choose open, all or one of {', '.join(WORK_STATES)}",
                           field="state")
    return (choice,)


def received_window(*, since: str, date_from: str, date_to: str, now: datetime,
                    zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """The received-time window of the filter: `since` (1h, 24h, 7d, 30d) back from now, or an ISO date range.

    Dates are whole days in the workspace's time zone, `date_to` included; a date and time is an instant
    (`date_to` then excluded). Both forms at once are refused rather than silently combined.
    """
    if since:
        if date_from or date_to:
            raise InvalidInput("choose a recent window or a date range, not both", field="since")
        span = RECEIVED_SINCE.get(since)
        if span is None:
            raise InvalidInput(f"unknown window {since!r}; choose one of {', '.join(RECEIVED_SINCE)}", field="since")
        return now - span, None
    start = _moment(date_from, zone, field="from", end=False) if date_from else None
    end = _moment(date_to, zone, field="to", end=True) if date_to else None
    if start is not None and end is not None and start >= end:
        raise InvalidInput(f"the range ends ({date_to}) before it starts ({date_from})", field="to")
    return start, end


def _moment(value: str, zone: tzinfo, *, field: str, end: bool) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{value!r} is not an ISO date (2026-11-20) or date and time (2026-11-20T14:00)",
                           field=field) from None
    return ensure_utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def search_words(text: str) -> list[str]:
    """The words a search looks for (all must appear), as the SQLite index cuts them."""
    return _WORD.findall(text)[:MAX_SEARCH_WORDS]


# ---------------------------------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One line of the inbox: the work, the post, where it came from and who wrote it."""

    mention_id: int
    state: str
    queue: str
    team: str
    priority: str
    action: str
    assignee: str | None
    revision: int
    opened_at: datetime
    updated_at: datetime
    sla_due_at: datetime | None
    text: str
    url: str | None
    flag: str | None
    category: str | None
    channel_slug: str
    channel_name: str
    channel_kind: str
    author_handle: str | None
    author_name: str | None
    author_followers: int | None
    author_verified: bool
    author_tags: tuple[str, ...]

    def seconds_left(self, now: datetime) -> float | None:
        return None if self.sla_due_at is None else (self.sla_due_at - now).total_seconds()


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a page ends: its last row's sort key. `part` 0 is work with a clock, 1 without (urgency only)."""

    sort: str
    part: int
    at: datetime
    mention_id: int

    def encode(self) -> str:
        document = {"v": _CURSOR_VERSION, "s": self.sort, "p": self.part, "t": self.at.isoformat(),
                    "i": self.mention_id}
        raw = json.dumps(document, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str, sort: str) -> _Position:
        bad = InvalidInput("this page link is damaged or out of date; start again from the first page",
                           field="cursor")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            document = json.loads(raw)
            position = cls(str(document["s"]), int(document["p"]), ensure_utc(datetime.fromisoformat(document["t"])),
                           int(document["i"]))
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise bad from None
        if document.get("v") != _CURSOR_VERSION or position.part not in (0, 1) or position.at.tzinfo is None:
            raise bad
        if position.sort != sort:
            raise InvalidInput(f"this page link belongs to the {position.sort} order; start again from the first "
                               "page", field="cursor")
        return position


def list_inbox(
    session: Session, *, workspace_id: int, where: InboxFilter, sort: str = "urgency", cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> InboxPage:
    """One page of the inbox after `cursor` (from the previous page's `next_cursor`; None for the first)."""
    if sort not in SORTS:
        raise InvalidInput(f"unknown order {sort!r}; choose {' or '.join(SORTS)}", field="sort")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page size must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    after = _Position.decode(cursor, sort) if cursor else None
    plan = _Plan.for_query(session, where)
    keys = session.execute(_keys(workspace_id, where, sort, after, limit + 1, plan)).all()
    page_keys = keys[:limit]
    rows = _rows(session, workspace_id, [key.mention_id for key in page_keys])
    next_cursor = None
    if len(keys) > limit:
        last = page_keys[-1]
        next_cursor = _Position(sort, last.part, ensure_utc(last.at), last.mention_id).encode()
    return InboxPage(rows, next_cursor)


def matching(session: Session, *, workspace_id: int, where: InboxFilter, mention_ids: Iterable[int]) -> set[int]:
    """Which of these work items the filter lists (for telling a live inbox whether a change concerns it)."""
    wanted = sorted(set(mention_ids))
    if not wanted:
        return set()
    stmt = _narrowed(select(WorkItem.mention_id), workspace_id, where, _Plan(session.get_bind().dialect.name))
    stmt = stmt.where(WorkItem.state.in_(where.states), WorkItem.mention_id.in_(wanted))
    return set(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read on this database. SQLite's planner needs steering that PostgreSQL's does not:

    - `common_search`: the words are in many posts (DENSE_HITS or more), so each arm reads in order and
      checks the hits, rather than fetching every hit and sorting them;
    - `by_time`: a received-since window, so an arm with clocks reads the window and sorts it, rather
      than reading the due-time order until it reaches recent work.
    """

    dialect: str
    common_search: bool = False
    by_time: bool = False

    @classmethod
    def for_query(cls, session: Session, where: InboxFilter) -> _Plan:
        dialect = session.get_bind().dialect.name
        if dialect != "sqlite":
            return cls(dialect)
        common = False
        if where.search is not None:
            hits = _sqlite_hits(where.search).limit(DENSE_HITS).subquery()
            common = (session.scalar(select(func.count()).select_from(hits)) or 0) >= DENSE_HITS
        return cls(dialect, common, where.received_from is not None)

    def unindexed(self, column: Any) -> Any:
        """The column behind SQLite's unary plus, which keeps its planner from using an index for it."""
        if self.dialect != "sqlite":
            return column
        return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _narrowed(stmt: Select[Any], workspace_id: int, where: InboxFilter, plan: _Plan) -> Select[Any]:
    """The filter's conditions (all but the state), joining the mention or triage only when a filter needs it."""
    stmt = stmt.where(WorkItem.workspace_id == workspace_id)
    if where.flag is not None or where.category is not None:
        stmt = stmt.join(MentionTriage, MentionTriage.mention_id == WorkItem.mention_id)
        if where.flag is not None:
            stmt = stmt.where(MentionTriage.flag == where.flag)
        if where.category is not None:
            stmt = stmt.where(MentionTriage.category == where.category)
    if where.queue is not None:
        stmt = stmt.where(WorkItem.queue == where.queue)
    if where.assignee_id is not None:
        stmt = stmt.where(WorkItem.assignee_id == where.assignee_id)
    if where.unassigned:
        stmt = stmt.where(WorkItem.assignee_id.is_(None))
    if where.received_from is not None:
        stmt = stmt.where(WorkItem.opened_at >= where.received_from)
    if where.received_before is not None:
        stmt = stmt.where(WorkItem.opened_at < where.received_before)
    postgres_search = where.search is not None and plan.dialect == "postgresql"
    if where.channel_id is not None or postgres_search:
        stmt = stmt.join(Mention, Mention.id == WorkItem.mention_id)
        if where.channel_id is not None:
            stmt = stmt.where(Mention.channel_id == where.channel_id)
    if where.search is not None:
        if plan.dialect == "postgresql":
            # The exact expression of ix_mentions_text_fts (migration 0001), so the index answers it.
            query = func.plainto_tsquery(_SIMPLE, " ".join(search_words(where.search)))
            stmt = stmt.where(func.to_tsvector(_SIMPLE, Mention.text).op("@@")(query))
        else:
            mention_id = plan.unindexed(WorkItem.mention_id) if plan.common_search else WorkItem.mention_id
            stmt = stmt.where(mention_id.in_(_sqlite_hits(where.search)))
    return stmt


def _sqlite_hits(text: str) -> Select[Any]:
    """The ids of mentions holding every word, from the FTS5 table of migration 0001. Each word is quoted,
    so nothing the user types is read as FTS5 query syntax."""
    match = " ".join(f'"{word}"' for word in search_words(text))
    return select(_SQLITE_FTS.c.rowid).where(_SQLITE_FTS.c.mentions_fts.match(match))


def _keys(workspace_id: int, where: InboxFilter, sort: str, after: _Position | None, limit: int,
          plan: _Plan) -> Select[Any]:
    """The page's keys: one ordered, limited arm per state and part, merged and cut to `limit`."""
    arms = []
    for state in where.states:
        for part in (0, 1) if sort == "urgency" else (0,):
            if after is not None and part < after.part:
                continue  # the cursor is past every row with a clock
            arm = _narrowed(select(WorkItem.mention_id), workspace_id, where, plan).where(WorkItem.state == state)
            arms.append(_arm(arm, sort, part, after if after is not None and after.part == part else None, limit,
                             plan))
    merged = (arms[0] if len(arms) == 1 else union_all(*(select(arm.subquery()) for arm in arms))).subquery()
    if sort == "newest":
        order = (merged.c.at.desc(), merged.c.mention_id.desc())
    else:
        order = (merged.c.part, merged.c.at, merged.c.mention_id)
    return select(merged.c.mention_id, merged.c.part, merged.c.at).order_by(*order).limit(limit)


def _arm(stmt: Select[Any], sort: str, part: int, after: _Position | None, limit: int, plan: _Plan) -> Select[Any]:
    """One state's rows after the cursor in sort order, at most `limit`: an ordered index range read."""
    if sort == "newest":
        key = WorkItem.opened_at
        if after is not None:
            stmt = stmt.where(key <= after.at, or_(key < after.at, WorkItem.mention_id < after.mention_id))
        return (stmt.order_by(key.desc(), WorkItem.mention_id.desc())
                .add_columns(literal(part).label("part"), key.label("at")).limit(limit))
    if part == 0:  # with a clock, by due time
        key = WorkItem.sla_due_at
        stmt = stmt.where(key.is_not(None))
        order_key = plan.unindexed(key) if plan.by_time else key
    else:  # without a clock, by age (opened_at is indexed with the state; ids are not, on PostgreSQL)
        key = order_key = WorkItem.opened_at
        stmt = stmt.where(plan.unindexed(WorkItem.sla_due_at).is_(None))
    if after is not None:
        stmt = stmt.where(key >= after.at, or_(key > after.at, WorkItem.mention_id > after.mention_id))
    return (stmt.order_by(order_key, WorkItem.mention_id)
            .add_columns(literal(part).label("part"), key.label("at")).limit(limit))


def _rows(session: Session, workspace_id: int, mention_ids: Sequence[int]) -> list[InboxRow]:
    """Everything a row shows, for all the page's work items in one query, in the keys' order."""
    if not mention_ids:
        return []
    stmt = (
        select(WorkItem.mention_id, WorkItem.state, WorkItem.queue, WorkItem.team, WorkItem.priority, WorkItem.action,
               User.email, WorkItem.revision, WorkItem.opened_at, WorkItem.updated_at, WorkItem.sla_due_at,
               Mention.text, Mention.url, MentionTriage.flag, MentionTriage.category, Channel.slug, Channel.name,
               Channel.kind, Author.handle, Author.display_name, Author.follower_count, Author.verified, Author.tags)
        .join(Mention, Mention.id == WorkItem.mention_id)
        .join(Channel, Channel.id == Mention.channel_id)
        .outerjoin(Author, Author.id == Mention.author_id)
        .outerjoin(MentionTriage, MentionTriage.mention_id == WorkItem.mention_id)
        .outerjoin(User, User.id == WorkItem.assignee_id)
        .where(WorkItem.workspace_id == workspace_id, WorkItem.mention_id.in_(list(mention_ids)))
    )
    found = {}
    for row in session.execute(stmt):
        values = list(row)
        values[-2] = bool(values[-2])
        values[-1] = tuple(values[-1] or ())
        found[row.mention_id] = InboxRow(*values)
    # A row can vanish between the two queries (its mention deleted); the page then shows one fewer.
    return [found[mention_id] for mention_id in mention_ids if mention_id in found]


# ---------------------------------------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class Change:
    """A work item was opened (`created`, its first revision) or changed, as of `updated_at`."""

    mention_id: int
    revision: int
    state: str
    updated_at: datetime

    @property
    def created(self) -> bool:
        return self.revision == 1


@dataclass(frozen=True, slots=True)
class Mark:
    """A place in the change feed: the last change seen, by (updated_at, mention_id)."""

    at: datetime
    mention_id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{self.mention_id}"

    @classmethod
    def decode(cls, text: str | None) -> Mark | None:
        """The mark, or None for anything that is not one (a client's stale or damaged Last-Event-ID)."""
        if not text or "~" not in text:
            return None
        at, _, mention_id = text.rpartition("~")
        try:
            moment = datetime.fromisoformat(at)
            return cls(ensure_utc(moment), int(mention_id)) if moment.tzinfo else None
        except ValueError:
            return None


def latest_mark(session: Session, *, workspace_id: int) -> Mark | None:
    """The workspace's most recent change, where a fresh feed starts."""
    row = session.execute(
        select(WorkItem.updated_at, WorkItem.mention_id).where(WorkItem.workspace_id == workspace_id)
        .order_by(WorkItem.updated_at.desc(), WorkItem.mention_id.desc()).limit(1)).first()
    return None if row is None else Mark(ensure_utc(row.updated_at), row.mention_id)


@dataclass(slots=True)
class ChangeFeed:
    """The work items of a workspace that changed since a mark, read by polling.

    A transaction stamps `updated_at` before it commits, so a slow one can commit a change older than
    changes already read. Each poll therefore looks `lookback` behind the newest change seen and skips
    the (item, revision) pairs it has already given out; only a transaction slower than `lookback`
    can be missed. A feed started from a page's mark (`start`) counts what existed then as seen; one
    resumed from a client's Last-Event-ID (`resume`) may repeat changes from the lookback window,
    which clients recognise by item and revision.
    """

    workspace_id: int
    mark: Mark | None = None
    lookback: timedelta = timedelta(seconds=10)
    batch: int = 500
    _seen: dict[tuple[int, int], datetime] = field(default_factory=dict)

    @classmethod
    def start(cls, session: Session, *, workspace_id: int, mark: Mark | None = None, **options: Any) -> ChangeFeed:
        """A feed from `mark` (default: now), treating every change up to it as already seen."""
        feed = cls(workspace_id, mark or latest_mark(session, workspace_id=workspace_id), **options)
        if feed.mark is not None:
            for change in feed._read(session, feed.mark.at - feed.lookback):
                if (change.updated_at, change.mention_id) <= (feed.mark.at, feed.mark.mention_id):
                    feed._seen[(change.mention_id, change.revision)] = change.updated_at
        return feed

    @classmethod
    def resume(cls, *, workspace_id: int, mark: Mark, **options: Any) -> ChangeFeed:
        """A feed picking up after a client's last event, repeating the lookback window."""
        return cls(workspace_id, mark, **options)

    def poll(self, session: Session) -> list[Change]:
        """The changes not given out yet, oldest first; moves the mark on."""
        since = None if self.mark is None else self.mark.at - self.lookback
        fresh = [c for c in self._read(session, since) if (c.mention_id, c.revision) not in self._seen]
        for change in fresh:
            self._seen[(change.mention_id, change.revision)] = change.updated_at
            if self.mark is None or (change.updated_at, change.mention_id) > (self.mark.at, self.mark.mention_id):
                self.mark = Mark(change.updated_at, change.mention_id)
        if self.mark is not None:
            horizon = self.mark.at - self.lookback
            self._seen = {key: at for key, at in self._seen.items() if at >= horizon}
        return fresh

    def _read(self, session: Session, since: datetime | None) -> list[Change]:
        """Every change after `since`, a batch per query along (updated_at, mention_id)."""
        changes: list[Change] = []
        after: tuple[datetime, int] | None = None
        while True:
            stmt = (select(WorkItem.mention_id, WorkItem.revision, WorkItem.state, WorkItem.updated_at)
                    .where(WorkItem.workspace_id == self.workspace_id)
                    .order_by(WorkItem.updated_at, WorkItem.mention_id).limit(self.batch))
            if after is not None:
                stmt = stmt.where(WorkItem.updated_at >= after[0],
                                  or_(WorkItem.updated_at > after[0], WorkItem.mention_id > after[1]))
            elif since is not None:
                stmt = stmt.where(WorkItem.updated_at > since)
            found = [Change(row.mention_id, row.revision, row.state, ensure_utc(row.updated_at))
                     for row in session.execute(stmt)]
            changes.extend(found)
            if len(found) < self.batch:
                return changes
            after = (found[-1].updated_at, found[-1].mention_id)

