"""Read the issues: the board (one column per stage, a card per issue) and one issue in full.

Time in stage is wall-clock time since the issue entered its stage; time left is the business time
left on the stage's clock (negative once overdue), because a stage's goal is business time on its
calendar: a discovery stage entered on Friday evening has not used its weekend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.accounts.models import User
from firebreak.core.errors import InvalidInput
from firebreak.issues.access import get_issue
from firebreak.issues.models import (
    Draft,
    Issue,
    IssueEvent,
    IssueMention,
    IssueStage,
    IssueStakeholder,
    IssueTask,
    Publication,
)
from firebreak.issues.service import STAGE_METRIC, gate_state, issues_spec
from firebreak.lifecycle import IssuesSpec, TimeGoal, check_exit, next_stage
from firebreak.workflow import clocks
from firebreak.workflow.models import SlaClock
from firebreak.workflow.runtime import WorkflowRuntime

ISSUE_STATES = ("open", "closed")
CLOSED_LIMIT = 200


def board(session: Session, runtime: WorkflowRuntime, workspace_id: int, now: datetime, *,
          state: str = "open") -> dict[str, Any]:
    """The issues in `state` as columns by stage (the playbook's order), most urgent card first.

    Closed issues are the latest CLOSED_LIMIT, in the stage they were closed from.
    """
    if state not in ISSUE_STATES:
        raise InvalidInput(f"state {state!r} is not one of {', '.join(ISSUE_STATES)}", field="state")
    spec = issues_spec(runtime)
    stmt = select(Issue).where(Issue.workspace_id == workspace_id, Issue.state == state)
    if state == "closed":
        stmt = stmt.order_by(Issue.closed_at.desc()).limit(CLOSED_LIMIT)
    issues = list(session.scalars(stmt))
    ids = [issue.id for issue in issues]
    owners = _emails(session, (issue.owner_id for issue in issues))
    linked = dict(session.execute(select(IssueMention.issue_id, func.count()).where(
        IssueMention.issue_id.in_(ids)).group_by(IssueMention.issue_id)).all()) if ids else {}
    visits = {visit.issue_id: visit for visit in session.scalars(
        select(IssueStage).where(IssueStage.issue_id.in_(ids)).order_by(IssueStage.id))} if ids else {}
    stage_clocks = {clock.reference_id: clock for clock in session.scalars(select(SlaClock).where(
        SlaClock.issue_id.in_(ids), SlaClock.metric == STAGE_METRIC))} if ids else {}
    columns: dict[str, dict[str, Any]] = {
        stage.id: {"stage": stage.id, "label": stage.label, "goal": _goal_text(stage.goal), "cards": []}
        for stage in spec.stages}
    for issue in issues:
        visit = visits.get(issue.id)  # the latest visit: ordered by id, the last one wins
        timing = _timing(runtime, issue, visit, stage_clocks.get(visit.id) if visit else None, now)
        card = {"id": issue.id, "number": issue.number, "title": issue.title, "severity": issue.severity,
                "state": issue.state, "stage": issue.stage, "owner": owners.get(issue.owner_id),
                "linked_mentions": int(linked.get(issue.id, 0)), "revision": issue.revision, **timing}
        column = columns.setdefault(issue.stage, {"stage": issue.stage, "label": issue.stage, "goal": None,
                                                  "cards": []})
        column["cards"].append(card)
    for column in columns.values():
        column["cards"].sort(key=lambda card: (not card["overdue"], card["due_at"] is None,
                                               card["due_at"] or now, card["number"]))
    return {"now": now, "state": state, "columns": list(columns.values())}


def issue_detail(session: Session, runtime: WorkflowRuntime, workspace_id: int, issue_id: int,
                 now: datetime) -> dict[str, Any]:
    """Everything about one issue: people, stage visits with their goals, tasks by stage, what blocks the
    current stage's gate, counts, and the timeline in order."""
    issue = get_issue(session, workspace_id, issue_id)
    spec = issues_spec(runtime)
    people = list(session.execute(
        select(IssueStakeholder.role, User.email).join(User, User.id == IssueStakeholder.user_id)
        .where(IssueStakeholder.issue_id == issue.id).order_by(IssueStakeholder.id)))
    tasks = list(session.scalars(select(IssueTask).where(IssueTask.issue_id == issue.id).order_by(IssueTask.id)))
    emails = _emails(session, [issue.owner_id, *(task.owner_id for task in tasks)])
    visits = list(session.scalars(select(IssueStage).where(IssueStage.issue_id == issue.id).order_by(IssueStage.id)))
    stage_clocks = {clock.reference_id: clock for clock in session.scalars(select(SlaClock).where(
        SlaClock.issue_id == issue.id, SlaClock.metric == STAGE_METRIC))}
    labels = {stage.id: stage.label for stage in spec.stages}
    current = visits[-1] if visits else None
    return {
        "id": issue.id, "number": issue.number, "title": issue.title, "summary": issue.summary,
        "severity": issue.severity, "state": issue.state, "stage": issue.stage,
        "stage_label": labels.get(issue.stage, issue.stage), "stage_entered_at": issue.stage_entered_at,
        "owner": emails.get(issue.owner_id), "decision": issue.decision, "decision_reason": issue.decision_reason,
        "link_rules": issue.link_rules, "opened_from": issue.opened_from, "created_by": issue.created_by,
        "created_at": issue.created_at, "closed_at": issue.closed_at, "playbook_version": issue.playbook_version,
        "revision": issue.revision,
        "stakeholders": [{"email": email, "role": role} for role, email in people],
        "current": {**_timing(runtime, issue, current, stage_clocks.get(current.id) if current else None, now),
                    "next_stage": _next(spec, issue), "blockers": _blockers(session, spec, issue)},
        "stages": [_visit(runtime, visit, stage_clocks.get(visit.id), labels, now) for visit in visits],
        "tasks": _tasks_by_stage(spec, tasks, emails, now),
        "counts": _counts(session, issue, tasks),
        "timeline": [{"id": event.id, "at": event.at, "actor": event.actor, "kind": event.kind,
                      "details": event.details} for event in session.scalars(
                          select(IssueEvent).where(IssueEvent.issue_id == issue.id).order_by(IssueEvent.id))],
    }


def _timing(runtime: WorkflowRuntime, issue: Issue, visit: IssueStage | None, clock: SlaClock | None,
            now: datetime) -> dict[str, Any]:
    """Time in stage, the deadline, business time left and whether the stage is overdue."""
    until = issue.closed_at if issue.state == "closed" and issue.closed_at is not None else now
    timing: dict[str, Any] = {"entered_at": issue.stage_entered_at,
                              "time_in_stage_seconds": round(max((until - issue.stage_entered_at).total_seconds(),
                                                                 0.0), 3),
                              "due_at": visit.due_at if visit else None, "time_left_seconds": None,
                              "overdue": bool(visit and visit.overdue)}
    if clock is not None and clock.state in ("running", "paused"):
        seen = clocks.view(runtime.clock_calendar(clock.calendar), clock, now)
        timing["time_left_seconds"] = round(seen.remaining_seconds, 3)
        timing["overdue"] = seen.breached
    return timing


def _visit(runtime: WorkflowRuntime, visit: IssueStage, clock: SlaClock | None, labels: dict[str, str],
           now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": visit.id, "stage": visit.stage, "label": labels.get(visit.stage, visit.stage),
        "entered_at": visit.entered_at, "left_at": visit.left_at, "goal": visit.goal,
        "goal_text": TimeGoal.parse(visit.goal).describe() if visit.goal else None, "calendar": visit.calendar,
        "due_at": visit.due_at, "overdue": visit.overdue, "override_reason": visit.override_reason,
        "left_by": visit.left_by, "clock": None,
    }
    if clock is not None:
        seen = clocks.view(runtime.clock_calendar(clock.calendar), clock, visit.left_at or now)
        row["overdue"] = visit.overdue or (visit.left_at is None and seen.breached)
        row["clock"] = {"state": clock.state, "warn_at": clock.warn_at, "due_at": clock.due_at,
                        "breached_at": clock.breached_at, "escalation_level": clock.escalation_level,
                        "used_seconds": round(seen.used_seconds, 3),
                        "remaining_seconds": round(seen.remaining_seconds, 3)}
    return row


def _tasks_by_stage(spec: IssuesSpec, tasks: list[IssueTask], emails: dict[int | None, str],
                    now: datetime) -> list[dict[str, Any]]:
    """The checklists in stage order (stages the issue has not reached yet have none)."""
    order = {stage_id: index for index, stage_id in enumerate(spec.stage_ids)}
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        by_stage.setdefault(task.stage, []).append({
            "id": task.id, "title": task.title, "required": task.required, "from_playbook": task.from_playbook,
            "owner": emails.get(task.owner_id), "due_at": task.due_at, "done_at": task.done_at,
            "done_by": task.done_by, "overdue": task.done_at is None and task.due_at is not None and now > task.due_at,
        })
    return [{"stage": stage, "tasks": rows}
            for stage, rows in sorted(by_stage.items(), key=lambda item: order.get(item[0], len(order)))]


def _blockers(session: Session, spec: IssuesSpec, issue: Issue) -> list[str]:
    if issue.state != "open" or issue.stage not in spec.stage_ids:
        return []
    return check_exit(spec.stage(issue.stage), gate_state(session, issue))


def _next(spec: IssuesSpec, issue: Issue) -> str | None:
    if issue.state != "open" or issue.stage not in spec.stage_ids:
        return None
    return next_stage(spec, issue.stage)


def _counts(session: Session, issue: Issue, tasks: list[IssueTask]) -> dict[str, Any]:
    sites = Counter(dict(session.execute(select(IssueMention.site, func.count()).where(
        IssueMention.issue_id == issue.id).group_by(IssueMention.site)).all()))
    return {
        "linked_mentions": sum(sites.values()),
        "by_site": dict(sorted(sites.items(), key=lambda item: (-item[1], item[0]))),
        "tasks_open": sum(1 for task in tasks if task.done_at is None),
        "tasks_done": sum(1 for task in tasks if task.done_at is not None),
        "drafts": int(session.scalar(select(func.count()).select_from(Draft).where(Draft.issue_id == issue.id)) or 0),
        "publications": int(session.scalar(select(func.count()).select_from(Publication).where(
            Publication.issue_id == issue.id)) or 0),
    }


def _emails(session: Session, user_ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all())


def _goal_text(goal: TimeGoal | None) -> str | None:
    return goal.describe() if goal is not None else None
