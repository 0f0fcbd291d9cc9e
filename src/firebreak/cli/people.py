"""People commands: users and their roles in a workspace, and their places in the playbook's teams.

These act as the local operator `cli` with the admin role: whoever has a shell on the server can
already read the database, so the command line does not ask them to prove more.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts_service
from firebreak.accounts.models import TeamMember, User
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.services import Services
from firebreak.workflow.models import OPEN_STATES, WorkItem
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces import service as workspace_service

user_app = typer.Typer(help="Create users and grant or revoke their roles in a workspace.", no_args_is_help=True)
team_app = typer.Typer(
    help="Put people in the playbook's teams, mark them away or back, and see who is on call.", no_args_is_help=True
)

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]
EmailArg = Annotated[str, typer.Argument(help="The person's e-mail address.")]
RolesOpt = Annotated[
    list[str], typer.Option("--role", help="agent, lead, communications, legal, executive or admin; repeat.")
]
TeamOpt = Annotated[str, typer.Option("--team", help="A team id from the playbook in force (`firebreak team list`).")]
ACTOR = "cli"


@user_app.command("add")
@clean_errors
def create_user(
    email: EmailArg,
    name: Annotated[str | None, typer.Option(help="Display name (default: the part before the @).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Also make them a member of this workspace.")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Role to grant in --workspace, e.g. admin; repeat.")
    ] = None,
) -> None:
    """Create a user who signs in with a password, and optionally grant roles in a workspace.

    The password is asked for (or read with --password-stdin) and stored as an argon2 hash.
    `--workspace acme --role admin` makes a workspace's first admin in one go.
    """
    address = accounts_service.normalise_email(email)
    roles = [accounts_service.check_role(r) for r in role or []]
    if roles and workspace is None:
        raise typer.BadParameter("--role needs --workspace: roles are held in a workspace")
    if workspace is not None and not roles:
        raise typer.BadParameter("--workspace needs at least one --role, e.g. --role admin")
    with database() as db:
        with db.read() as session:
            # Before asking for a password: a typo in the workspace should not cost typing it twice.
            ws_id = workspace_service.get_workspace(session=session, slug=workspace).id if workspace else None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt(f"Password for {address}", hide_input=True, confirmation_prompt=True)
        with db.write() as session:
            user = accounts_service.create_user(session=session, email=address, display_name=name,
                                                password=password, actor=ACTOR)
            if ws_id is not None:
                for granted in roles:
                    accounts_service.grant_role(session=session, workspace_id=ws_id, user=user, role=granted,
                                                actor=ACTOR)
            user_id = user.id
    out.print(f"Created user {address} (id {user_id}).")
    if roles:
        out.print(f"Granted {', '.join(roles)} in {workspace}.")


@user_app.command("grant")
@clean_errors
def user_grant(email: EmailArg, workspace: WorkspaceOpt, role: RolesOpt) -> None:
    """Give a user one or more roles in a workspace (this makes them a member of it)."""
    roles = [accounts_service.check_role(r) for r in role]
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        user = accounts_service.get_user(session=session, email=email)
        for granted in roles:
            accounts_service.grant_role(session=session, workspace_id=ws.id, user=user, role=granted, actor=ACTOR)
        held = accounts_service.roles_of(session=session, workspace_id=ws.id, user_id=user.id)
    out.print(f"{user.email} now holds {_listing(held)} in {workspace}.")


@user_app.command("revoke")
@clean_errors
def user_revoke(email: EmailArg, workspace: WorkspaceOpt, role: RolesOpt) -> None:
    """Take roles away from a user in a workspace; without any role they are no longer a member."""
    roles = [accounts_service.check_role(r) for r in role]
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        user = accounts_service.get_user(session=session, email=email)
        held = accounts_service.roles_of(session=session, workspace_id=ws.id, user_id=user.id)
        missing = [r for r in roles if r not in held]
        if missing:
            raise InvalidInput(f"{user.email} does not hold {_listing(missing)} in {workspace} "
                               f"(they hold {_listing(held) if held else 'no role'})", field="role")
        for revoked in roles:
            accounts_service.revoke_role(session=session, workspace_id=ws.id, user=user, role=revoked, actor=ACTOR)
        left = held.difference(roles)
        teams = _teams_of(session, ws.id, user.id)
    if left:
        out.print(f"{user.email} now holds {_listing(left)} in {workspace}.")
        return
    out.print(f"{user.email} holds no role in {workspace} any more and is no longer a member.")
    if teams:
        console.print(f"They are still listed in team(s) {', '.join(teams)} but get no work there; "
                      f"remove them with: firebreak team leave {user.email} -w {workspace} --team TEAM")


@user_app.command("list")
@clean_errors
def user_list(workspace: WorkspaceOpt) -> None:
    """List a workspace's members with their roles and teams."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        members = accounts_service.workspace_members(session=session, workspace_id=ws.id)
    if not members:
        out.print(f"{workspace} has no members yet: firebreak user grant EMAIL -w {workspace} --role ROLE")
        return
    table = Table("email", "name", "roles", "teams")
    for member in members:
        table.add_row(member.email, escape(member.display_name), ", ".join(member.roles), ", ".join(member.teams))
    out.print(table)


