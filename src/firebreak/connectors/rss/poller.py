"""Poll due RSS/Atom feeds: claim each atomically, fetch it with conditional GET, store its new entries.

The schedule lives in `feed_states`: a feed is due when `next_poll_at <= now`. Claiming a feed moves
`next_poll_at` a lease ahead in one conditional UPDATE, and only the worker whose UPDATE matched the
row fetches it, so several `serve` processes (or a CLI run beside them) never poll one feed at once.
A worker that dies mid-poll leaves the feed due again when the lease runs out.

After the fetch, one transaction stores the entries (idempotently, through `ingest_mentions`) and the
feed's new validators and schedule: one interval on after a success (200 or 304), a growing backoff
after a failure, or what the server asked for with Retry-After. No HTTP request ever runs inside a
database transaction, so SQLite's write lock is held only for the short writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, cast

import httpx
from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel, FeedState
from firebreak.connectors.base import ConnectorError, FetchResult, RemoteError
from firebreak.connectors.rss.connector import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    RssConnector,
    new_client,
)
from firebreak.core.clock import Clock, SystemClock
from firebreak.db.engine import Database
from firebreak.mentions.service import ingest_mentions
from firebreak.workspaces.models import Workspace

log = logging.getLogger(__name__)

# Long enough for any fetch to finish (the connector's own deadline is far shorter), short enough
# that a feed whose worker died is picked up again soon.
CLAIM_LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=6)
MAX_ERROR_CHARS = 1000
MAX_PREVIEWS = 10
BATCH_SIZE = 100


def backoff_delay(*, interval_seconds: int, failures: int, retry_after: float | None = None) -> timedelta:
    """Return the wait after `failures` failures in a row: Retry-After if sent, else interval * 2**failures.

    Never shorter than the feed's interval, never longer than six hours (or the interval, if longer).
    """
    cap = max(MAX_BACKOFF.total_seconds(), interval_seconds)
    if retry_after is not None:
        seconds = max(retry_after, interval_seconds)
    else:
        seconds = interval_seconds * 2 ** min(max(failures, 0), 20)
    return timedelta(seconds=min(seconds, cap))


@dataclass(slots=True)
class FeedResult:
    """What one poll of one feed did."""

    channel_id: int
    workspace_id: int
    workspace: str
    channel: str
    url: str
    status: int | None = None
    entries: int = 0
    new_mentions: int = 0
    error: str | None = None
    warning: str | None = None
    next_poll_at: datetime | None = None
    previews: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PollSummary:
    """What one `poll_due` call did: feeds polled, mentions that were new, and each feed's result."""

    feeds: int = 0
    new_mentions: int = 0
    failed: int = 0
    results: list[FeedResult] = field(default_factory=list)

    def add(self, result: FeedResult) -> None:
        """Count one feed's result in the totals."""
        self.feeds += 1
        self.new_mentions += result.new_mentions
        self.failed += result.error is not None
        self.results.append(result)


@dataclass(slots=True, frozen=True)
class _Candidate:
    channel_id: int
    workspace_id: int
    workspace: str
    slug: str
    next_poll_at: datetime | None


@dataclass(slots=True, frozen=True)
class _Claim:
    candidate: _Candidate
    url: str
    interval_seconds: int
    etag: str | None
    last_modified: str | None
    failures: int


