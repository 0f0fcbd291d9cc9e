"""The response workflow over HTTP: a queue by SLA urgency, one item's assessment and clocks, assign,
change state, and what the caller may offer a customer.

Writes act as the token's user (a personal token) or with the token's fixed roles, and every refusal
names why: a missing permission is 403, a wrong value 422 with its field, and an item someone else
changed since the caller loaded it 409 (send the `revision` you saw to be told).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts_service
from firebreak.api.deps import Caller, CallerDep, DbDep, ReadSessionDep, ServicesDep
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.routing import Offer, check_authority
from firebreak.routing.authority import OfferKind
from firebreak.workflow import actions, queries
from firebreak.workflow.models import OPEN_STATES

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["workflow"])

MentionId = Annotated[int, Path(ge=1)]


class QueueItem(BaseModel):
    mention_id: int
    state: str
    queue: str
    priority: str
    assignee: str | None
    action: str
    flag: str | None
    category: str | None
    text: str
    url: str | None
    opened_at: datetime
    sla_due_at: datetime | None
    sla_seconds_left: float | None = Field(description="Negative once overdue; null without a running clock")
    overdue: bool
    revision: int


class QueuePage(BaseModel):
    now: datetime = Field(description="The moment `sla_seconds_left` was measured from")
    items: list[QueueItem]


class Step(BaseModel):
    node: str
    question: str
    answer: str
    next: str


class AssessmentRead(BaseModel):
    outcome: str
    label: str
    action: str
    respond: bool
    considerations: dict[str, str]
    next_step: str
    path: list[Step]


class ClockRead(BaseModel):
    metric: str
    policy: str
    calendar: str
    state: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    used_seconds: float | None = Field(description="Business seconds used; null if the calendar left the playbook")
    remaining_seconds: float | None
    breached: bool
    escalation_level: int


class AuditRead(BaseModel):
    at: datetime
    actor: str
    action: str
    details: dict[str, Any] | None


class WorkDetail(BaseModel):
    mention_id: int
    state: str
    queue: str
    team: str
    priority: str
    route_rule: str
    assignee: str | None
    revision: int = Field(description="Send it back with a change to refuse it if someone changed the item meanwhile")
    recommended_action: str
    outcome: str
    needs_response: bool
    assessment: AssessmentRead
    sla_policy: str | None
    playbook_version: str
    opened_at: datetime
    assigned_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    waiting_since: datetime | None
    first_response_seconds: float | None
    resolution_seconds: float | None
    clocks: list[ClockRead]
    audit: list[AuditRead]


class AssignRequest(BaseModel):
    assignee: str | None = Field(description="E-mail of a workspace member, or null to put it back in the queue",
                                 max_length=254)
    reason: str | None = Field(None, max_length=2000)
    revision: int | None = Field(None, ge=1, description="The revision you saw; a newer one answers 409")


class StateRequest(BaseModel):
    state: str = Field(max_length=16, description="new, assigned, responded, waiting, resolved or closed")
    reason: str | None = Field(None, max_length=2000)
    revision: int | None = Field(None, ge=1, description="The revision you saw; a newer one answers 409")


class AuthorityRequest(BaseModel):
    kind: OfferKind
    amount: float | None = Field(None, description="For refunds and goodwill credit, in the workspace currency")


class AuthorityRead(BaseModel):
    allowed: bool
    reason: str
    approvers: list[str] = Field(description="Roles whose own authority covers the offer, smallest limit first")
    roles: list[str] = Field(description="The caller's roles the decision was made for")


def _assignee_filter(session: Session, caller: Caller, assignee: str | None) -> dict[str, Any]:
    if assignee is None:
        return {}
    if assignee == "none":
        return {"unassigned": True}
    if assignee == "me":
        if caller.actor.user_id is None:
            raise InvalidInput("'me' needs a personal token; this token acts for no user", field="assignee")
        return {"assignee_id": caller.actor.user_id}
    found = accounts_service.users_by_email(session=session, emails=[assignee])
    user = next(iter(found.values()), None)
    if user is None or not accounts_service.roles_of(session=session, workspace_id=caller.workspace.id,
                                                     user_id=user.id):
        raise InvalidInput(f"no member of this workspace has the e-mail {assignee!r}", field="assignee")
    return {"assignee_id": user.id}


@router.get("/queue", response_model=QueuePage, summary="Open work, most urgent first")
def list_queue(
    caller: CallerDep,
    session: ReadSessionDep,
    services: ServicesDep,
    queue: Annotated[str | None, Query(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    assignee: Annotated[str | None, Query(max_length=254, description="An e-mail, `me` or `none`")] = None,
    state: Annotated[list[str] | None, Query(description="Repeat for several; default: every open state")] = None,
    flag: Literal["green", "yellow", "red"] | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
) -> QueuePage:
    """Return work ordered by SLA urgency: overdue first, then by the earliest due time, then priority and age."""
    caller.require("mentions:read")
    if queue is not None:
        queues = services.workflow(session, caller.workspace.id).queues
        if queue not in queues:
            raise InvalidInput(f"unknown queue {queue!r}; queues are {', '.join(sorted(queues))}", field="queue")
    where = queries.QueueFilter(
        queue=queue,
        states=tuple(state) if state else OPEN_STATES,
        flag=flag,
        **_assignee_filter(session, caller, assignee),
    )
    now = utcnow()
    rows = queries.list_queue(session, workspace_id=caller.workspace.id, where=where, limit=limit, now=now)
    return QueuePage(now=now, items=[QueueItem.model_validate(row) for row in rows])


@router.get("/mentions/{mention_id}/work", response_model=WorkDetail, summary="A mention's work item")
def get_work(caller: CallerDep, session: ReadSessionDep, services: ServicesDep, mention_id: MentionId) -> WorkDetail:
    """Return the item's state, assignee, recommended action with the assessment path, clocks and audit trail."""
    caller.require("mentions:read")
    runtime = services.workflow(session, caller.workspace.id)
    detail = queries.work_detail(
        session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id, now=utcnow()
    )
    return WorkDetail.model_validate(detail)


