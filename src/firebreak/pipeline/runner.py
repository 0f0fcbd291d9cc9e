"""Run stages over claimed batches with durable state: nothing half-done survives a crash.

One batch is one transaction: claim pending mentions (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's
single writer lock serialises), run every stage, then record each mention's outcome. A crash before
commit leaves every mention pending, so the next worker redoes the batch from the start and no
effect is committed twice. The same `process_batch` function serves the in-process worker and a
Celery task (which would pass the ids it was given).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import NotFound
from firebreak.mentions.models import Mention, PipelineError
from firebreak.pipeline.base import Stage, WorkItem

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass(slots=True)
class BatchReport:
    """What one batch did."""

    claimed: int = 0
    processed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
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
        delay = timedelta(seconds=self.retry_base_seconds * (2 ** max(attempts - 1, 0)))
        return min(delay, MAX_RETRY_DELAY)

    # ------------------------------------------------------------------------------------ claiming

    def claim(self, session: Session, *, limit: int, ids: Sequence[int] | None = None) -> list[Mention]:
        """Lock and return up to `limit` pending mentions that are due, oldest first."""
        now = self.clock.now()
        stmt = (
            select(Mention)
            .where(Mention.state == "pending", Mention.next_attempt_at <= now)
            .order_by(Mention.next_attempt_at, Mention.id)
            .limit(limit)
        )
        if ids is not None:
            stmt = stmt.where(Mention.id.in_(list(ids)))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Mention)
        return list(session.scalars(stmt))

    # ------------------------------------------------------------------------------------ running

    def process_batch(self, session: Session, *, limit: int, ids: Sequence[int] | None = None) -> BatchReport:
        """Claim, run and settle one batch inside the caller's transaction."""
        mentions = self.claim(session, limit=limit, ids=ids)
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
            for item in alive:
                session.expire(item.mention)
        now = self.clock.now()
        for item in alive:
            mention = item.mention
            mention.state = "processed"
            mention.processed_at = now
            mention.attempts += 1
            mention.last_error = None
            mention.next_attempt_at = None
            report.processed.append(mention.id)
        for item in failed:
            self._settle_failure(session, item, now)
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
            savepoint.commit()
            return
        except Exception as exc:  # noqa: BLE001 - a bulk stage broke; find the culprit(s) one by one
            savepoint.rollback()
            log.warning("stage %s failed on a batch of %d (%s); retrying one by one", stage.name, len(items), exc)
        for item in items:
            if item.failed:
                continue
            single = session.begin_nested()
            try:
                stage.process(session, [item])
                session.flush()
                single.commit()
            except Exception as exc:  # noqa: BLE001
                single.rollback()
                item.fail(stage.name, exc)

    def _settle_failure(self, session: Session, item: WorkItem, now: datetime) -> None:
        mention = item.mention
        session.refresh(mention)
        mention.attempts += 1
        mention.last_error = f"{item.failed_stage}: {item.error}"
        session.add(
            PipelineError(
                mention_id=mention.id,
                stage=item.failed_stage or "?",
                attempt=mention.attempts,
                error=(item.error or "")[:4000],
                at=now,
            )
        )
        if mention.attempts >= self.max_attempts:
            mention.state = "parked"
            mention.next_attempt_at = None
            log.error("mention %s parked after %d tries: %s", mention.id, mention.attempts, mention.last_error)
        else:
            mention.next_attempt_at = now + self.retry_delay(mention.attempts)


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
