"""Run an issue's lifecycle: open it, give it people, move it through its stages, decide, close.

Every function takes the session, the workspace's compiled playbook (`runtime`), the workspace, who
is acting and when (`now`: callers pass the time, tests pass fixed times), checks permission first,
changes the rows and writes one timeline event per change. Refusals name what is wrong:
Forbidden (the permission or person needed), InvalidInput (the field), Conflict (a stale revision),
NotFound (an id of another workspace, or none).

A stage visit is an `IssueStage` row; its time goal is a `sla_clocks` row (metric `stage`), so the
SLA scheduler warns and escalates it like a response goal. The stage's checklist is copied onto the
issue the first time it enters the stage; coming back to a stage reopens it with the same tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from firebreak.accounts.models import Membership, User
from firebreak.accounts.service import normalise_email
from firebreak.calendars import BusinessCalendar
from firebreak.core.errors import Conflict, InvalidInput, NotFound
from firebreak.issues import links, timeline
from firebreak.issues.access import get_issue, require, require_owner_or
from firebreak.issues.models import (
    SEVERITIES,
    Draft,
    DraftVersion,
    Issue,
    IssueStage,
    IssueStakeholder,
    IssueTask,
    Publication,
)
from firebreak.lifecycle import STAKEHOLDER_ROLES, GateState, IssuesSpec, StageSpec, plan_move
from firebreak.routing import permits
from firebreak.workflow import clocks
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import SlaClock
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

DECISIONS = ("one_off", "systemic")
OPENED_FROM = ("manual", "mentions", "detection")
STAGE_METRIC = "stage"
TITLE_MAX = 200
TASK_TITLE_MAX = 300
TEXT_MAX = 20_000
# Stakeholder roles a person can be given on an issue; the owner is the issue's own column.
ASSIGNABLE_ROLES = tuple(role for role in STAKEHOLDER_ROLES if role != "owner")


def issues_spec(runtime: WorkflowRuntime) -> IssuesSpec:
    """The lifecycle of the playbook in force."""
    return runtime.loaded.playbook.issues  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------- opening


def open_issue(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, title: str,
    summary: str = "", severity: str = "medium", owner_email: str, mention_ids: Sequence[int] = (),
    link_rules: Mapping[str, Any] | None = None, opened_from: str | None = None,
    stakeholders: Sequence[tuple[str, str]] = (),
) -> Issue:
    """Open an issue in the playbook's first stage, with its clock, checklist, people and mentions.

    `opened_from` defaults to "mentions" when mentions are given, else "manual".
    """
    require(runtime, actor, "open_issue", "open an issue")
    spec = issues_spec(runtime)
    source = opened_from or ("mentions" if mention_ids else "manual")
    if source not in OPENED_FROM:
        raise InvalidInput(f"opened_from {source!r} is not one of {', '.join(OPENED_FROM)}", field="opened_from")
    owner = _member(session, workspace_id, owner_email, field="owner")
    people = [(_member(session, workspace_id, email, field="stakeholders"), _stakeholder_role(role))
              for email, role in stakeholders]
    issue = Issue(
        workspace_id=workspace_id, number=_next_number(session, workspace_id), title=_title(title),
        summary=_text(summary, "summary"), severity=_severity(severity), state="open", stage=spec.first_stage.id,
        stage_entered_at=now, owner_id=owner.id, link_rules=links.normalise_link_rules(link_rules),
        opened_from=source, created_by=actor.name, created_at=now, playbook_version=runtime.version, revision=1,
    )
    session.add(issue)
    session.flush()
    for user, role in dict.fromkeys(people):
        session.add(IssueStakeholder(workspace_id=workspace_id, issue_id=issue.id, user_id=user.id, role=role))
    session.flush()
    visit = _enter_stage(session, runtime, issue, spec.first_stage, now)
    timeline.record(session, issue, kind="issue.opened", actor=actor.name, at=now, details={
        "number": issue.number, "title": issue.title, "severity": issue.severity, "owner": owner.email,
        "stakeholders": [[user.email, role] for user, role in dict.fromkeys(people)], "stage": issue.stage,
        "due_at": _iso(visit.due_at), "opened_from": source, "playbook_version": runtime.version,
    })
    if mention_ids:
        links.link_mentions(session, issue, mention_ids, actor_name=actor.name, now=now, linked_by=actor.name)
    return issue


def _next_number(session: Session, workspace_id: int) -> int:
    """The next issue number of the workspace; on PostgreSQL the workspace row is locked so two issues
    opened at once get different numbers (SQLite has one writer at a time anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
    highest = session.scalar(select(func.max(Issue.number)).where(Issue.workspace_id == workspace_id))
    return (highest or 0) + 1


# ---------------------------------------------------------------------------------------------- people and fields


def add_stakeholder(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    email: str, role: str,
) -> Issue:
    """Give a workspace member a role on the issue (a no-op when they already hold it)."""
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    require_owner_or(session, runtime, issue, actor, "open_issue", "change the issue's stakeholders")
    user = _member(session, workspace_id, email, field="email")
    role = _stakeholder_role(role)
    exists = session.scalar(select(IssueStakeholder.id).where(
        IssueStakeholder.issue_id == issue.id, IssueStakeholder.user_id == user.id, IssueStakeholder.role == role))
    if exists is None:
        session.add(IssueStakeholder(workspace_id=workspace_id, issue_id=issue.id, user_id=user.id, role=role))
        _touch(issue)
        timeline.record(session, issue, kind="stakeholder.added", actor=actor.name, at=now,
                        details={"email": user.email, "role": role})
    return issue


def remove_stakeholder(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    email: str, role: str,
) -> Issue:
    """Take a role on the issue away from a person (NotFound when they do not hold it)."""
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    require_owner_or(session, runtime, issue, actor, "open_issue", "change the issue's stakeholders")
    address = normalise_email(email)
    role = _stakeholder_role(role)
    row = session.scalar(select(IssueStakeholder).join(User, User.id == IssueStakeholder.user_id).where(
        IssueStakeholder.issue_id == issue.id, User.email == address, IssueStakeholder.role == role))
    if row is None:
        raise NotFound(f"{address} is not {role} on issue {issue.number}")
    session.delete(row)
    _touch(issue)
    timeline.record(session, issue, kind="stakeholder.removed", actor=actor.name, at=now,
                    details={"email": address, "role": role})
    return issue


def update_issue(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    title: str | None = None, summary: str | None = None, severity: str | None = None,
    link_rules: Mapping[str, Any] | None = None, owner_email: str | None = None,
    expected_revision: int | None = None,
) -> Issue:
    """Change the issue's title, summary, severity, link rules or owner (only what is given)."""
    issue = _open_issue_for_change(session, workspace_id, issue_id, expected_revision)
    require_owner_or(session, runtime, issue, actor, "open_issue", "edit the issue")
    changes: dict[str, list[Any]] = {}

    def change(field: str, new: Any, old: Any) -> None:
        if new != old:
            changes[field] = [old, new]
            setattr(issue, field, new)

    if title is not None:
        change("title", _title(title), issue.title)
    if summary is not None:
        change("summary", _text(summary, "summary"), issue.summary)
    if severity is not None:
        change("severity", _severity(severity), issue.severity)
    if link_rules is not None:
        change("link_rules", links.normalise_link_rules(link_rules), issue.link_rules)
    if owner_email is not None:
        owner = _member(session, workspace_id, owner_email, field="owner")
        if owner.id != issue.owner_id:
            previous = session.scalar(select(User.email).where(User.id == issue.owner_id)) if issue.owner_id else None
            changes["owner"] = [previous, owner.email]
            issue.owner_id = owner.id
    if changes:
        _touch(issue)
        timeline.record(session, issue, kind="issue.updated", actor=actor.name, at=now, details={"changes": changes})
    return issue


# ---------------------------------------------------------------------------------------------- stages


def gate_state(session: Session, issue: Issue) -> GateState:
    """What the current stage's exit gate can see of the issue, read from the database."""
    open_required = tuple(session.scalars(select(IssueTask.title).where(
        IssueTask.issue_id == issue.id, IssueTask.stage == issue.stage, IssueTask.required.is_(True),
        IssueTask.done_at.is_(None)).order_by(IssueTask.id)))
    approved = frozenset(session.scalars(
        select(Draft.kind).join(DraftVersion, DraftVersion.draft_id == Draft.id)
        .where(Draft.issue_id == issue.id, DraftVersion.state == "approved").distinct()))
    published = session.scalar(select(Publication.id).where(
        Publication.issue_id == issue.id,
        or_(Publication.published_at >= issue.stage_entered_at, Publication.updated_at >= issue.stage_entered_at),
    ).limit(1)) is not None
    return GateState(open_required_tasks=open_required,
                     decision_recorded=issue.decision is not None and bool(issue.decision_reason),
                     approved_kinds=approved, published_in_stage=published)


def move_stage(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    target: str, override_reason: str | None = None, expected_revision: int | None = None,
) -> Issue:
    """Move the issue to the next stage (gated) or back to an earlier one (reopening it).

    Leaving a stage whose gate is unmet needs a reason, and the reason counts only from the issue's
    owner or a role with `override_gate`; any move needs the owner or `open_issue`.
    """
    issue = _open_issue_for_change(session, workspace_id, issue_id, expected_revision)
    require_owner_or(session, runtime, issue, actor, "open_issue", "move the issue between stages")
    spec = issues_spec(runtime)
    move = plan_move(spec, issue.stage, target, gate_state(session, issue), override_reason=override_reason)
    if move.overridden:
        require_owner_or(session, runtime, issue, actor, "override_gate",
                         f"leave {move.current} past its gate ({'; '.join(move.blockers)})")
        timeline.record(session, issue, kind="gate.overridden", actor=actor.name, at=now, details={
            "stage": move.current, "blockers": list(move.blockers), "reason": move.override_reason})
    left = _leave_stage(session, runtime, issue, now, actor=actor, met=move.direction == "forward",
                        override_reason=move.override_reason)
    issue.stage = target
    issue.stage_entered_at = now
    _touch(issue)
    tasks_before = _task_count(session, issue.id, target)
    visit = _enter_stage(session, runtime, issue, spec.stage(target), now)
    timeline.record(session, issue, kind="stage.moved", actor=actor.name, at=now, details={
        "from": move.current, "to": target, "direction": move.direction,
        "overdue": bool(left and left.overdue), "override_reason": move.override_reason,
        "goal": visit.goal, "due_at": _iso(visit.due_at),
        "tasks_added": _task_count(session, issue.id, target) - tasks_before,
    })
    return issue


def _enter_stage(session: Session, runtime: WorkflowRuntime, issue: Issue, stage: StageSpec,
                 now: datetime) -> IssueStage:
    """Open a visit of `stage` with its clock, and copy the stage's checklist the first time only."""
    calendar = runtime.calendar(stage.calendar)
    due = stage.due_at(calendar, now)
    visit = IssueStage(workspace_id=issue.workspace_id, issue_id=issue.id, stage=stage.id, entered_at=now,
                       goal=str(stage.goal) if stage.goal is not None else None, calendar=stage.calendar,
                       due_at=due, overdue=False)
    session.add(visit)
    session.flush()
    if due is not None:
        session.add(SlaClock(workspace_id=issue.workspace_id, issue_id=issue.id, reference_id=visit.id,
                             metric=STAGE_METRIC, policy=stage.id, calendar=stage.calendar,
                             **stage_clock_columns(calendar, stage, now, due)))
    if _task_count(session, issue.id, stage.id, from_playbook=True) == 0:
        owners = _role_holders(session, issue)
        for task in stage.tasks:
            session.add(IssueTask(
                workspace_id=issue.workspace_id, issue_id=issue.id, stage=stage.id, title=task.title,
                required=task.required, from_playbook=True, owner_id=owners.get(task.owner, issue.owner_id),
                due_at=task.due_at(calendar, now), created_at=now))
    session.flush()
    return visit


def stage_clock_columns(calendar: BusinessCalendar, stage: StageSpec, entered_at: datetime,
                        due: datetime) -> dict[str, Any]:
    """Clock columns that fall due exactly at the stage's deadline and warn at its `warn`.

    A goal in business days is a wall-clock time some open days on, not an amount of business time,
    so the clock's target is the business time up to that deadline, and its due and warn instants
    are the stage's own.
    """
    target = calendar.between(entered_at, due)
    warn = stage.warn_at(calendar, entered_at)
    fraction = calendar.between(entered_at, warn) / target if warn is not None and target > 0 else 0.0
    warns = warn is not None and 0 < fraction < 1
    columns = clocks.start(calendar, at=entered_at, target_seconds=target, warn_fraction=fraction if warns else 0.0)
    columns["due_at"], columns["warn_at"] = due, warn if warns else None
    columns["next_event"], columns["next_fire_at"] = (clocks.WARNING, warn) if warns else (clocks.BREACH, due)
    return columns


def _leave_stage(session: Session, runtime: WorkflowRuntime, issue: Issue, now: datetime, *, actor: Actor,
                 met: bool, override_reason: str | None) -> IssueStage | None:
    """Close the current visit (overdue when left after its deadline) and stop its clock."""
    visit = current_visit(session, issue)
    if visit is not None:
        visit.left_at = now
        visit.left_by = actor.name
        visit.overdue = visit.due_at is not None and now > visit.due_at
        visit.override_reason = override_reason
        for clock in session.scalars(select(SlaClock).where(
                SlaClock.issue_id == issue.id, SlaClock.metric == STAGE_METRIC, SlaClock.reference_id == visit.id)):
            for key, value in clocks.stop(runtime.clock_calendar(clock.calendar), clock, now, met=met).items():
                setattr(clock, key, value)
    return visit


def current_visit(session: Session, issue: Issue) -> IssueStage | None:
    """The issue's open stage visit (None once closed)."""
    return session.scalar(select(IssueStage).where(IssueStage.issue_id == issue.id, IssueStage.left_at.is_(None))
                          .order_by(IssueStage.id.desc()).limit(1))


def _task_count(session: Session, issue_id: int, stage: str, *, from_playbook: bool = False) -> int:
    stmt = select(func.count()).select_from(IssueTask).where(IssueTask.issue_id == issue_id, IssueTask.stage == stage)
    if from_playbook:
        stmt = stmt.where(IssueTask.from_playbook.is_(True))
    return int(session.scalar(stmt) or 0)


def _role_holders(session: Session, issue: Issue) -> dict[str, int]:
    """Who holds each stakeholder role on the issue (the first named, for a role several hold)."""
    holders: dict[str, int] = {}
    for role, user_id in session.execute(select(IssueStakeholder.role, IssueStakeholder.user_id).where(
            IssueStakeholder.issue_id == issue.id).order_by(IssueStakeholder.id)):
        holders.setdefault(role, user_id)
    if issue.owner_id is not None:
        holders["owner"] = issue.owner_id
    return holders


# ---------------------------------------------------------------------------------------------- decision and close


def record_decision(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    decision: str, reason: str, expected_revision: int | None = None,
) -> Issue:
    """Record whether the problem is a one-off or systemic, and why (deciding again replaces it)."""
    issue = _open_issue_for_change(session, workspace_id, issue_id, expected_revision)
    require_owner_or(session, runtime, issue, actor, "open_issue", "record the one-off / systemic decision")
    if decision not in DECISIONS:
        raise InvalidInput(f"decision {decision!r} is not one of {', '.join(DECISIONS)}", field="decision")
    why = _text(reason, "reason")
    if not why:
        raise InvalidInput("say why it is " + decision.replace("_", "-"), field="reason")
    issue.decision, issue.decision_reason = decision, why
    _touch(issue)
    timeline.record(session, issue, kind="decision.recorded", actor=actor.name, at=now,
                    details={"decision": decision, "reason": why, "stage": issue.stage})
    return issue


def close_issue(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    reason: str | None = None, expected_revision: int | None = None,
) -> Issue:
    """Close the issue: from the last stage (owner or `open_issue`), or earlier with `override_gate` and a reason.

    Every clock the issue still runs (its stage, a legal review) stops: nobody is paged about a closed issue.
    """
    issue = _open_issue_for_change(session, workspace_id, issue_id, expected_revision)
    spec = issues_spec(runtime)
    why = _text(reason or "", "reason") or None
    early = issue.stage != spec.last_stage.id
    if early:
        require(runtime, actor, "override_gate", f"close the issue from {issue.stage} before {spec.last_stage.id}")
        if why is None:
            raise InvalidInput(f"closing from {issue.stage}, before {spec.last_stage.id}, needs a reason",
                               field="reason")
    else:
        require_owner_or(session, runtime, issue, actor, "open_issue", "close the issue")
    _leave_stage(session, runtime, issue, now, actor=actor, met=not early, override_reason=why if early else None)
    for clock in session.scalars(select(SlaClock).where(
            SlaClock.issue_id == issue.id, SlaClock.state.in_(("running", "paused")))):
        for key, value in clocks.stop(runtime.clock_calendar(clock.calendar), clock, now, met=False).items():
            setattr(clock, key, value)
    issue.state = "closed"
    issue.closed_at = now
    _touch(issue)
    timeline.record(session, issue, kind="issue.closed", actor=actor.name, at=now,
                    details={"stage": issue.stage, "reason": why, "early": early})
    return issue


# ---------------------------------------------------------------------------------------------- tasks


def add_task(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    title: str, stage: str | None = None, owner_email: str | None = None, due_at: datetime | None = None,
    required: bool = False,
) -> IssueTask:
    """Add an ad-hoc task to a stage's checklist (default: the current stage; owner: the issue's owner)."""
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    require_owner_or(session, runtime, issue, actor, "open_issue", "add tasks to the issue")
    spec = issues_spec(runtime)
    stage_id = stage or issue.stage
    spec.position(stage_id)
    if required and stage_id == spec.last_stage.id:
        raise InvalidInput(f"{stage_id} is the last stage, where nothing is gated: its tasks cannot be required",
                           field="required")
    text = " ".join((title or "").split())
    if not text or len(text) > TASK_TITLE_MAX:
        raise InvalidInput(f"a task needs a title of 1 to {TASK_TITLE_MAX} characters", field="title")
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput("due_at needs a time zone (e.g. 2026-11-16T15:00:00Z)", field="due_at")
    owner_id = _member(session, workspace_id, owner_email, field="owner").id if owner_email else issue.owner_id
    task = IssueTask(workspace_id=workspace_id, issue_id=issue.id, stage=stage_id, title=text, required=required,
                     from_playbook=False, owner_id=owner_id, due_at=due_at, created_at=now)
    session.add(task)
    session.flush()
    _touch(issue)
    timeline.record(session, issue, kind="task.added", actor=actor.name, at=now, details={
        "task_id": task.id, "stage": stage_id, "title": text, "required": required, "due_at": _iso(due_at),
        "owner": session.scalar(select(User.email).where(User.id == owner_id)) if owner_id else None})
    return task


def complete_task(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    task_id: int,
) -> IssueTask:
    """Tick a task off: its owner, the issue's owner, or someone with `open_issue`."""
    issue, task = _task_for_change(session, runtime, workspace_id, issue_id, task_id, actor, "complete")
    if task.done_at is not None:
        raise InvalidInput(f"task {task.id} is already done (by {task.done_by})", field="task")
    task.done_at, task.done_by = now, actor.name
    _touch(issue)
    timeline.record(session, issue, kind="task.done", actor=actor.name, at=now,
                    details={"task_id": task.id, "stage": task.stage, "title": task.title,
                             "late": task.due_at is not None and now > task.due_at})
    return task


def reopen_task(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    task_id: int,
) -> IssueTask:
    """Mark a done task open again (a required one then blocks its stage's gate again)."""
    issue, task = _task_for_change(session, runtime, workspace_id, issue_id, task_id, actor, "reopen")
    if task.done_at is None:
        raise InvalidInput(f"task {task.id} is not done", field="task")
    task.done_at, task.done_by = None, None
    _touch(issue)
    timeline.record(session, issue, kind="task.reopened", actor=actor.name, at=now,
                    details={"task_id": task.id, "stage": task.stage, "title": task.title})
    return task


def _task_for_change(session: Session, runtime: WorkflowRuntime, workspace_id: int, issue_id: int, task_id: int,
                     actor: Actor, doing: str) -> tuple[Issue, IssueTask]:
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    task = session.scalar(select(IssueTask).where(IssueTask.id == task_id, IssueTask.issue_id == issue.id))
    if task is None:
        raise NotFound(f"issue {issue.number} has no task {task_id}")
    if task.owner_id is None or task.owner_id != actor.user_id:
        require_owner_or(session, runtime, issue, actor, "open_issue", f"{doing} a task someone else owns")
    return issue, task


# ---------------------------------------------------------------------------------------------- linked mentions


def link(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    mention_ids: Sequence[int],
) -> int:
    """Link mentions to the issue by hand (needs `respond`); return how many were new."""
    require(runtime, actor, "respond", "link mentions to an issue")
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    if not mention_ids:
        raise InvalidInput("name at least one mention to link", field="mention_ids")
    linked = links.link_mentions(session, issue, mention_ids, actor_name=actor.name, now=now, linked_by=actor.name)
    if linked:
        _touch(issue)
    return linked


def unlink(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    mention_id: int,
) -> Issue:
    """Take a mention out of the issue (needs `respond`)."""
    require(runtime, actor, "respond", "unlink mentions from an issue")
    issue = _open_issue_for_change(session, workspace_id, issue_id)
    links.unlink_mention(session, issue, mention_id, actor_name=actor.name, now=now)
    _touch(issue)
    return issue


# ---------------------------------------------------------------------------------------------- checks


def can_act(session: Session, runtime: WorkflowRuntime, issue: Issue, actor: Actor, permission: str) -> bool:
    """Whether the actor is the issue's owner or has `permission` (for read models that show buttons)."""
    return (issue.owner_id is not None and issue.owner_id == actor.user_id) or permits(
        runtime.roles, actor.roles, permission)


def _open_issue_for_change(session: Session, workspace_id: int, issue_id: int,
                           expected_revision: int | None = None) -> Issue:
    issue = get_issue(session, workspace_id, issue_id, lock=True)
    if expected_revision is not None and expected_revision != issue.revision:
        raise Conflict(f"issue {issue.number} changed since you loaded it (revision {issue.revision}, you had "
                       f"{expected_revision}); reload and try again", field="revision")
    if issue.state != "open":
        raise InvalidInput(f"issue {issue.number} is closed; it cannot be changed", field="state")
    return issue


def _touch(issue: Issue) -> None:
    issue.revision += 1


def _member(session: Session, workspace_id: int, email: str | None, *, field: str) -> User:
    """The active workspace member with this e-mail; anyone else is refused, naming the field."""
    try:
        address = normalise_email(email or "")
    except InvalidInput:
        raise InvalidInput(f"{email!r} is not an e-mail address", field=field) from None
    user = session.scalar(select(User).join(Membership, Membership.user_id == User.id).where(
        User.email == address, Membership.workspace_id == workspace_id).limit(1))
    if user is None or not user.active:
        raise InvalidInput(f"{address} is not a member of this workspace", field=field)
    return user


def _stakeholder_role(role: str) -> str:
    if role == "owner":
        raise InvalidInput("the owner is the issue's own field: change it with the issue's owner, not as a "
                           "stakeholder", field="role")
    if role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"unknown stakeholder role {role!r}; roles are {', '.join(ASSIGNABLE_ROLES)}",
                           field="role")
    return role


def _title(title: str) -> str:
    text = " ".join((title or "").split())
    if not text or len(text) > TITLE_MAX:
        raise InvalidInput(f"an issue needs a title of 1 to {TITLE_MAX} characters", field="title")
    return text


def _text(value: str, field: str) -> str:
    text = (value or "").strip()
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"{field} is longer than {TEXT_MAX} characters", field=field)
    return text


def _severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", field="severity")
    return severity


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
