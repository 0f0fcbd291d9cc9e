"""What people do to work items: assign, respond, wait on the customer, resolve, close, reopen.

Every change checks the actor's permission in the playbook's roles, follows the state machine below,
moves the SLA clocks with it (waiting pauses them; a response meets the response clock; resolving
meets them all) and is written to the audit log with who and why.

    new ──assign──► assigned ──respond──► responded ──wait──► waiting
     │                 │  ▲                  │   ▲              │
     │                 │  └──── customer replies / unwait ──────┘
     └────────────────►┴──────── resolve ──► resolved ──close──► closed
    any open state ── close ──► closed;  resolved / closed ── reopen ──► assigned (or new)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts.models import TeamMember, User
from firebreak.accounts.service import roles_of
from firebreak.audit import service as audit
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.routing import permits
from firebreak.workflow import clocks
from firebreak.workflow.models import WORK_STATES, SlaClock, WorkItem
from firebreak.workflow.runtime import WorkflowRuntime

# (from, to) -> the permission it needs.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("new", "responded"): "respond", ("assigned", "responded"): "respond", ("waiting", "responded"): "respond",
    ("responded", "waiting"): "set_waiting", ("assigned", "waiting"): "set_waiting",
    ("waiting", "assigned"): "respond", ("responded", "assigned"): "respond",
    ("new", "resolved"): "resolve", ("assigned", "resolved"): "resolve", ("responded", "resolved"): "resolve",
    ("waiting", "resolved"): "resolve",
    ("new", "closed"): "close", ("assigned", "closed"): "close", ("responded", "closed"): "close",
    ("waiting", "closed"): "close", ("resolved", "closed"): "close",
    ("resolved", "assigned"): "reopen", ("closed", "assigned"): "reopen",
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user with roles in the workspace, or an integration acting with fixed roles."""

    name: str
    roles: frozenset[str]
    user_id: int | None = None

    @classmethod
    def for_user(cls, session: Session, workspace_id: int, user: User) -> Actor:
        return cls(user.email, roles_of(session=session, workspace_id=workspace_id, user_id=user.id), user.id)


def require_permission(runtime: WorkflowRuntime, actor: Actor, permission: str, doing: str) -> None:
    """Refuse with Forbidden, naming the permission, unless the actor's roles grant it in the playbook."""
    if not permits(runtime.roles, actor.roles, permission):
        have = ", ".join(sorted(actor.roles)) or "no role"
        raise Forbidden(f"{actor.name} ({have}) may not {doing}: it needs the {permission!r} permission")