@router.post("/mentions/{mention_id}/assign", response_model=WorkDetail, summary="Assign or unassign a mention")
def assign(
    caller: CallerDep, db: DbDep, services: ServicesDep, mention_id: MentionId, body: AssignRequest
) -> WorkDetail:
    """Give the mention to a member who may take its queue's work, or back to the queue with `null`.

    Taking it yourself needs `assign_self`; giving it to someone else needs `assign`.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        now = utcnow()
        actions.assign(
            session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id,
            assignee_email=body.assignee, actor=caller.actor, reason=body.reason, now=now,
            expected_revision=body.revision,
        )
        detail = queries.work_detail(session, runtime=runtime, workspace_id=caller.workspace.id,
                                     mention_id=mention_id, now=now)
    return WorkDetail.model_validate(detail)


@router.post("/mentions/{mention_id}/state", response_model=WorkDetail, summary="Move a mention to another state")
def change_state(
    caller: CallerDep, db: DbDep, services: ServicesDep, mention_id: MentionId, body: StateRequest
) -> WorkDetail:
    """Mark it responded, waiting on the customer, resolved or closed, or reopen it; clocks follow.

    A move the state machine does not allow answers 422 naming the states it can go to.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        now = utcnow()
        actions.change_state(
            session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id,
            to_state=body.state, actor=caller.actor, reason=body.reason, now=now, expected_revision=body.revision,
        )
        detail = queries.work_detail(session, runtime=runtime, workspace_id=caller.workspace.id,
                                     mention_id=mention_id, now=now)
    return WorkDetail.model_validate(detail)


@router.post("/authority/check", response_model=AuthorityRead, summary="May I offer this?")
def authority_check(
    caller: CallerDep, session: ReadSessionDep, services: ServicesDep, body: AuthorityRequest
) -> AuthorityRead:
    """Say whether the caller's roles may make the offer alone, why, and which roles could approve it."""
    caller.require("mentions:read")
    roles = services.playbook(session, caller.workspace.id).playbook.roles
    decision = check_authority(roles, caller.actor.roles, Offer(body.kind, body.amount))
    return AuthorityRead(allowed=decision.allowed, reason=decision.reason, approvers=list(decision.approvers),
                         roles=sorted(caller.actor.roles))
