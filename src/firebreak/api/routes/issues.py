"""Rapid-response issues over HTTP: open one, the board, one issue in full, and every lifecycle change.

Reads need `mentions:read`, changes `workflow:write`; changes act as the token's user. A missing
permission is 403 naming it, a wrong value 422 with its field, a gate that blocks a stage move 422
naming what blocks it (field `override_reason`), a stale `revision` 409, and an issue of another
workspace 404, as if it did not exist. Every change answers with the issue in full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from firebreak.api.deps import Caller, CallerDep, DbDep, ReadSessionDep, ServicesDep
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.issues import board as issue_board
from firebreak.issues import service
from firebreak.services import Services

router = APIRouter(prefix="/api/v1/workspaces/{workspace}/issues", tags=["issues"])

IssueId = Annotated[int, Path(ge=1)]
TaskId = Annotated[int, Path(ge=1)]
MentionId = Annotated[int, Path(ge=1)]
Severity = Literal["low", "medium", "high", "critical"]
StakeholderRole = Literal["communications", "legal", "product", "support", "executive_sponsor"]
Revision = Annotated[int | None, Field(None, ge=1, description="The revision you saw; a newer one answers 409")]
Email = Annotated[str, Field(min_length=3, max_length=254)]


# ---------------------------------------------------------------------------------------------- reads


class Card(BaseModel):
    id: int
    number: int
    title: str
    severity: str
    state: str
    stage: str
    owner: str | None
    linked_mentions: int
    revision: int
    entered_at: datetime
    time_in_stage_seconds: float
    due_at: datetime | None
    time_left_seconds: float | None = Field(description="Business seconds left on the stage's goal; negative "
                                                        "once overdue; null without a running goal")
    overdue: bool


class Column(BaseModel):
    stage: str
    label: str
    goal: str | None
    cards: list[Card]


class Board(BaseModel):
    now: datetime
    state: str
    columns: list[Column]


class Stakeholder(BaseModel):
    email: str
    role: str


class Current(BaseModel):
    entered_at: datetime
    time_in_stage_seconds: float
    due_at: datetime | None
    time_left_seconds: float | None
    overdue: bool
    next_stage: str | None
    blockers: list[str] = Field(description="What stops the issue leaving its stage; empty when nothing does")


class StageClock(BaseModel):
    state: str
    warn_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None
    escalation_level: int
    used_seconds: float
    remaining_seconds: float


class Visit(BaseModel):
    id: int
    stage: str
    label: str
    entered_at: datetime
    left_at: datetime | None
    goal: str | None
    goal_text: str | None
    calendar: str | None
    due_at: datetime | None
    overdue: bool
    override_reason: str | None
    left_by: str | None
    clock: StageClock | None


class Task(BaseModel):
    id: int
    title: str
    required: bool
    from_playbook: bool
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    overdue: bool


class StageTasks(BaseModel):
    stage: str
    tasks: list[Task]


class Counts(BaseModel):
    linked_mentions: int
    by_site: dict[str, int]
    tasks_open: int
    tasks_done: int
    drafts: int
    publications: int


class Event(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    details: dict[str, Any]


class IssueDetail(BaseModel):
    id: int
    number: int
    title: str
    summary: str
    severity: str
    state: str
    stage: str
    stage_label: str
    stage_entered_at: datetime
    owner: str | None
    decision: str | None
    decision_reason: str | None
    link_rules: dict[str, Any]
    opened_from: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    playbook_version: str
    revision: int = Field(description="Send it back with a change to refuse it if someone changed the issue meanwhile")
    stakeholders: list[Stakeholder]
    current: Current
    stages: list[Visit]
    tasks: list[StageTasks]
    counts: Counts
    timeline: list[Event]


class LinkResult(BaseModel):
    linked: int = Field(description="How many of the mentions were not linked before")
    issue: IssueDetail


# ---------------------------------------------------------------------------------------------- requests


class LinkRules(BaseModel):
    keywords: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)
    categories: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)
    products: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)


class StakeholderIn(BaseModel):
    email: Email
    role: StakeholderRole


class OpenRequest(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field("", max_length=20_000)
    severity: Severity = "medium"
    owner: Email | None = Field(None, description="E-mail of a workspace member; default: you")
    stakeholders: list[StakeholderIn] = Field(default_factory=list, max_length=50)
    mention_ids: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=1000)
    link_rules: LinkRules | None = None
    opened_from: Literal["manual", "mentions", "detection"] | None = Field(
        None, description="Default: mentions when mention_ids are given, else manual")


class UpdateRequest(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    summary: str | None = Field(None, max_length=20_000)
    severity: Severity | None = None
    owner: Email | None = None
    link_rules: LinkRules | None = None
    revision: Revision = None


class StageRequest(BaseModel):
    stage: str = Field(min_length=1, max_length=48, description="The next stage, or an earlier one to reopen")
    override_reason: str | None = Field(None, max_length=2000,
                                        description="Needed to leave a stage whose gate is not met")
    revision: Revision = None


class DecisionRequest(BaseModel):
    decision: Literal["one_off", "systemic"]
    reason: str = Field(min_length=1, max_length=20_000)
    revision: Revision = None


class CloseRequest(BaseModel):
    reason: str | None = Field(None, max_length=20_000, description="Needed to close before the last stage")
    revision: Revision = None


class TaskRequest(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    stage: str | None = Field(None, max_length=48, description="Default: the current stage")
    owner: Email | None = Field(None, description="Default: the issue's owner")
    due_at: datetime | None = None
    required: bool = False


class MentionsRequest(BaseModel):
    mention_ids: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=1000)


# ---------------------------------------------------------------------------------------------- routes


def _detail(session: Session, services: Services, caller: Caller, issue_id: int, now: datetime) -> IssueDetail:
    runtime = services.workflow(session, caller.workspace.id)
    return IssueDetail.model_validate(issue_board.issue_detail(session, runtime, caller.workspace.id, issue_id, now))


def _context(session: Session, services: Services, caller: Caller, now: datetime) -> dict[str, Any]:
    return {"runtime": services.workflow(session, caller.workspace.id), "workspace_id": caller.workspace.id,
            "actor": caller.actor, "now": now}


@router.post("", response_model=IssueDetail, status_code=201, summary="Open an issue")
def open_issue(caller: CallerDep, db: DbDep, services: ServicesDep, body: OpenRequest) -> IssueDetail:
    """Open an issue in the playbook's first stage, with its clock and checklist, optionally from mentions.

    Needs the `open_issue` permission. The owner defaults to the caller (a personal token's user).
    """
    caller.require("workflow:write")
    owner = body.owner or _caller_email(caller)
    with db.write() as session:
        now = utcnow()
        issue = service.open_issue(
            session, **_context(session, services, caller, now), title=body.title, summary=body.summary,
            severity=body.severity, owner_email=owner, mention_ids=body.mention_ids,
            link_rules=body.link_rules.model_dump() if body.link_rules else None, opened_from=body.opened_from,
            stakeholders=[(person.email, person.role) for person in body.stakeholders])
        return _detail(session, services, caller, issue.id, now)


@router.get("", response_model=Board, summary="The issues board")
def get_board(caller: CallerDep, session: ReadSessionDep, services: ServicesDep,
              state: Annotated[Literal["open", "closed"], Query()] = "open") -> Board:
    """Return one column per stage with a card per issue: owner, severity, linked mentions, time in stage,
    business time left and whether it is overdue (overdue first, then by deadline)."""
    caller.require("mentions:read")
    runtime = services.workflow(session, caller.workspace.id)
    return Board.model_validate(issue_board.board(session, runtime, caller.workspace.id, utcnow(), state=state))


@router.get("/{issue_id}", response_model=IssueDetail, summary="One issue in full")
def get_issue(caller: CallerDep, session: ReadSessionDep, services: ServicesDep, issue_id: IssueId) -> IssueDetail:
    """Return the issue with its people, stage visits and goals, tasks by stage, what blocks its gate,
    counts and timeline."""
    caller.require("mentions:read")
    return _detail(session, services, caller, issue_id, utcnow())


@router.patch("/{issue_id}", response_model=IssueDetail, summary="Edit an issue")
def update_issue(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                 body: UpdateRequest) -> IssueDetail:
    """Change the title, summary, severity, owner or link rules (the owner, or `open_issue`)."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.update_issue(
            session, **_context(session, services, caller, now), issue_id=issue_id, title=body.title,
            summary=body.summary, severity=body.severity, owner_email=body.owner,
            link_rules=body.link_rules.model_dump() if body.link_rules else None, expected_revision=body.revision)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/stage", response_model=IssueDetail, summary="Move an issue to another stage")
