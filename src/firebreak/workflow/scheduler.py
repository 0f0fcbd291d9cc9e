"""Fire due SLA warnings, breaches and escalations exactly once, from rows in the database.

One tick is one write transaction: claim the clocks whose `next_fire_at` has come (an index range
scan, so 100,000 open clocks cost no more than ten), record each event in `sla_events`, queue its
alerts in the outbox, and move each clock's cursor to its next event. Either all of that commits or
none of it does, so after a crash the next tick fires exactly what had not fired, and the unique
(clock, event) constraint makes a double firing impossible even for a buggy caller. On PostgreSQL,
`FOR UPDATE SKIP LOCKED` lets several workers tick at once without taking the same clock.

Issue clocks (a stage's time goal, a legal review) fire the same way; who hears of them and in what
words comes from the `issue_notices` hook, because the issues layer sits above this one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from firebreak.accounts.models import TeamMember, User
from firebreak.core.clock import Clock, SystemClock
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention
from firebreak.notify import outbox
from firebreak.notify.outbox import AlertDraft
from firebreak.workflow import clocks
from firebreak.workflow.intake import RuntimeFor, mention_link
from firebreak.workflow.models import SlaClock, SlaEvent, WorkItem
from firebreak.workflow.notices import person_target, sla_alerts
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace


@dataclass(slots=True)
class TickReport:
    fired: list[tuple[int, str]] = field(default_factory=list)  # (clock id, event)
    alerts: int = 0
    next_due: datetime | None = None


class IssueNotice(Protocol):
    """Who hears of one issue clock's events, and the alerts that tell them."""

    def recipients(self, runtime: WorkflowRuntime, event: str, now: datetime) -> list[str]: ...

    def alerts(self, *, clock_id: int, metric: str, event: str, recipients: Sequence[str],
               overdue_seconds: float) -> list[AlertDraft]: ...


# Given the due clocks of issues, the notice for each (by clock id); a clock without one fires silently.
IssueNotices = Callable[[Session, Sequence[SlaClock], datetime], Mapping[int, IssueNotice]]


@dataclass(slots=True)
class DueClock:
    """The columns of a due clock that firing reads and moves: plain values, not an ORM object to flush."""

    id: int
    workspace_id: int
    mention_id: int | None
    issue_id: int | None
    metric: str
    calendar: str
    target_seconds: float
    warn_fraction: float
    state: str
    started_at: datetime
    segment_started_at: datetime | None
    consumed_seconds: float
    warn_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None
    next_fire_at: datetime | None
    next_event: str | None
    escalation_level: int


_DUE_COLUMNS = [SlaClock.__table__.c[name] for name in DueClock.__dataclass_fields__]
# What clocks.after_firing may change: written back for every fired clock in one executemany UPDATE.
_CURSOR = ("warn_at", "breached_at", "next_fire_at", "next_event", "escalation_level")
_MOVE_CURSORS = (update(SlaClock.__table__).where(SlaClock.__table__.c.id == bindparam("clock_id"))
                 .values({name: bindparam(name) for name in _CURSOR}))


