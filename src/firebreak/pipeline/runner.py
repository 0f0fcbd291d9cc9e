"""Run stages over reserved batches with durable state: nothing half-done survives a crash.

`run_batch` (what the in-process worker and a Celery task, passing the ids it was given, call) runs a
batch in three phases, so the database's write lock (SQLite has one for the whole file) is held only
for short bulk writes, never while stages compute:

1. Reserve, a short write transaction: claim due pending mentions (FOR NO KEY UPDATE SKIP LOCKED on
   PostgreSQL; SQLite's single writer serialises), count the try and push each one's retry time
   forward, then commit. The reserved mentions are hidden from other workers until that time.
2. Prepare, a read session that never takes the write lock and cannot write: load the mentions as
   detached snapshots and run every stage's `prepare` in order (see pipeline/base.py).
3. Apply, one write transaction: check each mention is still the one reserved (a reservation that
   expired may have been taken by another worker, whose work then stands), run every stage's `apply`,
   then write the stages' column changes and each mention's outcome (processed, retry later, parked,
   with an error row per failure) in a few bulk statements, and commit.

A crash before the last commit leaves the batch's mentions pending with their try counted, and none of
their effects: the next worker redoes them from the start, so no effect is committed twice. A worker
that dies mid-batch (killed, out of memory, a crash in native code) settles nothing, so a mention that
kills the worker would otherwise come back forever and block the queue: a counted try that never
settled is seen on the next claim, and its mention runs alone, and is parked once it has stopped the
worker `max_attempts` times, so only the culprit is held back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, bindparam, event, func, insert, inspect, literal_column, null, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

# Every table in the metadata, so a process that only imports the pipeline (a worker, a Celery task)
# can write rows whose foreign keys name tables it never imported.
import firebreak.schema  # noqa: F401
from firebreak.audit import service as audit
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import NotFound
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention, PipelineError
from firebreak.pipeline.base import Stage, WorkItem

log = logging.getLogger(__name__)
_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")

MAX_RETRY_DELAY = timedelta(hours=1)
# PostgreSQL text cannot hold NUL; error messages built from raw bytes may carry one.
_NUL = "\x00"
# Blamed when a mention's own row refuses what the stages set for it (too long for its column, say).
SETTLE_STAGE = "settle"
WORKER_STOPPED = "this try never finished: the worker stopped, or its batch could not be saved"
_MENTIONS = cast(Table, Mention.__table__)
_ERRORS = cast(Table, PipelineError.__table__)
_COLUMNS = {attr.key: attr.columns[0] for attr in Mention.__mapper__.column_attrs}


@dataclass(slots=True)
class BatchReport:
    """What one batch did."""

    claimed: int = 0
    processed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    # Reserved, but no longer ours when the batch settled: the reservation expired and another worker
    # took the mention (or it was deleted), so this batch's results for it were thrown away.
    skipped: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Reservation:
    """Mentions whose try `reserve` counted, and those it parked for stopping the worker too often."""

    ids: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    # What `reserve` wrote to each mention, (attempts, next_attempt_at): still there means still ours.
    tokens: dict[int, tuple[int, datetime]] = field(default_factory=dict)


class Pipeline:
    """An ordered list of stages plus the retry policy that governs failures."""

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        max_attempts: int = 5,
        retry_base_seconds: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        for stage in stages:
            if hasattr(stage, "process") or hasattr(stage, "process_one"):
                # Stage API v1; the runner would never call those methods, so the stage would do nothing.
                raise TypeError(f"stage {stage.name!r} implements process/process_one: port it to prepare/apply")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        self.stages = list(stages)
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.clock = clock or SystemClock()

    def retry_delay(self, attempts: int) -> timedelta:
        """Return the wait before try number `attempts + 1` (exponential, capped)."""
        # Capped before it becomes a timedelta, which overflows long before 2**attempts does.
        seconds = self.retry_base_seconds * 2.0 ** min(max(attempts - 1, 0), 64)
        return timedelta(seconds=min(seconds, MAX_RETRY_DELAY.total_seconds()))

    def run_batch(self, db: Database, *, limit: int, ids: Sequence[int] | None = None) -> BatchReport:
        """Reserve up to `limit` due mentions (of `ids`, if given), run every stage on them and settle them."""
        with db.write() as session:
            reservation = self.reserve(session, limit=limit, ids=ids)
        report = BatchReport(claimed=len(reservation.ids) + len(reservation.parked), parked=list(reservation.parked))
        if not reservation.ids:
            return report
        with db.read() as session:
            items = self.prepare(session, reservation)
        with db.write() as session:
            self.settle(session, reservation, items, report)
        return report

    # ------------------------------------------------------------------------------------ 1. reserve

    def _claim_query(self, stmt: _Query, session: Session, *, limit: int, ids: Sequence[int] | None) -> _Query:
        stmt = stmt.where(Mention.state == "pending", Mention.next_attempt_at <= self.clock.now())
        if ids is not None:
            stmt = stmt.where(Mention.id.in_(list(ids)))
        stmt = stmt.order_by(Mention.next_attempt_at, Mention.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            # NO KEY UPDATE: a batch never changes a mention's key, so rows that reference mentions can
            # still be inserted meanwhile; other workers' claims skip these rows all the same.
            stmt = stmt.with_for_update(skip_locked=True, key_share=True, of=Mention)
        return stmt

    def reserve(self, session: Session, *, limit: int, ids: Sequence[int] | None = None) -> Reservation:
        """Count a try on up to `limit` due mentions and hide them until their retry time; commit next.

        A mention whose previous try never settled (the worker died) is reserved alone, after its lost
        try is recorded, or parked if that was its last allowed try.
        """
        query = self._claim_query(select(Mention.id, Mention.attempts), session, limit=limit, ids=ids)
        claimed: dict[int, int] = {row.id: row.attempts for row in session.execute(query)}
        reservation = Reservation()
        if not claimed:
            return reservation
        now = self.clock.now()
        unfinished = self._unfinished(session, claimed)
        if unfinished is not None:
            # It may be what killed the worker: run such mentions one at a time, so that a poison
            # mention only ever takes its own batch down with it.
            attempts = claimed[unfinished]
            session.add(
                PipelineError(mention_id=unfinished, stage="worker", attempt=attempts, error=WORKER_STOPPED, at=now)
            )
            values: dict[str, Any] = {"last_error": f"worker: {WORKER_STOPPED}"}
            if attempts >= self.max_attempts:
                values.update(state="parked", next_attempt_at=None)
                log.error("mention %s parked: its %d tries never finished", unfinished, attempts)
                reservation.parked.append(unfinished)
                claimed = {}
            else:
                claimed = {unfinished: attempts}
            session.execute(update(Mention).where(Mention.id == unfinished).values(**values))
        by_attempts: dict[int, list[int]] = {}
        for mention_id, attempts in claimed.items():
            by_attempts.setdefault(attempts, []).append(mention_id)
        for attempts, group in by_attempts.items():
            # If this try never settles, the mention comes back after the same wait as a failure.
            retry_at = now + self.retry_delay(attempts + 1)
            session.execute(
                update(Mention).where(Mention.id.in_(group)).values(attempts=attempts + 1, next_attempt_at=retry_at)
            )
            reservation.tokens.update(dict.fromkeys(group, (attempts + 1, retry_at)))
        reservation.ids.extend(claimed)
        return reservation

    def _unfinished(self, session: Session, claimed: dict[int, int]) -> int | None:
        # Every settled failure leaves an error row numbered with its try; a counted try without one
        # (and the mention still pending) never settled.
        retried = [mention_id for mention_id, attempts in claimed.items() if attempts > 0]
        if not retried:
            return None
        latest = (
            select(func.max(PipelineError.id))
            .where(PipelineError.mention_id.in_(retried))
            .group_by(PipelineError.mention_id)
        )
        rows = session.execute(
            select(PipelineError.mention_id, PipelineError.attempt).where(PipelineError.id.in_(latest))
        )
        settled = {row.mention_id: row.attempt for row in rows}
        return next((mention_id for mention_id in retried if settled.get(mention_id) != claimed[mention_id]), None)

    # ------------------------------------------------------------------------------------ 2. prepare

    def prepare(self, session: Session, reservation: Reservation) -> list[WorkItem]:
        """Load the reserved mentions as detached snapshots and run every stage's `prepare` on them."""
        # Nothing a stage does may reach the database from here: no autoflush, and on PostgreSQL a
        # read-only transaction (each one, as a failed stage's rollback starts another).
        session.autoflush = False
        if session.get_bind().dialect.name == "postgresql":
            event.listen(session, "after_begin", _read_only)
        loaded = {m.id: m for m in session.scalars(select(Mention).where(Mention.id.in_(reservation.ids)))}
        session.expunge_all()
        # Reservation order (oldest due first); a mention deleted since the reservation is simply gone.
        items = [WorkItem(loaded[mention_id]) for mention_id in reservation.ids if mention_id in loaded]
        for stage in self.stages:
            current = [item for item in items if not item.failed]
            if not current:
                break
            self._prepare_stage(session, stage, current)
        return items

    def _prepare_stage(self, session: Session, stage: Stage, items: list[WorkItem]) -> None:
        for item in items:
            item.begin_stage()
        try:
            stage.prepare(session, items)
            _check_untouched(session, stage, items)
            if not any(item.failed for item in items):
                return
            problem = "some mentions failed"
        except Exception as exc:  # noqa: BLE001 - a bulk stage broke; find the culprit(s) one by one
            problem = f"{type(exc).__name__}: {exc}"
        # After a database error PostgreSQL refuses every later statement of the transaction, and a stage
        # that catches errors per mention would blame the next ones: only lone runs judge.
        session.rollback()
        log.warning("stage %s: %s in a batch of %d; running them one by one", stage.name, problem, len(items))
        for item in items:
            item.undo_stage(stage.name)
        for item in items:
            item.begin_stage()
            try:
                stage.prepare(session, [item])
                _check_untouched(session, stage, [item])
            except Exception as exc:  # noqa: BLE001 - this mention's failure
                item.undo_stage(stage.name)
                item.fail(stage.name, exc)
            if item.failed:
                session.rollback()

    # ------------------------------------------------------------------------------------ 3. apply

    def settle(self, session: Session, reservation: Reservation, items: list[WorkItem], report: BatchReport) -> None:
        """Run every stage's `apply` and write each mention's changes and outcome, in the caller's transaction."""
        ours = self._still_reserved(session, reservation)
        report.skipped = [mention_id for mention_id in reservation.ids if mention_id not in ours]
        if report.skipped:
            log.warning("mentions %s were taken over by another worker; dropping this batch's results", report.skipped)
        items = [item for item in items if item.mention.id in ours]
        alive = [item for item in items if not item.failed]
        writers = [stage for stage in self.stages if type(stage).apply is not Stage.apply]
        now = self.clock.now()
        # If any mention fails in an `apply` or its own row's update, undo everything the batch wrote and
        # write it again without that mention, so a failure leaves nothing behind. Ends: each pass removes
        # one or more.
        while alive:
            savepoint = session.begin_nested()
            for stage in writers:
                current = [item for item in alive if not item.failed]
                if not current:
                    break
                self._apply_stage(session, stage, current)
            current = [item for item in alive if not item.failed]
            if current:
                self._write_processed(session, current, now)
            if not any(item.failed for item in alive):
                savepoint.commit()
                break
            savepoint.rollback()
            alive = [item for item in alive if not item.failed]
        report.processed = [item.mention.id for item in alive]
        failed = [item for item in items if item.failed]  # in batch order
        self._write_failures(session, reservation, failed, now, report)

    def _still_reserved(self, session: Session, reservation: Reservation) -> set[int]:
        # Usually one query: a batch's mentions mostly share their try number and hence their token.
        by_token: dict[tuple[int, datetime], list[int]] = {}
        for mention_id in reservation.ids:
            by_token.setdefault(reservation.tokens[mention_id], []).append(mention_id)
        ours: set[int] = set()
        for (attempts, retry_at), group in by_token.items():
            stmt = select(Mention.id).where(
                Mention.id.in_(group),
                Mention.state == "pending",
                Mention.attempts == attempts,
                Mention.next_attempt_at == retry_at,
            )
            if session.get_bind().dialect.name == "postgresql":
                # Waits for (rather than skips) a worker that is reserving them right now, then sees its
                # changes; once locked, no one else can claim them until this batch commits.
                stmt = stmt.with_for_update(key_share=True, of=Mention)
            ours.update(session.scalars(stmt))
        return ours

    def _apply_stage(self, session: Session, stage: Stage, items: list[WorkItem]) -> None:
        savepoint = session.begin_nested()
        try:
            stage.apply(session, items)
            session.flush()
            if not any(item.failed for item in items):
                savepoint.commit()
                return
            problem = "some mentions failed"
        except Exception as exc:  # noqa: BLE001 - a bulk write broke; find the culprit(s) one by one
            problem = f"{type(exc).__name__}: {exc}"
        savepoint.rollback()
        log.warning("stage %s: %s in apply, batch of %d; writing them one by one", stage.name, problem, len(items))
        # As in prepare: a failure in a shared run may be an innocent bystander's.
        for item in items:
            if item.failed_stage == stage.name:
                item.failed_stage = item.error = None
        for item in items:
            single = session.begin_nested()
            try:
                stage.apply(session, [item])
                session.flush()
                if not item.failed:
                    single.commit()
                    continue
            except Exception as exc:  # noqa: BLE001 - this mention's failure, recorded below
                item.fail(stage.name, exc)
            # Also what makes a PostgreSQL transaction usable again after a database error.
            single.rollback()

    def _write_processed(self, session: Session, items: list[WorkItem], now: datetime) -> None:
        savepoint = session.begin_nested()
        try:
            self._update_processed(session, items, now)
            savepoint.commit()
            return
        except Exception as exc:  # noqa: BLE001 - a value the column refuses; find whose, one by one
            savepoint.rollback()
            log.warning("writing a batch of %d mentions failed (%s); writing them one by one", len(items), exc)
        for item in items:
            single = session.begin_nested()
            try:
                self._update_processed(session, [item], now)
                single.commit()
            except Exception as exc:  # noqa: BLE001 - this mention's failure
                single.rollback()
                item.fail(SETTLE_STAGE, exc)

    def _update_processed(self, session: Session, items: list[WorkItem], now: datetime) -> None:
        # One executemany per distinct set of changed columns (usually one or two for the whole batch).
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for item in items:
            row = {f"v_{key}": value for key, value in item.changes.items()}
            row["m_id"] = item.mention.id
            groups.setdefault(frozenset(item.changes), []).append(row)
        for keys, rows in groups.items():
            values: dict[Any, Any] = {
                _COLUMNS[key]: bindparam(f"v_{key}", type_=_COLUMNS[key].type) for key in sorted(keys)
            }
            # Constants in the SQL, not bound: executemany would process them again for every row.
            values.update(
                {
                    _MENTIONS.c.state: literal_column("'processed'"),
                    _MENTIONS.c.processed_at: now,
                    _MENTIONS.c.last_error: null(),
                    _MENTIONS.c.next_attempt_at: null(),
                }
            )
            session.execute(update(_MENTIONS).where(_MENTIONS.c.id == bindparam("m_id")).values(values), rows)

    def _write_failures(
        self, session: Session, reservation: Reservation, items: list[WorkItem], now: datetime, report: BatchReport
    ) -> None:
        if not items:
            return
        errors: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        for item in items:
            mention_id = item.mention.id
            attempts = reservation.tokens[mention_id][0]
            stage = item.failed_stage or "?"
            error = (item.error or "").replace(_NUL, "")[:4000]
            errors.append({"mention_id": mention_id, "stage": stage, "attempt": attempts, "error": error, "at": now})
            outcome = {"m_id": mention_id, "v_last_error": f"{stage}: {error}"}
            if attempts >= self.max_attempts:
                log.error("mention %s parked after %d tries: %s: %s", mention_id, attempts, stage, error)
                outcome.update(v_state="parked", v_next_attempt_at=None)
                report.parked.append(mention_id)
            else:
                outcome.update(v_state="pending", v_next_attempt_at=now + self.retry_delay(attempts))
                report.retried.append(mention_id)
            outcomes.append(outcome)
        session.execute(insert(_ERRORS), errors)
        session.execute(
            update(_MENTIONS)
            .where(_MENTIONS.c.id == bindparam("m_id"))
            .values(
                {
                    _MENTIONS.c.state: bindparam("v_state"),
                    _MENTIONS.c.last_error: bindparam("v_last_error"),
                    _MENTIONS.c.next_attempt_at: bindparam("v_next_attempt_at", type_=_MENTIONS.c.next_attempt_at.type),
                }
            ),
            outcomes,
        )


