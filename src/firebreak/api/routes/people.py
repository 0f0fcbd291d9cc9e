"""Who works the workspace: members with their roles, and the playbook's teams with who is on shift and on call."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from firebreak.accounts import service as accounts_service
from firebreak.accounts.models import TeamMember, User
from firebreak.api.deps import CallerDep, ReadSessionDep, ServicesDep
from firebreak.core.clock import utcnow
from firebreak.routing import next_handover, on_call_at

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["people"])


class MemberRead(BaseModel):
    user_id: int
    email: str
    display_name: str
    roles: list[str]
    teams: list[str]


class TeamMemberRead(BaseModel):
    email: str
    display_name: str
    roles: list[str]
    is_lead: bool
    available: bool = Field(description="On shift: given new work when the team is open")
    last_assigned_at: datetime | None


class OnCallRead(BaseModel):
    email: str = Field(description="On call now")
    member: bool = Field(description="Whether that e-mail belongs to a member of this workspace")
    until: datetime = Field(description="The next handover")
    rotation: list[str]
    description: str


class QueueRead(BaseModel):
    id: str
    label: str
    assignment: str
    outside_hours: str
    assignable_roles: list[str]


class TeamRead(BaseModel):
    id: str
    label: str
    calendar: str
    open_now: bool
    queues: list[QueueRead]
    members: list[TeamMemberRead]
    available: list[str] = Field(description="E-mails of members on shift; they get new work while the team is open")
    on_call: OnCallRead | None


class TeamsPage(BaseModel):
    now: datetime
    playbook_version: str
    teams: list[TeamRead]


@router.get("/members", response_model=list[MemberRead], summary="Members with their roles and teams")
def list_members(caller: CallerDep, session: ReadSessionDep) -> list[MemberRead]:
    """Return every member of the workspace by e-mail."""
    caller.require("mentions:read")
    return [
        MemberRead(user_id=m.user_id, email=m.email, display_name=m.display_name, roles=list(m.roles),
                   teams=list(m.teams))
        for m in accounts_service.workspace_members(session=session, workspace_id=caller.workspace.id)
    ]


@router.get("/teams", response_model=TeamsPage, summary="Teams and queues with who is on shift and on call")
def list_teams(caller: CallerDep, session: ReadSessionDep, services: ServicesDep) -> TeamsPage:
    """Return the playbook's teams with their queues, members, who is available now and who is on call."""
    caller.require("mentions:read")
    workspace_id = caller.workspace.id
    runtime = services.workflow(session, workspace_id)
    now = utcnow()
    people = accounts_service.workspace_members(session=session, workspace_id=workspace_id)
    roles = {m.user_id: list(m.roles) for m in people}
    member_emails = {m.email for m in people}
    by_team: dict[str, list[TeamMemberRead]] = {}
    for member, email, name in session.execute(
        select(TeamMember, User.email, User.display_name).join(User, User.id == TeamMember.user_id)
        .where(TeamMember.workspace_id == workspace_id).order_by(TeamMember.team, User.email)
    ):
        by_team.setdefault(member.team, []).append(TeamMemberRead(
            email=email, display_name=name, roles=roles.get(member.user_id, []), is_lead=member.is_lead,
            available=member.available, last_assigned_at=member.last_assigned_at,
        ))
    teams = []
    for spec in runtime.teams.values():
        open_now = runtime.calendar(spec.calendar).is_open(now)
        members = by_team.get(spec.id, [])
        on_call = None
        if spec.on_call is not None:
            email = on_call_at(spec.on_call, now)
            on_call = OnCallRead(email=email, member=email in member_emails, until=next_handover(spec.on_call, now),
                                 rotation=list(spec.on_call.rotation), description=spec.on_call.describe())
        teams.append(TeamRead(
            id=spec.id, label=spec.label, calendar=spec.calendar, open_now=open_now,
            queues=[QueueRead(id=q.id, label=q.label, assignment=q.assignment, outside_hours=q.outside_hours,
                              assignable_roles=list(q.assignable_roles))
                    for q in runtime.queues.values() if q.team == spec.id],
            members=members,
            available=[m.email for m in members if m.available],
            on_call=on_call,
        ))
    return TeamsPage(now=now, playbook_version=runtime.version, teams=teams)