class SlaScheduler:
    """Fires what is due; call `tick` often (the worker sleeps until `next_due` or a short poll)."""

    def __init__(self, runtime_for: RuntimeFor, *, public_url: str, clock: Clock | None = None,
                 batch_size: int = 500, issue_notices: IssueNotices | None = None) -> None:
        self.runtime_for = runtime_for
        self.public_url = public_url
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.issue_notices = issue_notices

    def tick(self, db: Database) -> TickReport:
        """Fire every event due now (in batches) and return what fired and when the next one is due."""
        report = TickReport()
        # Look first with a reader: most ticks find nothing due, and on SQLite a writer would take the
        # database's one write lock four times a second for nothing.
        with db.read() as session:
            next_due = session.scalar(select(func.min(SlaClock.next_fire_at)))
        if next_due is None or next_due > self.clock.now():
            report.next_due = next_due
            return report
        while True:
            with db.write() as session:
                fired_before = len(report.fired)
                claimed = self._fire_batch(session, report)
                if claimed < self.batch_size or len(report.fired) == fired_before:
                    report.next_due = session.scalar(select(func.min(SlaClock.next_fire_at)))
                    return report

    def _fire_batch(self, session: Session, report: TickReport) -> int:
        now = self.clock.now()
        stmt = (select(*_DUE_COLUMNS).where(SlaClock.next_fire_at <= now)
                .order_by(SlaClock.next_fire_at).limit(self.batch_size))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        due = [DueClock(*row) for row in session.execute(stmt)]
        if not due:
            return 0
        mention_ids = {c.mention_id for c in due if c.mention_id is not None}
        issue_clock_ids = [c.id for c in due if c.issue_id is not None]
        notices: Mapping[int, IssueNotice] = {}
        if issue_clock_ids and self.issue_notices:
            issue_clocks = list(session.scalars(select(SlaClock).where(SlaClock.id.in_(issue_clock_ids))))
            notices = self.issue_notices(session, issue_clocks, now)
        work = {w.mention_id: w for w in session.scalars(select(WorkItem).where(WorkItem.mention_id.in_(mention_ids)))}
        texts = dict(session.execute(select(Mention.id, Mention.text).where(Mention.id.in_(mention_ids))).all())
        workspace_ids = {c.workspace_id for c in due}
        slugs = dict(session.execute(select(Workspace.id, Workspace.slug).where(Workspace.id.in_(workspace_ids))).all())
        people = _People(session, workspace_ids, {w.assignee_id for w in work.values() if w.assignee_id})
        events: list[dict[str, object]] = []
        alerts: list[AlertDraft] = []
        moved: list[dict[str, object]] = []
        for clock in due:
            runtime = self.runtime_for(session, clock.workspace_id)
            item = work.get(clock.mention_id)
            while clock.next_fire_at is not None and clock.next_fire_at <= now and clock.next_event:
                event, scheduled = clock.next_event, clock.next_fire_at
                notice = notices.get(clock.id)
                if clock.issue_id is not None:
                    recipients = notice.recipients(runtime, event, now) if notice is not None else []
                else:
                    recipients = self._recipients(runtime, event, item, people, now)
                events.append({"workspace_id": clock.workspace_id, "clock_id": clock.id, "mention_id": clock.mention_id,
                               "issue_id": clock.issue_id,
                               "event": event, "scheduled_at": scheduled, "fired_at": now,
                               "recipients": recipients})
                used = clocks.used_seconds(runtime.clock_calendar(clock.calendar), clock, now)
                if clock.issue_id is not None:
                    if notice is not None:
                        alerts.extend(notice.alerts(clock_id=clock.id, metric=clock.metric, event=event,
                                                    recipients=recipients, overdue_seconds=used - clock.target_seconds))
                else:
                    link = mention_link(self.public_url, slugs.get(clock.workspace_id, ""), clock.mention_id)
                    alerts.extend(sla_alerts(
                        workspace_id=clock.workspace_id, mention_id=clock.mention_id, clock_id=clock.id,
                        metric=clock.metric, event=event, recipients=recipients, text=texts.get(clock.mention_id, ""),
                        overdue_seconds=used - clock.target_seconds, target_seconds=clock.target_seconds,
                        queue=item.queue if item else "-", assignee=people.email(item.assignee_id) if item else None,
                        link=link))
                for key, value in clocks.after_firing(clock, event, runtime.escalation_delays).items():
                    setattr(clock, key, value)
                report.fired.append((clock.id, event))
            moved.append({"clock_id": clock.id, **{name: getattr(clock, name) for name in _CURSOR}})
        session.execute(SlaEvent.__table__.insert(), events)
        session.execute(_MOVE_CURSORS, moved)
        report.alerts += outbox.enqueue(session=session, alerts=alerts, now=now)
        return len(due)

    def _recipients(self, runtime: WorkflowRuntime, event: str, item: WorkItem | None, people: _People,
                    now: datetime) -> list[str]:
        """Alert targets for an event: the assignee for a warning, the escalation level's list after that."""
        if event == clocks.WARNING:
            wanted: tuple[str, ...] = ("assignee",)
        elif event == clocks.BREACH:
            wanted = () if runtime.escalation_delays else ("assignee",)
        else:
            level = int(event.removeprefix(clocks.ESCALATION))
            # A clock may be past the levels of a playbook uploaded since it breached: it fires, to nobody.
            wanted = runtime.escalation_notify[level - 1] if level <= len(runtime.escalation_notify) else ()
        recipients: list[str] = []
        for entry in wanted:
            if entry == "assignee":
                email = people.email(item.assignee_id) if item and item.assignee_id else None
                recipients.extend([person_target(email)] if email else
                                  [person_target(e) for e in people.leads(item)])
            elif entry == "team_lead":
                recipients.extend(person_target(e) for e in people.leads(item))
            elif entry == "on_call":
                team = runtime.teams.get(item.team) if item else None
                email = runtime.on_call(team, now) if team else None
                recipients.extend([person_target(email)] if email else
                                  [person_target(e) for e in people.leads(item)])
            else:
                recipients.append(entry)
        return list(dict.fromkeys(recipients))


class _People:
    """E-mails of assignees and team leads for one tick, in two queries."""

    def __init__(self, session: Session, workspace_ids: set[int], assignee_ids: set[int]) -> None:
        self._emails: dict[int, str] = dict(session.execute(
            select(User.id, User.email).where(User.id.in_(assignee_ids))).all()) if assignee_ids else {}
        self._leads: dict[tuple[int, str], list[str]] = defaultdict(list)
        for ws, team, email in session.execute(
                select(TeamMember.workspace_id, TeamMember.team, User.email).join(User, User.id == TeamMember.user_id)
                .where(TeamMember.workspace_id.in_(workspace_ids), TeamMember.is_lead.is_(True),
                       User.active.is_(True))):
            self._leads[(ws, team)].append(email)

    def email(self, user_id: int | None) -> str | None:
        return self._emails.get(user_id) if user_id is not None else None

    def leads(self, item: WorkItem | None) -> list[str]:
        return self._leads.get((item.workspace_id, item.team), []) if item is not None else []
