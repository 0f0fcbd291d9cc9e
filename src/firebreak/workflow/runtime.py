"""A playbook compiled for the workflow: the tree, router, SLA policies and calendars, ready to run.

Compiling takes milliseconds but happens once per playbook version (cached by content hash), so the
pipeline and the scheduler share one compiled copy per workspace playbook.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from firebreak.assessment import AssessmentTree
from firebreak.calendars import BusinessCalendar
from firebreak.playbook.loader import LoadedPlaybook
from firebreak.playbook.service import PlaybookStore
from firebreak.routing import QueueSpec, Router, TeamSpec, on_call_at
from firebreak.sla import SlaPolicies

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkflowRuntime:
    loaded: LoadedPlaybook
    tree: AssessmentTree
    router: Router
    policies: SlaPolicies
    calendars: dict[str, BusinessCalendar]
    teams: dict[str, TeamSpec]
    queues: dict[str, QueueSpec]
    escalation_delays: tuple[float, ...]
    escalation_notify: tuple[tuple[str, ...], ...]
    _always: BusinessCalendar = field(default_factory=BusinessCalendar.always)

    @classmethod
    def compile(cls, loaded: LoadedPlaybook) -> WorkflowRuntime:
        book = loaded.playbook
        policies = SlaPolicies.from_spec(book.sla)
        return cls(
            loaded=loaded,
            tree=AssessmentTree.from_spec(book.assessment),
            router=Router.from_spec(book.routing, book.queues, book.teams),
            policies=policies,
            calendars={spec.id: BusinessCalendar.from_spec(spec) for spec in book.calendars},
            teams={team.id: team for team in book.teams},
            queues={queue.id: queue for queue in book.queues},
            escalation_delays=policies.escalation_delays,
            escalation_notify=tuple(tuple(level.notify) for level in policies.escalation),
        )

    @property
    def version(self) -> str:
        return self.loaded.version

    @property
    def alerts(self):  # type: ignore[no-untyped-def]
        return self.loaded.playbook.alerts

    @property
    def roles(self):  # type: ignore[no-untyped-def]
        return self.loaded.playbook.roles

    def calendar(self, calendar_id: str) -> BusinessCalendar:
        """The named calendar; `always` is built in (24x7) unless the playbook defines its own."""
        calendar = self.calendars.get(calendar_id)
        if calendar is None:
            if calendar_id == "always":
                return self._always
            raise KeyError(f"calendar {calendar_id!r} is not in playbook {self.version}")
        return calendar

    def clock_calendar(self, calendar_id: str) -> BusinessCalendar:
        """The calendar an existing clock is measured on: its own, or 24x7 when the playbook in force no
        longer has it (the clock started under an older version); one stale clock must not stop the
        scheduler or an agent's change."""
        try:
            return self.calendar(calendar_id)
        except KeyError:
            log.warning("calendar %r is not in playbook %s; measuring its clocks 24x7", calendar_id, self.version)
            return self._always

    def on_call(self, team: TeamSpec, at: datetime) -> str | None:
        """The e-mail of the team's on-call person at `at`, if the team has a rotation."""
        return on_call_at(team.on_call, at) if team.on_call is not None else None


class RuntimeCache:
    """Compiled runtimes per playbook digest, behind the PlaybookStore that says which one a workspace runs."""

    def __init__(self, store: PlaybookStore) -> None:
        self.store = store
        self._compiled: dict[str, WorkflowRuntime] = {}
        self._lock = threading.Lock()

    def for_workspace(self, session: Session, workspace_id: int) -> WorkflowRuntime:
        loaded = self.store.for_workspace(session, workspace_id)
        runtime = self._compiled.get(loaded.digest)
        if runtime is None:
            with self._lock:
                runtime = self._compiled.get(loaded.digest)
                if runtime is None:
                    runtime = self._compiled[loaded.digest] = WorkflowRuntime.compile(loaded)
        return runtime

    def __call__(self, session: Session, workspace_id: int) -> WorkflowRuntime:
        return self.for_workspace(session, workspace_id)