class FeedPoller:
    """Polls the feeds that are due; safe to run in several processes against one database.

    `http` is a shared client to reuse (the caller closes it); without one the poller makes its own
    with `user_agent` and `timeout`, and `close()` closes it.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self._owns_http = http is None
        self.http = http or new_client(user_agent=user_agent, timeout=timeout)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_text_chars = max_text_chars
        self.batch_size = batch_size

    def close(self) -> None:
        """Close the HTTP client if the poller made it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> FeedPoller:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def poll_due(self, *, workspace_id: int | None = None, force: bool = False) -> PollSummary:
        """Poll every active feed that is due (every active feed with `force`); a failing feed never stops the rest.

        With `force` a feed is claimed by compare-and-set on the schedule read a moment before, so
        two forced runs still fetch it once; but a feed another worker is fetching at that moment
        can be fetched twice, which costs a request and stores nothing twice.
        """
        summary = PollSummary()
        for candidate in self._candidates(workspace_id=workspace_id, force=force):
            result = self._poll(candidate, force=force)
            if result is not None:
                summary.add(result)
        return summary

    # ------------------------------------------------------------------------------------ steps

    def _candidates(self, *, workspace_id: int | None, force: bool) -> list[_Candidate]:
        stmt = (
            select(FeedState.channel_id, Channel.workspace_id, Workspace.slug, Channel.slug, FeedState.next_poll_at)
            .join(Channel, Channel.id == FeedState.channel_id)
            .join(Workspace, Workspace.id == Channel.workspace_id)
            .where(Channel.active.is_(True))
            .order_by(FeedState.next_poll_at, FeedState.channel_id)
            .limit(self.batch_size)
        )
        if not force:
            stmt = stmt.where(_is_due(self.clock.now()))
        if workspace_id is not None:
            stmt = stmt.where(Channel.workspace_id == workspace_id)
        with self.db.read() as session:
            return [_Candidate(*row) for row in session.execute(stmt)]

    def _claim(self, candidate: _Candidate, *, now: datetime, force: bool) -> _Claim | None:
        """Take the feed for this worker by moving its next poll a lease ahead; None if another worker has it."""
        if force:
            # Polling out of schedule: claim only if nobody moved the schedule since we read it.
            unchanged = (
                FeedState.next_poll_at.is_(None)
                if candidate.next_poll_at is None
                else FeedState.next_poll_at == candidate.next_poll_at
            )
        else:
            unchanged = _is_due(now)
        with self.db.write() as session:
            claimed = cast(
                "CursorResult[Any]",
                session.execute(
                    update(FeedState)
                    .where(FeedState.channel_id == candidate.channel_id, unchanged)
                    .values(next_poll_at=now + CLAIM_LEASE)
                    .execution_options(synchronize_session=False)
                ),
            )
            if claimed.rowcount != 1:
                return None
            row = session.execute(
                select(
                    FeedState.url,
                    FeedState.interval_seconds,
                    FeedState.etag,
                    FeedState.last_modified,
                    FeedState.consecutive_failures,
                ).where(FeedState.channel_id == candidate.channel_id)
            ).one()
        return _Claim(candidate, row.url, row.interval_seconds, row.etag, row.last_modified, row.consecutive_failures)

    def _poll(self, candidate: _Candidate, *, force: bool) -> FeedResult | None:
        now = self.clock.now()
        claim = self._claim(candidate, now=now, force=force)
        if claim is None:
            return None
        result = FeedResult(
            candidate.channel_id, candidate.workspace_id, candidate.workspace, candidate.slug, claim.url
        )
        connector = RssConnector(
            claim.url,
            client=self.http,
            clock=self.clock,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            max_text_chars=self.max_text_chars,
        )
        try:
            fetched = connector.fetch({"etag": claim.etag, "last_modified": claim.last_modified})
            self._store(claim, fetched, now=now, result=result)
        except ConnectorError as exc:
            status = exc.status if isinstance(exc, RemoteError) else None
            retry_after = exc.retry_after if isinstance(exc, RemoteError) else None
            self._record_failure(claim, str(exc), status=status, retry_after=retry_after, now=now, result=result)
        except Exception as exc:  # noqa: BLE001 - a bug or database hiccup with one feed must not stop the others
            log.exception("polling feed %s (%s) failed unexpectedly", candidate.slug, claim.url)
            self._record_failure(claim, f"{type(exc).__name__}: {exc}", status=None, now=now, result=result)
        return result

    def _store(self, claim: _Claim, fetched: FetchResult, *, now: datetime, result: FeedResult) -> None:
        """Store the fetched entries and the feed's new validators and schedule in one transaction."""
        next_poll_at = now + timedelta(seconds=claim.interval_seconds)
        with self.db.write() as session:
            channel = session.get(Channel, claim.candidate.channel_id)
            if channel is None:
                return  # deleted while we fetched; its feed state went with it
            if fetched.items:
                ingested = ingest_mentions(
                    session=session,
                    workspace_id=channel.workspace_id,
                    channels={},
                    items=fetched.items,
                    default_channel=channel,
                    received_at=now,
                )
                created = set(ingested.created_ids)
                for item, mention_id in zip(fetched.items, ingested.ids, strict=True):
                    if mention_id in created and len(result.previews) < MAX_PREVIEWS:
                        created.discard(mention_id)
                        result.previews.append(item.text.split("\n", 1)[0][:120])
                result.new_mentions = ingested.created
            session.execute(
                update(FeedState)
                .where(FeedState.channel_id == claim.candidate.channel_id)
                .values(
                    etag=fetched.cursor.get("etag"),
                    last_modified=fetched.cursor.get("last_modified"),
                    last_status=fetched.status,
                    last_polled_at=now,
                    last_error=fetched.warning[:MAX_ERROR_CHARS] if fetched.warning else None,
                    consecutive_failures=0,
                    next_poll_at=next_poll_at,
                )
                .execution_options(synchronize_session=False)
            )
        result.status = fetched.status
        result.entries = len(fetched.items)
        result.warning = fetched.warning
        result.next_poll_at = next_poll_at
        log.info(
            "feed %s: HTTP %s, %d entries, %d new",
            claim.candidate.slug,
            fetched.status,
            result.entries,
            result.new_mentions,
        )

    def _record_failure(
        self,
        claim: _Claim,
        error: str,
        *,
        status: int | None,
        now: datetime,
        result: FeedResult,
        retry_after: float | None = None,
    ) -> None:
        """Record why the poll failed and back off; the old validators stay, so nothing is skipped."""
        failures = claim.failures + 1
        delay = backoff_delay(interval_seconds=claim.interval_seconds, failures=failures, retry_after=retry_after)
        result.status = status
        result.error = error[:MAX_ERROR_CHARS]
        result.new_mentions = 0
        result.previews.clear()
        result.next_poll_at = now + delay
        log.warning(
            "feed %s (%s) failed %d time(s) in a row: %s; next try in %s",
            claim.candidate.slug,
            claim.url,
            failures,
            error,
            delay,
        )
        try:
            with self.db.write() as session:
                session.execute(
                    update(FeedState)
                    .where(FeedState.channel_id == claim.candidate.channel_id)
                    .values(
                        last_status=status,
                        last_polled_at=now,
                        last_error=result.error,
                        consecutive_failures=failures,
                        next_poll_at=result.next_poll_at,
                    )
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # noqa: BLE001 - the claim's lease makes the feed due again anyway
            log.exception("could not record the failure of feed %s", claim.candidate.slug)


def _is_due(now: datetime) -> ColumnElement[bool]:
    return or_(FeedState.next_poll_at.is_(None), FeedState.next_poll_at <= now)


# ------------------------------------------------------------------------------------------ listing


@dataclass(slots=True)
class FeedRow:
    """One feed's schedule and health, for `firebreak feeds list`."""

    workspace: str
    channel: str
    url: str
    interval_seconds: int
    active: bool
    last_status: int | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    consecutive_failures: int
    last_error: str | None


def list_feeds(*, session: Session, workspace_id: int | None = None) -> list[FeedRow]:
    """Return every feed (of one workspace, if given) with its schedule and last outcome."""
    stmt = (
        select(Workspace.slug, Channel.slug, Channel.active, FeedState)
        .join(Channel, Channel.id == FeedState.channel_id)
        .join(Workspace, Workspace.id == Channel.workspace_id)
        .order_by(Workspace.slug, Channel.slug)
    )
    if workspace_id is not None:
        stmt = stmt.where(Channel.workspace_id == workspace_id)
    return [
        FeedRow(
            workspace=ws_slug,
            channel=slug,
            url=state.url,
            interval_seconds=state.interval_seconds,
            active=active,
            last_status=state.last_status,
            last_polled_at=state.last_polled_at,
            next_poll_at=state.next_poll_at,
            consecutive_failures=state.consecutive_failures,
            last_error=state.last_error,
        )
        for ws_slug, slug, active, state in session.execute(stmt)
    ]