def get_item(session: Session, workspace_id: int, mention_id: int, *, lock: bool = False) -> WorkItem:
    stmt = select(WorkItem).where(WorkItem.workspace_id == workspace_id, WorkItem.mention_id == mention_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    item = session.scalar(stmt)
    if item is None:
        raise NotFound(f"mention {mention_id} has no work item in this workspace (not inbound, or not processed yet)")
    return item


def check_revision(item: WorkItem, expected: int | None) -> None:
    if expected is not None and expected != item.revision:
        raise Conflict(f"mention {item.mention_id} changed since you loaded it (revision {item.revision}, you "
                       f"had {expected}); reload and try again", field="revision")


def assign(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, assignee_email: str | None,
    actor: Actor, reason: str | None, now: datetime, expected_revision: int | None = None,
) -> WorkItem:
    """Give the item to a member who can take it (or back to the queue with None)."""
    item = get_item(session, workspace_id, mention_id, lock=True)
    check_revision(item, expected_revision)
    if item.state in ("resolved", "closed"):
        raise InvalidInput(f"mention {mention_id} is {item.state}; reopen it before assigning", field="state")
    assignee: User | None = None
    if assignee_email is not None:
        assignee = session.scalar(select(User).where(User.email == assignee_email.strip().lower()))
    # Taking an item, or handing one's own back to the queue, is assign_self; anything else is assign.
    # Checked before the assignee, so that only those who may assign learn who exists.
    own = actor.user_id is not None and (
        (assignee is not None and assignee.id == actor.user_id)
        or (assignee_email is None and item.assignee_id == actor.user_id))
    if own and not permits(runtime.roles, actor.roles, "assign"):
        require_permission(runtime, actor, "assign_self", "take this mention" if assignee else "hand this mention back")
    elif not own:
        require_permission(runtime, actor, "assign", "assign mentions to others")
    if assignee_email is not None:
        if assignee is None:
            raise InvalidInput(f"no user with e-mail {assignee_email!r}", field="assignee")
        _check_assignee(session, runtime, workspace_id, item, assignee)
    before = (item.state, item.assignee_id)
    item.assignee_id = assignee.id if assignee else None
    if item.state == "new" and assignee is not None:
        item.state = "assigned"
    elif item.state == "assigned" and assignee is None:
        item.state = "new"
    item.assigned_at = now if assignee is not None else None
    _touch(item, now)
    if assignee is not None:
        member = session.scalar(select(TeamMember).where(
            TeamMember.workspace_id == workspace_id, TeamMember.team == item.team, TeamMember.user_id == assignee.id))
        if member is not None:
            member.last_assigned_at = now
    audit.record(session=session, workspace_id=workspace_id, actor=actor.name, action="work.assigned",
                 subject_type="mention", subject_id=mention_id,
                 details={"from": before[1], "to": item.assignee_id, "to_email": assignee.email if assignee else None,
                          "state": item.state, "reason": reason}).at = now
    return item


def change_state(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, to_state: str,
    actor: Actor, reason: str | None, now: datetime, expected_revision: int | None = None,
) -> WorkItem:
    """Move the item along the state machine, with its clocks, or refuse naming the allowed moves."""
    if to_state not in WORK_STATES:
        raise InvalidInput(f"unknown state {to_state!r}; states are {', '.join(WORK_STATES)}", field="state")
    item = get_item(session, workspace_id, mention_id, lock=True)
    check_revision(item, expected_revision)
    from_state = item.state
    permission = TRANSITIONS.get((from_state, to_state))
    if permission is None:
        allowed = sorted(to for (frm, to) in TRANSITIONS if frm == from_state)
        raise InvalidInput(f"mention {mention_id} cannot go from {from_state} to {to_state}; from {from_state} it "
                           f"can go to {', '.join(allowed)}", field="state")
    if to_state == "closed" and item.needs_response and item.first_response_at is None and not reason:
        raise InvalidInput("closing a mention that was never answered needs a reason", field="reason")
    require_permission(runtime, actor, permission, f"move a mention from {from_state} to {to_state}")
    if to_state == "assigned" and item.assignee_id is None:
        to_state = "new"
    item_clocks = list(session.scalars(select(SlaClock).where(SlaClock.mention_id == mention_id)))
    delays = runtime.escalation_delays

    def apply(clock: SlaClock, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(clock, key, value)

    for clock in item_clocks:
        calendar = runtime.clock_calendar(clock.calendar)
        if from_state == "waiting" and to_state != "waiting":
            apply(clock, clocks.resume(calendar, clock, now, delays))
        if to_state == "responded" and clock.metric != "resolution":
            apply(clock, clocks.stop(calendar, clock, now))
        elif to_state == "waiting":
            apply(clock, clocks.pause(calendar, clock, now))
        elif to_state == "resolved":
            apply(clock, clocks.stop(calendar, clock, now))
        elif to_state == "closed":
            apply(clock, clocks.stop(calendar, clock, now, met=False))
    if to_state == "responded":
        item.first_response_at = item.first_response_at or now
        item.last_response_at = now
    item.waiting_since = now if to_state == "waiting" else None
    if to_state == "resolved":
        item.resolved_at = now
    if to_state == "closed":
        item.closed_at = now
    if from_state in ("resolved", "closed") and to_state in ("assigned", "new"):
        item.resolved_at = item.closed_at = None
    item.state = to_state
    item.sla_due_at = min((c.due_at for c in item_clocks if c.state == "running" and c.due_at), default=None)
    _touch(item, now)
    audit.record(session=session, workspace_id=workspace_id, actor=actor.name, action="work.state_changed",
                 subject_type="mention", subject_id=mention_id,
                 details={"from": from_state, "to": to_state, "reason": reason}).at = now
    return item


def _check_assignee(session: Session, runtime: WorkflowRuntime, workspace_id: int, item: WorkItem,
                    assignee: User) -> None:
    """Refuse an assignee outside the workspace, without a role the queue takes, or deactivated."""
    roles = roles_of(session=session, workspace_id=workspace_id, user_id=assignee.id)
    if not roles:
        raise InvalidInput(f"{assignee.email} is not a member of this workspace", field="assignee")
    queue = runtime.queues.get(item.queue)
    allowed = frozenset(queue.assignable_roles) if queue is not None else frozenset({"agent", "lead"})
    if roles.isdisjoint(allowed):
        raise InvalidInput(f"{assignee.email} ({', '.join(sorted(roles))}) cannot take work in queue "
                           f"{item.queue!r}: it needs one of the roles {', '.join(sorted(allowed))}",
                           field="assignee")
    if not assignee.active:
        raise InvalidInput(f"{assignee.email} is deactivated", field="assignee")


def _touch(item: WorkItem, now: datetime) -> None:
    item.updated_at = now
    item.revision += 1
