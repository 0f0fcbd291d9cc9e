"""Write parsed mentions to a workspace, batch by batch, through the one idempotent ingest path."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from firebreak.channels import service as channel_service
from firebreak.channels.models import Channel
from firebreak.core.errors import ImportRowError, NotFound
from firebreak.db.engine import Database
from firebreak.importers.rows import ParsedFile
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Author, Mention
from firebreak.workspaces.service import SLUG_RE

DEFAULT_BATCH_SIZE = 5_000
log = logging.getLogger(__name__)


@dataclass(slots=True)
class StoreResult:
    """What the committed batches did."""

    created: int = 0
    duplicates: int = 0
    batches: int = 0
    seconds: float = 0.0
    stored: int = field(default=0)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cycle collector while a file is parsed and stored.

    A bulk load allocates hundreds of thousands of long-lived objects and no cycles worth
    collecting; left on, the collector rescans the growing heap again and again (about an
    eighth of an import's CPU time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_channels(
    parsed: ParsedFile,
    *,
    known: set[str],
    default_slug: str | None,
    create_missing: bool,
    skip_bad_rows: bool,
) -> set[str]:
    """Check that every row has a channel; return the slugs to create, and drop or raise bad rows."""
    to_create: set[str] = set()
    if default_slug is not None and default_slug not in known:
        if not create_missing:
            raise NotFound(
                f"channel {default_slug!r} does not exist in this workspace; add --create-channel --kind KIND"
            )
        to_create.add(default_slug)
    rejected: set[int] = set()
    for index, item in enumerate(parsed.items):
        slug = item.channel or default_slug
        if slug is None:
            error = ImportRowError(
                "the row names no channel and --channel was not given",
                path=parsed.path,
                line=parsed.lines[index],
                column="channel",
            )
        elif slug in known or (create_missing and _valid_slug(slug)):
            if slug not in known:
                to_create.add(slug)
            continue
        else:
            hint = "" if create_missing else "; create it or pass --create-channel"
            error = ImportRowError(
                f"unknown channel {slug!r} in this workspace{hint}",
                path=parsed.path,
                line=parsed.lines[index],
                column="channel",
            )
        if not skip_bad_rows:
            raise error
        parsed.skipped.append(error)
        rejected.add(index)
    parsed.drop(rejected)
    return to_create if create_missing else set()


def _valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.match(slug))


def create_channels(*, session: Session, workspace_id: int, slugs: set[str], kind: str, actor: str) -> None:
    """Create the named channels of one kind."""
    for slug in sorted(slugs):
        channel_service.create_channel(session=session, workspace_id=workspace_id, slug=slug, kind=kind, actor=actor)


def store_batches(
    *,
    db: Database,
    workspace_id: int,
    parsed: ParsedFile,
    default_slug: str | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_commit: Callable[[int, StoreResult], None] | None = None,
) -> StoreResult:
    """Ingest the parsed mentions in batches, one transaction each; `on_commit` hears each committed batch."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    with db.read() as session:
        channels: dict[str, Channel] = channel_service.channels_by_slug(session=session, workspace_id=workspace_id)
    default = channels.get(default_slug) if default_slug else None
    result = StoreResult()
    items = parsed.items
    analyze_at = 1 if db.dialect == "postgresql" else None
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        with db.write() as session:
            outcome = mention_service.ingest_mentions(
                session=session,
                workspace_id=workspace_id,
                channels=channels,
                default_channel=default,
                items=batch,
            )
        # Only now is the batch durable, so only now does it count.
        result.created += outcome.created
        result.duplicates += outcome.duplicates
        result.stored += len(batch)
        result.batches += 1
        if analyze_at is not None and result.stored >= analyze_at:
            analyze_at = _refresh_statistics(db, result.stored)
        if on_commit is not None:
            on_commit(len(batch), result)
    result.seconds = time.perf_counter() - started
    return result


def _refresh_statistics(db: Database, stored: int) -> int | None:
    """ANALYZE the tables a bulk load grows; return when to do it again (None: never).

    A fast import outruns autovacuum: with no statistics PostgreSQL's planner reads each batch's
    `handle IN (...)` lookups as unselective and scans the whole workspace, so every batch gets
    slower than the last. Refreshing after the first batch and whenever the load doubles is enough.
    """
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql(f"ANALYZE {Author.__tablename__}, {Mention.__tablename__}")
            connection.commit()
    except DBAPIError as exc:
        # Only the owner may ANALYZE; without it the import is slower, not wrong.
        log.warning("could not refresh planner statistics (%s); carrying on", exc.orig)
        return None
    return stored * 2
