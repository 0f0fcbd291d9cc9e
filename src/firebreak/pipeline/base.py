"""The stage interface (v2): compute outside the write lock, then write in bulk inside one short transaction.

A batch goes through every stage twice:

1. `prepare(session, items)`: the CPU phase (text clean-up, models, rules). It runs with a read session
   that never takes SQLite's write lock and must not write: it is never committed, PostgreSQL runs it
   read-only, and the runner fails a stage that leaves changes in the session or assigns mention
   columns directly. `item.mention` is a detached snapshot of the row: change its columns with
   `item.set(column=value)`, which later stages see at once and the runner writes for every mention
   in one bulk UPDATE; put anything meant for other tables in `item.data[self.name]` for this stage's
   `apply`. Plain reads (other tables, earlier verdicts) are fine.
2. `apply(session, items)`: the write phase, inside the batch's write transaction, for rows in other
   tables. Keep it to a few bulk statements (one executemany or multi-row INSERT) and no real work:
   other writers wait while it runs. The default writes nothing.

Contract for stage authors:
- `prepare` receives the whole batch so a stage can work in bulk (one query, one model call); override
  `prepare_one` instead for per-mention work. A problem with one mention is reported with
  `item.fail(...)` (or by raising from `prepare_one`); the rest of the batch carries on, and later
  stages never see a failed mention.
- When a shared run raises or fails any mention, the runner undoes that stage's `item.set` calls and
  `item.data` for the batch and runs the stage again one mention at a time, so only the culprits fail
  (a failure seen in a shared run may be a bystander's: after a database error PostgreSQL refuses
  every later statement until a rollback). `apply` gets the same treatment, each lone run in its own
  savepoint; if any mention fails in `apply` (or its row refuses a value set for it, blamed on
  "settle"), everything the batch wrote is rolled back and written again without it, so a failed
  mention leaves no partial effects behind.
- Stages must be idempotent: a retried mention runs through every stage again.
- Stages never commit; the runner commits the batch once, together with each mention's new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from firebreak.mentions.models import Mention

# The runner owns a mention's identity and its place in the queue; stages may set any other column.
RUNNER_COLUMNS = frozenset(
    {"id", "workspace_id", "channel_id", "external_id"}
    | {"state", "attempts", "next_attempt_at", "last_error", "processed_at"}
)
STAGE_COLUMNS = frozenset(attr.key for attr in Mention.__mapper__.column_attrs) - RUNNER_COLUMNS


@dataclass(slots=True, eq=False)
class WorkItem:
    """One mention travelling through the pipeline: its snapshot, what stages changed, why it failed."""

    mention: Mention
    failed_stage: str | None = None
    error: str | None = None
    # Mention columns to write when the batch settles, as set by `set`.
    changes: dict[str, Any] = field(default_factory=dict)
    # Per stage name: what that stage's `prepare` computed for its `apply`.
    data: dict[str, Any] = field(default_factory=dict)
    _undo: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _changes_before: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def failed(self) -> bool:
        return self.failed_stage is not None

    def fail(self, stage: str, error: BaseException | str) -> None:
        """Mark this mention failed in `stage`; the first failure wins."""
        if self.failed_stage is None:
            self.failed_stage = stage
            self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def set(self, **values: Any) -> None:
        """Change mention columns: the snapshot now, the stored row when the batch settles."""
        unknown = set(values) - STAGE_COLUMNS
        if unknown:
            raise ValueError(f"stages cannot set {', '.join(sorted(unknown))} (not a column, or the runner's own)")
        for key, value in values.items():
            if key not in self._undo:
                self._undo[key] = getattr(self.mention, key)
            setattr(self.mention, key, value)
        self.changes.update(values)

    def begin_stage(self) -> None:
        """Remember the item as it is, so `undo_stage` can take back what the next stage does (runner use)."""
        self._undo = {}
        self._changes_before = dict(self.changes)

    def undo_stage(self, stage: str) -> None:
        """Take back the `set` calls and data of `stage` since `begin_stage`, and its failure (runner use)."""
        for key, value in self._undo.items():
            setattr(self.mention, key, value)
        self._undo = {}
        self.changes = dict(self._changes_before)
        self.data.pop(stage, None)
        if self.failed_stage == stage:
            self.failed_stage = self.error = None


class Stage:
    """One step of the pipeline: `prepare` (or `prepare_one`) computes, `apply` writes other tables in bulk."""

    name: ClassVar[str]

    def warm_up(self) -> None:
        """Load what the stage needs (models, files) before the first batch; the default loads nothing."""

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        """Compute results for a batch with a read-only session; the default runs `prepare_one` per item."""
        for item in items:
            try:
                self.prepare_one(session, item)
            except Exception as exc:  # noqa: BLE001 - one bad mention must not stop the batch
                item.fail(self.name, exc)

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        """Compute results for one mention; the default computes nothing."""

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        """Write `item.data[self.name]` of each item to other tables in bulk; the default writes nothing."""