def move_stage(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
               body: StageRequest) -> IssueDetail:
    """Move to the next stage, or back to an earlier one. A stage whose gate is not met is left only with
    an `override_reason`, from the owner or a role with `override_gate`."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.move_stage(session, **_context(session, services, caller, now), issue_id=issue_id,
                           target=body.stage, override_reason=body.override_reason, expected_revision=body.revision)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/decision", response_model=IssueDetail, summary="Record one-off or systemic")
def record_decision(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                    body: DecisionRequest) -> IssueDetail:
    """Record whether the problem is a one-off or systemic, with the reason."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.record_decision(session, **_context(session, services, caller, now), issue_id=issue_id,
                                decision=body.decision, reason=body.reason, expected_revision=body.revision)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/close", response_model=IssueDetail, summary="Close an issue")
def close_issue(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                body: CloseRequest) -> IssueDetail:
    """Close from the last stage; from an earlier one only with `override_gate` and a reason."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.close_issue(session, **_context(session, services, caller, now), issue_id=issue_id,
                            reason=body.reason, expected_revision=body.revision)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/stakeholders", response_model=IssueDetail, summary="Add a stakeholder")
def add_stakeholder(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                    body: StakeholderIn) -> IssueDetail:
    """Give a workspace member a role on the issue."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.add_stakeholder(session, **_context(session, services, caller, now), issue_id=issue_id,
                                email=body.email, role=body.role)
        return _detail(session, services, caller, issue_id, now)


