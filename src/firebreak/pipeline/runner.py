"""Run stages over claimed batches with durable state: nothing half-done survives a crash.

One batch is one transaction: claim pending mentions (FOR NO KEY UPDATE SKIP LOCKED on PostgreSQL;
SQLite's single writer lock serialises), run every stage, then record each mention's outcome. A crash
before commit leaves every mention pending, so the next worker redoes the batch from the start and no
effect is committed twice.

A worker that dies mid-batch (killed, out of memory, a crash in native code) settles nothing, so a
mention that kills the worker would come back forever and block the queue. `run_batch`, which the
in-process worker and a Celery task (passing the ids it was given) call, therefore first counts the
try and commits (`reserve`), then runs and settles the batch in a second transaction. A try that never
settled is seen on the next claim: its mention runs alone, and is parked once it has stopped the
worker `max_attempts` times, so only the culprit is held back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

# Every table in the metadata, so a process that only imports the pipeline (a worker, a Celery task)
# can flush rows whose foreign keys name tables it never imported.
import firebreak.schema  # noqa: F401
from firebreak.audit import service as audit
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import NotFound
from firebreak.mentions.models import Mention, PipelineError
from firebreak.pipeline.base import Stage, WorkItem

log = logging.getLogger(__name__)
_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")

MAX_RETRY_DELAY = timedelta(hours=1)
# PostgreSQL text cannot hold NUL; error messages built from raw bytes may carry one.
_NUL = "\x00"
WORKER_STOPPED = "this try never finished: the worker stopped, or its batch could not be saved"


@dataclass(slots=True)
class BatchReport:
    """What one batch did."""

    claimed: int = 0
    processed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Reservation:
    """Mentions whose try `reserve` counted, and those it parked for stopping the worker too often."""

    ids: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)


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

    # ------------------------------------------------------------------------------------ claiming

    def claim(
        self, session: Session, *, limit: int, ids: Sequence[int] | None = None, due: bool = True
    ) -> list[Mention]:
        """Lock and return up to `limit` pending mentions that are due (any, if not `due`), oldest first."""
        return list(session.scalars(self._claim_query(select(Mention), session, limit=limit, ids=ids, due=due)))

    def _claim_query(
        self, stmt: _Query, session: Session, *, limit: int, ids: Sequence[int] | None, due: bool
    ) -> _Query:
        stmt = stmt.where(Mention.state == "pending")
        if due:
            stmt = stmt.where(Mention.next_attempt_at <= self.clock.now())
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
        query = self._claim_query(select(Mention.id, Mention.attempts), session, limit=limit, ids=ids, due=True)
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
            session.execute(
                update(Mention)
                .where(Mention.id.in_(group))
                .values(attempts=attempts + 1, next_attempt_at=now + self.retry_delay(attempts + 1))
            )
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

    # ------------------------------------------------------------------------------------ running

    def run_batch(
        self,
        transaction: Callable[[], AbstractContextManager[Session]],
        *,
        limit: int,
        ids: Sequence[int] | None = None,
    ) -> BatchReport:
        """Reserve a batch in one transaction, then run and settle it in another (crash-safe; see above)."""
        with transaction() as session:
            reservation = self.reserve(session, limit=limit, ids=ids)
        report = BatchReport()
        if reservation.ids:
            with transaction() as session:
                report = self.process_batch(session, limit=len(reservation.ids), ids=reservation.ids, reserved=True)
        report.claimed += len(reservation.parked)
        report.parked.extend(reservation.parked)
        return report

    def process_batch(
        self, session: Session, *, limit: int, ids: Sequence[int] | None = None, reserved: bool = False
    ) -> BatchReport:
        """Claim, run and settle one batch inside the caller's transaction.

        `reserved` says `reserve` already counted these ids' try and hid them until their retry time.
        """
        if reserved and ids is None:
            raise ValueError("a reserved batch needs the ids that were reserved")
        mentions = self.claim(session, limit=limit, ids=ids, due=not reserved)
        report = BatchReport(claimed=len(mentions))
        if not mentions:
            return report
        items = [WorkItem(m) for m in mentions]
        failed: list[WorkItem] = []
        alive = items
        # Run all stages; if any mention failed, undo the batch's writes and run it again without
        # the failures, so a failed mention leaves nothing half-done. Ends: each pass removes one+.
        while alive:
            savepoint = session.begin_nested()
            self._run_stages(session, alive)
            newly_failed = [item for item in alive if item.failed]
            if not newly_failed:
                savepoint.commit()
                break
            savepoint.rollback()
            failed.extend(newly_failed)
            alive = [item for item in alive if not item.failed]
            # Reload what is left in one query: the rollback expired what the ORM wrote, and a stage may
            # also have changed rows behind its back (Core UPDATE).
            if alive:
                reload = select(Mention).where(Mention.id.in_([item.mention.id for item in alive]))
                session.scalars(reload.execution_options(populate_existing=True)).all()
        now = self.clock.now()
        for item in alive:
            mention = item.mention
            mention.state = "processed"
            mention.processed_at = now
            if not reserved:
                mention.attempts += 1
            mention.last_error = None
            mention.next_attempt_at = None
            report.processed.append(mention.id)
        for item in failed:
            self._settle_failure(session, item, now, counted=reserved)
            (report.parked if item.mention.state == "parked" else report.retried).append(item.mention.id)
        session.flush()
        return report

    def _run_stages(self, session: Session, items: list[WorkItem]) -> None:
        for stage in self.stages:
            current = [item for item in items if not item.failed]
            if not current:
                return
            self._run_stage(session, stage, current)

    def _run_stage(self, session: Session, stage: Stage, items: list[WorkItem]) -> None:
        savepoint = session.begin_nested()
        try:
            stage.process(session, items)
            session.flush()
            if not any(item.failed for item in items):
                savepoint.commit()
                return
            problem = "some mentions failed"
        except Exception as exc:  # noqa: BLE001 - a bulk stage broke; find the culprit(s) one by one
            problem = f"{type(exc).__name__}: {exc}"
        savepoint.rollback()
        log.warning("stage %s: %s in a batch of %d; running them one by one", stage.name, problem, len(items))
        # A failure in a shared run may be an innocent bystander's: after a database error PostgreSQL
        # refuses every later statement of the transaction until the savepoint is rolled back, and a
        # stage that catches errors per mention would blame the next ones. Only lone runs judge.
        for item in items:
            item.failed_stage = item.error = None
        for item in items:
            single = session.begin_nested()
            try:
                stage.process(session, [item])
                session.flush()
                if not item.failed:
                    single.commit()
                    continue
            except Exception as exc:  # noqa: BLE001 - this mention's failure, recorded below
                item.fail(stage.name, exc)
            # Also what makes a PostgreSQL transaction usable again after a database error.
            single.rollback()

    def _settle_failure(self, session: Session, item: WorkItem, now: datetime, *, counted: bool) -> None:
        mention = item.mention
        session.refresh(mention)
        if not counted:
            mention.attempts += 1
        error = (item.error or "").replace(_NUL, "")[:4000]
        mention.last_error = f"{item.failed_stage}: {error}"
        session.add(
            PipelineError(
                mention_id=mention.id, stage=item.failed_stage or "?", attempt=mention.attempts, error=error, at=now
            )
        )
        if mention.attempts >= self.max_attempts:
            self._park(mention)
        else:
            mention.next_attempt_at = now + self.retry_delay(mention.attempts)

    def _park(self, mention: Mention) -> None:
        mention.state = "parked"
        mention.next_attempt_at = None
        log.error("mention %s parked after %d tries: %s", mention.id, mention.attempts, mention.last_error)


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
