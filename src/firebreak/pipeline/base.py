"""The stage interface: a stage takes a batch of mentions and enriches them in the caller's session.

Contract for stage authors:
- `process` receives the whole batch so a stage can work in bulk (one query, one model call).
- A problem with one mention is reported with `item.fail(...)` (or by raising from `process_one`);
  the rest of the batch carries on. The runner rolls back everything the batch wrote and re-runs it
  without the failed mentions, so a failed mention leaves no partial effects behind.
- When a shared run raises or fails any mention, the runner runs that stage again one mention at a time,
  each in its own savepoint, so only the culprits fail (after a database error PostgreSQL refuses every
  later statement until a rollback, so a failure seen in a shared run may be a bystander's).
- Stages must be idempotent: a retried mention runs through every stage again.
- Stages never commit; the runner commits the batch once, together with each mention's new state.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy.orm import Session

from firebreak.mentions.models import Mention


@dataclass(slots=True)
class WorkItem:
    """One mention travelling through the pipeline, and why it failed if it did."""

    mention: Mention
    failed_stage: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.failed_stage is not None

    def fail(self, stage: str, error: BaseException | str) -> None:
        """Mark this mention failed in `stage`; the first failure wins."""
        if self.failed_stage is None:
            self.failed_stage = stage
            self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"


class Stage(ABC):  # noqa: B024 - subclasses override either method
    """One step of the pipeline; override `process` for bulk work or `process_one` for per-mention work."""

    name: ClassVar[str]

    def process(self, session: Session, items: list[WorkItem]) -> None:
        """Process a batch; the default calls `process_one` per item and isolates its failures."""
        for item in items:
            try:
                self.process_one(session, item)
            except Exception as exc:  # noqa: BLE001 - one bad mention must not stop the batch
                item.fail(self.name, exc)

    def process_one(self, session: Session, item: WorkItem) -> None:
        """Process one mention."""
        raise NotImplementedError(f"stage {self.name!r} implements neither process nor process_one")
