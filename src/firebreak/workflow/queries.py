"""Read the workflow: a queue ordered by SLA urgency, and one item with its assessment path and clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from firebreak.accounts.models import User
from firebreak.audit.models import AuditEntry
from firebreak.core.errors import InvalidInput
from firebreak.mentions.models import Mention
from firebreak.triage.models import MentionTriage
from firebreak.workflow import clocks
from firebreak.workflow.actions import get_item
from firebreak.workflow.models import OPEN_STATES, WORK_STATES, SlaClock, WorkItem
from firebreak.workflow.runtime import WorkflowRuntime

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class QueueFilter:
    queue: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    states: tuple[str, ...] = OPEN_STATES
    flag: str | None = None


def list_queue(
    session: Session, *, workspace_id: int, where: QueueFilter, limit: int = 50, now: datetime
) -> list[dict[str, Any]]:
    """Open work ordered by urgency: the earliest SLA due time first (overdue at the top), then
    priority, then age; items without a running clock come after every item with one."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    unknown = set(where.states) - set(WORK_STATES)
    if unknown:
        raise InvalidInput(f"unknown state(s) {', '.join(sorted(unknown))}; states are {', '.join(WORK_STATES)}",
                           field="state")
    priority = case(PRIORITY_RANK, value=WorkItem.priority, else_=9)
    stmt = (
        select(WorkItem, Mention.text, Mention.url, MentionTriage.flag, MentionTriage.category, User.email)
        .join(Mention, Mention.id == WorkItem.mention_id)
        .outerjoin(MentionTriage, MentionTriage.mention_id == WorkItem.mention_id)
        .outerjoin(User, User.id == WorkItem.assignee_id)
        .where(WorkItem.workspace_id == workspace_id, WorkItem.state.in_(where.states))
        .order_by(WorkItem.sla_due_at.is_(None), WorkItem.sla_due_at, priority, WorkItem.opened_at)
        .limit(limit)
    )
    if where.queue is not None:
        stmt = stmt.where(WorkItem.queue == where.queue)
    if where.assignee_id is not None:
        stmt = stmt.where(WorkItem.assignee_id == where.assignee_id)
    if where.unassigned:
        stmt = stmt.where(WorkItem.assignee_id.is_(None))
    if where.flag is not None:
        stmt = stmt.where(MentionTriage.flag == where.flag)
    rows = []
    for item, text, url, flag, category, email in session.execute(stmt):
        due = item.sla_due_at
        rows.append({
            "mention_id": item.mention_id, "state": item.state, "queue": item.queue, "priority": item.priority,
            "assignee": email, "action": item.action, "flag": flag, "category": category, "text": text, "url": url,
            "opened_at": item.opened_at, "sla_due_at": due,
            "sla_seconds_left": (due - now).total_seconds() if due else None,
            "overdue": bool(due and due <= now), "revision": item.revision,
        })
    return rows


def work_detail(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, now: datetime
) -> dict[str, Any]:
    """One item as an agent needs it: state, people, the assessment path, clocks and the audit trail."""
    item = get_item(session, workspace_id, mention_id)
    email = session.scalar(select(User.email).where(User.id == item.assignee_id)) if item.assignee_id else None
    clock_rows = []
    for clock in session.scalars(select(SlaClock).where(SlaClock.mention_id == mention_id).order_by(SlaClock.id)):
        seen = clocks.view(runtime.clock_calendar(clock.calendar), clock, now)
        clock_rows.append({
            "metric": clock.metric, "policy": clock.policy, "calendar": clock.calendar, "state": clock.state,
            "target_seconds": clock.target_seconds, "started_at": clock.started_at, "due_at": clock.due_at,
            "warn_at": clock.warn_at, "breached_at": clock.breached_at, "stopped_at": clock.stopped_at,
            "used_seconds": round(seen.used_seconds, 3),
            "remaining_seconds": round(seen.remaining_seconds, 3),
            "breached": seen.breached,
            "escalation_level": clock.escalation_level,
        })
    trail = [
        {"at": e.at, "actor": e.actor, "action": e.action, "details": e.details}
        for e in session.scalars(select(AuditEntry).where(
            AuditEntry.workspace_id == workspace_id, AuditEntry.subject_type == "mention",
            AuditEntry.subject_id == str(mention_id)).order_by(AuditEntry.id))
    ]
    return {
        "mention_id": item.mention_id, "state": item.state, "queue": item.queue, "team": item.team,
        "priority": item.priority, "route_rule": item.route_rule, "assignee": email, "revision": item.revision,
        "recommended_action": item.action, "outcome": item.outcome, "needs_response": item.needs_response,
        "assessment": item.assessment, "sla_policy": item.sla_policy, "playbook_version": item.playbook_version,
        "opened_at": item.opened_at, "assigned_at": item.assigned_at, "first_response_at": item.first_response_at,
        "resolved_at": item.resolved_at, "closed_at": item.closed_at, "waiting_since": item.waiting_since,
        "first_response_seconds": _seconds(item.opened_at, item.first_response_at),
        "resolution_seconds": _seconds(item.opened_at, item.resolved_at),
        "clocks": clock_rows, "audit": trail,
    }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)
