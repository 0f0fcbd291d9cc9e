"""The workflow stage: assessment, routing, assignment, SLA clocks and red-flag alerts per mention."""

from __future__ import annotations

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock, SystemClock
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.workflow.intake import RuntimeFor, plan_batch, write_plans


class WorkflowStage(Stage):
    """Plan the batch's work outside the write lock (reads + playbook logic), then write it in bulk."""

    name = "workflow"

    def __init__(self, runtime_for: RuntimeFor, *, public_url: str, clock: Clock | None = None) -> None:
        self._runtime_for = runtime_for
        self._public_url = public_url
        self._clock = clock or SystemClock()

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        now = self._clock.now()
        plans = plan_batch(
            session,
            [item.mention for item in items],
            [item.data.get("triage") for item in items],
            runtime_for=self._runtime_for,
            now=now,
            public_url=self._public_url,
        )
        for item, plan in zip(items, plans, strict=True):
            item.data[self.name] = plan

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        write_plans(session, [item.data[self.name] for item in items], now=self._clock.now())