@router.delete("/{issue_id}/stakeholders", response_model=IssueDetail, summary="Remove a stakeholder")
def remove_stakeholder(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                       email: Annotated[str, Query(min_length=3, max_length=254)],
                       role: Annotated[StakeholderRole, Query()]) -> IssueDetail:
    """Take a role on the issue away from a person (`?email=...&role=...`)."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.remove_stakeholder(session, **_context(session, services, caller, now), issue_id=issue_id,
                                   email=email, role=role)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/tasks", response_model=IssueDetail, status_code=201, summary="Add a task")
def add_task(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
             body: TaskRequest) -> IssueDetail:
    """Add an ad-hoc task to a stage's checklist; a required one blocks leaving the stage until done."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.add_task(session, **_context(session, services, caller, now), issue_id=issue_id,
                         title=body.title, stage=body.stage, owner_email=body.owner, due_at=body.due_at,
                         required=body.required)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/tasks/{task_id}/complete", response_model=IssueDetail, summary="Tick a task off")
def complete_task(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                  task_id: TaskId) -> IssueDetail:
    """Mark the task done (its owner, the issue's owner, or `open_issue`)."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.complete_task(session, **_context(session, services, caller, now), issue_id=issue_id,
                              task_id=task_id)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/tasks/{task_id}/reopen", response_model=IssueDetail, summary="Reopen a task")
def reopen_task(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                task_id: TaskId) -> IssueDetail:
    """Mark a done task open again."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.reopen_task(session, **_context(session, services, caller, now), issue_id=issue_id,
                            task_id=task_id)
        return _detail(session, services, caller, issue_id, now)


@router.post("/{issue_id}/mentions", response_model=LinkResult, summary="Link mentions to an issue")
def link_mentions(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                  body: MentionsRequest) -> LinkResult:
    """Link mentions of this workspace to the issue (linking one again changes nothing); needs `respond`."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        linked = service.link(session, **_context(session, services, caller, now), issue_id=issue_id,
                              mention_ids=body.mention_ids)
        return LinkResult(linked=linked, issue=_detail(session, services, caller, issue_id, now))


@router.delete("/{issue_id}/mentions/{mention_id}", response_model=IssueDetail, summary="Unlink a mention")
def unlink_mention(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                   mention_id: MentionId) -> IssueDetail:
    """Take a mention out of the issue's conversation; needs `respond`."""
    caller.require("workflow:write")
    with db.write() as session:
        now = utcnow()
        service.unlink(session, **_context(session, services, caller, now), issue_id=issue_id,
                       mention_id=mention_id)
        return _detail(session, services, caller, issue_id, now)


def _caller_email(caller: Caller) -> str:
    """The caller's own e-mail, the default owner; an integration token must name one."""
    if caller.actor.user_id is None:
        raise InvalidInput("name the issue's owner: this token acts for no user", field="owner")
    return caller.actor.name
