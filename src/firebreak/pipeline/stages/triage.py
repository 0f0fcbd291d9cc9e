"""The triage stage: flag, category, sentiment and reasons for every mention."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock, SystemClock
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.triage import service as triage_service
from firebreak.triage.assess import Triager


class TriageStage(Stage):
    """Triage the batch in bulk outside the write lock, then store the verdicts in two statements."""

    name = "triage"

    def __init__(self, triager: Triager | Callable[[], Triager], *, clock: Clock | None = None) -> None:
        self._triager = triager
        self._clock = clock or SystemClock()

    @property
    def triager(self) -> Triager:
        """Return the triager, building it (playbook + models) on first use."""
        if not isinstance(self._triager, Triager):
            self._triager = self._triager()
        return self._triager

    def warm_up(self) -> None:
        self.triager.triage_text("warm up")

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        now = self._clock.now()
        triager = self.triager
        mentions = [item.mention for item in items]
        results = triage_service.compute_triage(session=session, triager=triager, mentions=mentions, now=now)
        for item, result in zip(items, results, strict=True):
            item.data[self.name] = triage_service.result_row(mention=item.mention, result=result, triager=triager,
                                                             now=now)

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        triage_service.store_rows(session=session, rows=[item.data[self.name] for item in items])