def _read_only(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _check_untouched(session: Session, stage: Stage, items: list[WorkItem]) -> None:
    # Rows added or changed in the read session, or mention columns changed without item.set(), would be
    # silently lost: say so instead.
    if session.new or session.dirty or session.deleted:
        raise RuntimeError(
            f"stage {stage.name} changed the session in prepare; record columns with item.set() and rows "
            "for other tables in item.data, and write those in apply()"
        )
    for item in items:
        # The snapshot remembers the loaded value of every attribute assigned since (undone ones too).
        for key, loaded in inspect(item.mention).committed_state.items():
            if key not in item.changes and getattr(item.mention, key) != loaded:
                item.fail(stage.name, f"stage {stage.name} changed mention.{key} directly; use item.set({key}=...)")
                break


def retry_parked(
    *,
    session: Session,
    workspace_id: int | None,
    mention_ids: Sequence[int] | None,
    actor: str,
    now: datetime,
) -> int:
    """Send parked mentions back to the queue with a fresh try count; return how many moved."""
    stmt = select(Mention.id, Mention.workspace_id).where(Mention.state == "parked")
    if workspace_id is not None:
        stmt = stmt.where(Mention.workspace_id == workspace_id)
    if mention_ids is not None:
        stmt = stmt.where(Mention.id.in_(list(mention_ids)))
    rows = session.execute(stmt).all()
    if mention_ids is not None and len(rows) != len(set(mention_ids)):
        found = {r.id for r in rows}
        missing = sorted(set(mention_ids) - found)
        raise NotFound(f"not parked in this workspace: {', '.join(map(str, missing))}")
    if not rows:
        return 0
    session.execute(
        update(Mention)
        .where(Mention.id.in_([r.id for r in rows]))
        .values(state="pending", attempts=0, next_attempt_at=now)
    )
    for row in rows:
        audit.record(
            session=session,
            workspace_id=row.workspace_id,
            actor=actor,
            action="mention.retried",
            subject_type="mention",
            subject_id=row.id,
        )
    return len(rows)


def parked_mentions(*, session: Session, workspace_id: int | None, limit: int = 100) -> list[Mention]:
    """Return parked mentions, oldest first, for an admin to inspect."""
    stmt = select(Mention).where(Mention.state == "parked").order_by(Mention.id).limit(limit)
    if workspace_id is not None:
        stmt = stmt.where(Mention.workspace_id == workspace_id)
    return list(session.scalars(stmt))


def last_errors(*, session: Session, mention_ids: Sequence[int]) -> dict[int, list[PipelineError]]:
    """Return the recorded failures of each mention, oldest first."""
    result: dict[int, list[PipelineError]] = {}
    if not mention_ids:
        return result
    for error in session.scalars(
        select(PipelineError).where(PipelineError.mention_id.in_(list(mention_ids))).order_by(PipelineError.id)
    ):
        result.setdefault(error.mention_id, []).append(error)
    return result