@team_app.command("join")
@clean_errors
def team_join(
    email: EmailArg,
    workspace: WorkspaceOpt,
    team: TeamOpt,
    lead: Annotated[bool, typer.Option("--lead", help="They lead the team (escalations reach them).")] = False,
) -> None:
    """Put a workspace member in a team of the playbook in force, or change whether they lead it."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        _check_team(_runtime(session, ws.id), team)
        user = accounts_service.get_user(session=session, email=email)
        accounts_service.join_team(session=session, workspace_id=ws.id, user=user, team=team, lead=lead, actor=ACTOR)
    out.print(f"{user.email} is in team {team}{' as its lead' if lead else ''}.")


@team_app.command("leave")
@clean_errors
def team_leave(email: EmailArg, workspace: WorkspaceOpt, team: TeamOpt) -> None:
    """Take a person out of a team; work already assigned to them stays theirs."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        user = accounts_service.get_user(session=session, email=email)
        teams = _teams_of(session, ws.id, user.id)
        if team not in teams:
            raise InvalidInput(f"{user.email} is not in team {team!r} (their teams: {', '.join(teams) or 'none'})",
                               field="team")
        accounts_service.leave_team(session=session, workspace_id=ws.id, user=user, team=team, actor=ACTOR)
    out.print(f"{user.email} left team {team}.")


@team_app.command("away")
@clean_errors
def team_away(email: EmailArg, workspace: WorkspaceOpt) -> None:
    """Mark a person off shift in all their teams: they get no new work until `team back`."""
    _set_available(email, workspace, available=False)


@team_app.command("back")
@clean_errors
def team_back(email: EmailArg, workspace: WorkspaceOpt) -> None:
    """Mark a person on shift again in all their teams, so new work reaches them."""
    _set_available(email, workspace, available=True)


def _set_available(email: str, workspace: str, *, available: bool) -> None:
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        user = accounts_service.get_user(session=session, email=email)
        changed = accounts_service.set_available(session=session, workspace_id=ws.id, user=user, available=available,
                                                 actor=ACTOR)
    state = "back on shift" if available else "away (no new work)"
    out.print(f"{user.email} is {state} in {changed} team(s) of {workspace}.")


@team_app.command("list")
@clean_errors
def team_list(workspace: WorkspaceOpt) -> None:
    """Show the playbook's teams and queues with their members, who is on shift and who is on call now."""
    now = utcnow()
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = _runtime(session, ws.id)
        roster = session.execute(
            select(TeamMember.team, User.email, User.active, TeamMember.is_lead, TeamMember.available)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.workspace_id == ws.id)
            .order_by(TeamMember.team, User.email)
        ).all()
        load = Counter(dict(session.execute(
            select(User.email, func.count()).join(WorkItem, WorkItem.assignee_id == User.id)
            .where(WorkItem.workspace_id == ws.id, WorkItem.state.in_(OPEN_STATES))
            .group_by(User.email)
        ).all()))
    out.print(f"Playbook {runtime.version} in {workspace}, at {now:%Y-%m-%d %H:%M} UTC")
    for team_id, team in runtime.teams.items():
        calendar = runtime.calendar(team.calendar)
        opens = None if calendar.is_open(now) else calendar.next_open(now)
        hours = f"closed, opens {opens:%Y-%m-%d %H:%M} UTC" if opens else "open now"
        on_call = runtime.on_call(team, now)
        out.print()
        out.print(f"[bold]{team_id}[/bold] {escape(team.label)} · calendar {team.calendar} ({hours}) · "
                  f"on call now: {on_call or 'no rotation'}")
        for queue in runtime.queues.values():
            if queue.team == team_id:
                out.print(f"  queue {queue.id}: {queue.assignment.replace('_', '-')}, outside hours "
                          f"{queue.outside_hours.replace('_', '-')}, for {', '.join(queue.assignable_roles)}")
        members = [row for row in roster if row.team == team_id]
        if not members:
            out.print(f"  no members: firebreak team join EMAIL -w {workspace} --team {team_id}")
            continue
        table = Table("member", "lead", "shift", "open items", box=None, padding=(0, 2))
        for row in members:
            shift = "on" if row.available and row.active else ("deactivated" if not row.active else "away")
            table.add_row(row.email + (" (on call)" if row.email == on_call else ""), "lead" if row.is_lead else "",
                          shift, str(load.get(row.email, 0)))
        out.print(table)
    retired = sorted({row.team for row in roster} - set(runtime.teams))
    if retired:
        console.print(f"Members are still listed in team(s) no longer in the playbook: {', '.join(retired)}")


def _runtime(session: Session, workspace_id: int) -> WorkflowRuntime:
    return Services(settings()).workflow(session, workspace_id)


def _check_team(runtime: WorkflowRuntime, team: str) -> None:
    if team not in runtime.teams:
        raise InvalidInput(f"unknown team {team!r}; the teams of playbook {runtime.version} are "
                           f"{', '.join(runtime.teams)}", field="team")


def _teams_of(session: Session, workspace_id: int, user_id: int) -> list[str]:
    return list(session.scalars(select(TeamMember.team).where(
        TeamMember.workspace_id == workspace_id, TeamMember.user_id == user_id).order_by(TeamMember.team)))


def _listing(roles: Iterable[str]) -> str:
    return ", ".join(sorted(roles))


def register(app: typer.Typer) -> None:
    """Attach the people commands to the main app: `user`, `team`, and `createuser` (= `user add`)."""
    app.add_typer(user_app, name="user")
    app.add_typer(team_app, name="team")
    app.command("createuser")(create_user)
