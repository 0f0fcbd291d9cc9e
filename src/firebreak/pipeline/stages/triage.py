"""The triage stage: flag, category, sentiment and reasons for every mention."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock, SystemClock
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.triage import service as triage_service
from firebreak.triage.assess import Triager

TriagerFor = Callable[[Session, int], Triager]


class TriageStage(Stage):
    """Triage the batch in bulk outside the write lock, then store the verdicts in two statements.

    Given a `triager_for(session, workspace_id)`, each workspace is triaged with the playbook in force
    for it; given one Triager (or a factory of one), every mention uses that.
    """

    name = "triage"

    def __init__(self, triager: Triager | Callable[[], Triager] | None = None, *,
                 triager_for: TriagerFor | None = None, clock: Clock | None = None) -> None:
        if (triager is None) == (triager_for is None):
            raise ValueError("give TriageStage either a triager or triager_for, not both or neither")
        self._triager = triager
        self._triager_for = triager_for
        self._clock = clock or SystemClock()

    @property
    def triager(self) -> Triager:
        """Return the single triager, building it (playbook + models) on first use."""
        if self._triager is None:
            raise RuntimeError("this TriageStage picks a triager per workspace")
        if not isinstance(self._triager, Triager):
            self._triager = self._triager()
        return self._triager

    def warm_up(self) -> None:
        if self._triager is not None:
            self.triager.triage_text("warm up")
        elif hasattr(self._triager_for, "warm_up"):
            self._triager_for.warm_up()

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        now = self._clock.now()
        groups: dict[int, list[WorkItem]] = {}
        for item in items:
            groups.setdefault(item.mention.workspace_id if self._triager_for else 0, []).append(item)
        for workspace_id, group in groups.items():
            triager = self._triager_for(session, workspace_id) if self._triager_for else self.triager
            mentions = [item.mention for item in group]
            results = triage_service.compute_triage(session=session, triager=triager, mentions=mentions, now=now)
            for item, result in zip(group, results, strict=True):
                item.data[self.name] = triage_service.result_row(mention=item.mention, result=result,
                                                                 triager=triager, now=now)

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        triage_service.store_rows(session=session, rows=[item.data[self.name] for item in items])
