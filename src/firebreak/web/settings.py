"""Workspace settings: the playbook in force and its history, people, teams, channels and API tokens.

Every member may read these pages; changing the playbook needs the `edit_playbook` permission, and people,
teams, channels and tokens need `manage_users` (both the admin's alone in the default playbook), so a
read-only visitor is told which permission they lack. Secrets (a generated password, a webhook secret, an
API token) appear once, in the answer to the form that made them, and are never shown again.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.accounts.models import ROLE_NAMES, TeamMember, User
from firebreak.channels import service as channel_service
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.core.types import ChannelKind
from firebreak.playbook import service as playbook_service
from firebreak.playbook.loader import DEFAULT_PLAYBOOK, PlaybookError, parse_playbook
from firebreak.playbook.models import PlaybookVersion
from firebreak.routing import permits
from firebreak.settings import Settings
from firebreak.web.common import (
    Form,
    FormDep,
    PageError,
    Place,
    PlaceDep,
    VisitDep,
    act,
    check_csrf,
    db,
    message_of,
    read_form,
    redirect,
    render_page,
    require,
    runtime_for,
    services,
    status_of,
)
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import ApiToken

router = APIRouter(include_in_schema=False)

EDIT_PLAYBOOK = "edit_playbook"
MANAGE = "manage_users"
# A playbook travels url-encoded in a textarea (newlines and punctuation take three bytes each), so this
# route reads a larger body than other forms: room for a playbook ten times the shipped one.
PLAYBOOK_FORM_BYTES = 512 * 1024
FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
PROBLEM = re.compile(r"^:(\d+|\?): (.*)$", re.S)
FEED_KINDS = ("rss", "news", "blog", "forum")
PAGES = (("playbook", "Playbook"), ("people", "People"), ("teams", "Teams"), ("channels", "Channels"),
         ("tokens", "API tokens"))


# ---------------------------------------------------------------------------------------------- shared


@dataclass(frozen=True, slots=True)
class Rights:
    """What the visitor may change here, and the sentence that tells them why not."""

    playbook: bool
    manage: bool
    roles: str

    def why_not(self, permission: str) -> str:
        return f"Read-only: changing this needs the {permission!r} permission, which your roles ({self.roles}) " \
               "do not grant."


def _rights(request: Request, session: Session, where: Place) -> Rights:
    roles = runtime_for(request, session, where).roles
    return Rights(permits(roles, where.roles, EDIT_PLAYBOOK), permits(roles, where.roles, MANAGE),
                  ", ".join(sorted(where.roles)) or "none")


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _page(request: Request, where: Place, template: str, *, title: str, page: str, rights: Rights,
          status: int = 200, **context: Any) -> Response:
    return render_page(request, where, template, title=title, section="settings", status=status, page=page,
                       pages=PAGES, rights=rights, **context)


def _base(where: Place) -> str:
    return f"/w/{quote(where.slug)}/settings"


def _field_error(refusal: Exception, known: tuple[str, ...], fallback: str) -> dict[str, str]:
    """The refusal's message keyed by the form field it names (or `fallback` when it names none we show)."""
    named = getattr(refusal, "field", None)
    return {named if named in known else fallback: message_of(refusal)}


# ---------------------------------------------------------------------------------------------- overview


@router.get("/w/{slug}/settings")
def overview(request: Request, where: PlaceDep) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        in_force = _in_force(request, session, where.workspace_id, with_text=False)
        ws = where.workspace_id
        counts = {
            "people": len(accounts.workspace_members(session=session, workspace_id=ws)),
            "teams": len(runtime_for(request, session, where).teams),
            "channels": len(channel_service.channels_by_slug(session=session, workspace_id=ws)),
            "tokens": session.scalar(select(func.count()).select_from(ApiToken).where(
                ApiToken.workspace_id == ws, ApiToken.revoked_at.is_(None))) or 0,
        }
    return _page(request, where, "settings.html", title="Settings", page="", rights=rights, in_force=in_force,
                 counts=counts)


# ---------------------------------------------------------------------------------------------- playbook


@dataclass(frozen=True, slots=True)
class InForce:
    """The playbook a workspace runs: an uploaded version, or the deployment's (FIREBREAK_PLAYBOOK_PATH or shipped)."""

    version: str
    source: str
    uploaded: bool
    version_id: int | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    comment: str | None = None
    text: str | None = None


def _in_force(request: Request, session: Session, workspace_id: int, *, with_text: bool = True) -> InForce:
    row = session.scalar(select(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                       PlaybookVersion.active.is_(True)))
    if row is not None:
        return InForce(row.version, row.source, True, row.id, row.created_by, row.created_at, row.comment,
                       row.text if with_text else None)
    default = services(request).playbooks.default
    return InForce(default.version, default.source, False, text=_deployment_text(request) if with_text else None)


def _deployment_text(request: Request) -> str | None:
    """The deployment playbook's YAML as this server loaded it; None if the file is gone or changed since."""
    path = _settings(request).playbook_path
    try:
        if path is None:
            text = resources.files("firebreak.playbook.defaults").joinpath(DEFAULT_PLAYBOOK).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(text.encode()).hexdigest() != services(request).playbooks.default.digest:
        return None
    return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a playbook was refused, split so the page can link it to its line."""

    line: int | None
    text: str


@dataclass(slots=True)
class NumberedLine:
    number: int
    text: str
    problems: list[str] = field(default_factory=list)


def _problems(error: PlaybookError, source: str) -> list[Problem]:
    found = []
    for problem in error.problems:
        rest = problem[len(source):] if problem.startswith(source) else problem
        match = PROBLEM.match(rest)
        if match is None:
            found.append(Problem(None, rest.lstrip(": ")))
        else:
            found.append(Problem(int(match[1]) if match[1].isdigit() else None, match[2]))
    return found


def _numbered(text: str, problems: list[Problem]) -> tuple[list[NumberedLine], list[Problem]]:
    """The submitted text line by line with each problem beside its line; a line past the end means the last."""
    lines = [NumberedLine(number, line) for number, line in enumerate(text.split("\n"), start=1)]
    placed = []
    for problem in problems:
        if problem.line is None:
            placed.append(problem)
            continue
        line = min(max(problem.line, 1), len(lines))
        lines[line - 1].problems.append(problem.text)
        placed.append(Problem(line, problem.text))
    return lines, placed


def _file_name(offered: str) -> str:
    """The uploaded file's name, as the source errors and history name it; only plain characters are kept."""
    cleaned = FILE_NAME.sub("-", offered.strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("-.")[:100]
    return cleaned or "playbook.yaml"


def _playbook_page(request: Request, where: Place, *, status: int = 200, submitted: str | None = None,
                   source: str | None = None, comment: str = "", problems: list[Problem] | None = None,
                   applied: int | None = None) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        in_force = _in_force(request, session, where.workspace_id)
    if source is None:  # an edit keeps the name of the upload it started from
        source = in_force.source if in_force.uploaded else "playbook.yaml"
    numbered: list[NumberedLine] = []
    placed: list[Problem] = []
    if problems is not None:
        numbered, placed = _numbered(submitted or "", problems)
    elif not rights.playbook and in_force.text is not None:
        numbered, _ = _numbered(in_force.text, [])
    return _page(request, where, "settings_playbook.html", title="Playbook", page="playbook", rights=rights,
                 status=status, in_force=in_force, why_not=rights.why_not(EDIT_PLAYBOOK),
                 text=(in_force.text or "") if submitted is None else submitted, source=source, comment=comment,
                 problems=placed, numbered=numbered, refused=problems is not None,
                 applied=applied is not None and applied == in_force.version_id)


@router.get("/w/{slug}/settings/playbook")
def playbook_page(request: Request, where: PlaceDep, applied: str = "") -> Response:
    return _playbook_page(request, where, applied=int(applied) if applied.isdigit() else None)


async def playbook_form(request: Request, current: VisitDep) -> Form:
    """The playbook form: CSRF-checked like every form, with room for the whole YAML text."""
    return check_csrf(current, await read_form(request, PLAYBOOK_FORM_BYTES))


@router.post("/w/{slug}/settings/playbook")
def apply_playbook(request: Request, where: PlaceDep, form: Annotated[Form, Depends(playbook_form)]) -> Response:
    """Validate the submitted YAML and put it in force; a refused text changes nothing and comes back annotated."""
    require(request, where, EDIT_PLAYBOOK, "change the playbook")
    # Browsers send a textarea's line breaks as CRLF; keep the text as it was typed or uploaded.
    text = form.get("text", "").replace("\r\n", "\n")
    source = _file_name(form.get("filename", ""))
    comment = form.get("comment", "").strip()
    try:  # validate before the write transaction: parsing takes a while, and the result is cached for the apply
        parse_playbook(text, source=source)
    except PlaybookError as refused:
        return _playbook_page(request, where, status=422, submitted=text, source=source, comment=comment,
                              problems=_problems(refused, source))
    applied: list[int] = []

    def change(session: Session, _runtime: Any, actor: Any, _now: datetime) -> None:
        version = playbook_service.apply_playbook(session=session, workspace_id=where.workspace_id, text=text,
                                                  source=source, actor=actor.name, comment=comment[:2000] or None,
                                                  user_id=actor.user_id)
        applied.append(version.id)

    refusal = act(request, where, change)
    if refusal is not None:
        problems = (_problems(refusal, source) if isinstance(refusal, PlaybookError)
                    else [Problem(None, message_of(refusal))])
        return _playbook_page(request, where, status=status_of(refusal), submitted=text, source=source,
                              comment=comment, problems=problems)
    services(request).playbooks.forget(where.workspace_id)
    return redirect(f"{_base(where)}/playbook?applied={applied[0]}")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    version_id: int
    version: str
    source: str
    comment: str
    created_by: str
    created_at: datetime
    active: bool
    added: int
    removed: int
    first: bool


def _history_rows(rows: list[PlaybookVersion]) -> list[HistoryRow]:
    """Newest first, each with the lines it added and removed against the version uploaded before it."""
    found = []
    for index, row in enumerate(rows):
        added = removed = 0
        older = rows[index + 1] if index + 1 < len(rows) else None
        if older is not None and older.digest != row.digest:
            for line in difflib.unified_diff(older.text.split("\n"), row.text.split("\n"), lineterm="", n=0):
                if line.startswith("+") and not line.startswith("+++"):
                    added += 1
                elif line.startswith("-") and not line.startswith("---"):
                    removed += 1
        found.append(HistoryRow(row.id, row.version, row.source, row.comment or "", row.created_by, row.created_at,
                                row.active, added, removed, older is None))
    return found


def _history_page(request: Request, where: Place, *, error: str = "", status: int = 200) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        rows = _history_rows(playbook_service.history(session=session, workspace_id=where.workspace_id))
        default = services(request).playbooks.default
    return _page(request, where, "settings_history.html", title="Playbook history", page="playbook", rights=rights,
                 status=status, rows=rows, default_version=default.version, default_source=default.source,
                 on_default=not any(row.active for row in rows), error=error,
                 why_not=rights.why_not(EDIT_PLAYBOOK))


@router.get("/w/{slug}/settings/playbook/history")
def playbook_history(request: Request, where: PlaceDep) -> Response:
    return _history_page(request, where)


@router.post("/w/{slug}/settings/playbook/rollback")
def rollback(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Put an earlier version back in force; it is validated again, so one the code no longer accepts is refused."""
    require(request, where, EDIT_PLAYBOOK, "change the playbook")
    version_id = form.get("version_id", "")
    if not version_id.isdigit():
        raise PageError(404, "Version not found", "Choose a version from the history.")
    refusal = act(request, where, lambda session, _runtime, actor, _now: playbook_service.activate_version(
        session=session, workspace_id=where.workspace_id, version_id=int(version_id), actor=actor.name),
        missing=f"There is no playbook version {version_id} in {where.name}.")
    if refusal is not None:
        problems = refusal.problems if isinstance(refusal, PlaybookError) else [message_of(refusal)]
        return _history_page(request, where, status=status_of(refusal),
                             error=f"Version {version_id} cannot be put back: " + "; ".join(problems))
    services(request).playbooks.forget(where.workspace_id)
    return redirect(f"{_base(where)}/playbook/history")


@router.post("/w/{slug}/settings/playbook/default")
def use_default(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Run the deployment's playbook again; the uploaded versions stay in the history for a later rollback."""
    require(request, where, EDIT_PLAYBOOK, "change the playbook")
    act(request, where, lambda session, _runtime, actor, _now: playbook_service.use_deployment_default(
        session=session, workspace_id=where.workspace_id, actor=actor.name))
    services(request).playbooks.forget(where.workspace_id)
    return redirect(f"{_base(where)}/playbook/history")


# ---------------------------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Added:
    """The notice after adding someone; `password` only when this page made it up (shown this once)."""

    email: str
    created: bool
    password: str | None


def _people_page(request: Request, where: Place, *, status: int = 200, errors: dict[str, str] | None = None,
                 values: dict[str, str] | None = None, row_errors: dict[int, str] | None = None,
                 added: Added | None = None) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        members = accounts.workspace_members(session=session, workspace_id=where.workspace_id)
        roles = runtime_for(request, session, where).roles
        labels = {role: roles.role(role).label or role for role in ROLE_NAMES}
    return _page(request, where, "settings_people.html", title="People", page="people", rights=rights,
                 status=status, members=members, role_names=ROLE_NAMES, role_labels=labels, errors=errors or {},
                 values={"email": "", "name": "", "role": "agent", **(values or {})}, row_errors=row_errors or {},
                 added=added, min_password=accounts.MIN_PASSWORD, why_not=rights.why_not(MANAGE),
                 me=where.user.id)


@router.get("/w/{slug}/settings/people")
def people(request: Request, where: PlaceDep) -> Response:
    return _people_page(request, where)


@router.post("/w/{slug}/settings/people")
def add_person(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Add a member; a new account gets the typed password, or a generated one shown once on the answer."""
    require(request, where, MANAGE, "add people")
    values = {"email": form.get("email", "").strip(), "name": form.get("name", "").strip(),
              "role": form.get("role", "")}
    typed = form.get("password", "")
    password = typed or accounts.new_password()
    added: list[Added] = []

    def change(session: Session, _runtime: Any, actor: Any, _now: datetime) -> None:
        result = accounts.add_member(session=session, workspace_id=where.workspace_id, email=values["email"],
                                     role=values["role"], display_name=values["name"] or None, password=password,
                                     actor=actor.name)
        added.append(Added(result.user.email, result.created, None if typed or not result.created else password))

    refusal = act(request, where, change)
    if refusal is not None:
        return _people_page(request, where, status=status_of(refusal), values=values,
                            errors=_field_error(refusal, ("email", "name", "password", "role"), "email"))
    return _people_page(request, where, status=201, added=added[0])


def _member_change(request: Request, where: Place, user_id: int, change: Any, then: str | None = None) -> Response:
    refusal = act(request, where, change, missing=f"User {user_id} is not a member of {where.name}.")
    if refusal is not None:
        return _people_page(request, where, status=status_of(refusal), row_errors={user_id: message_of(refusal)})
    return redirect(then or f"{_base(where)}/people")


@router.post("/w/{slug}/settings/people/{user_id}/roles")
def change_roles(request: Request, where: PlaceDep, user_id: int, form: FormDep) -> Response:
    require(request, where, MANAGE, "change people's roles")
    roles = form.getlist("role")
    return _member_change(request, where, user_id, lambda session, _runtime, actor, _now: accounts.set_roles(
        session=session, workspace_id=where.workspace_id, user_id=user_id, roles=roles, actor=actor.name))


@router.post("/w/{slug}/settings/people/{user_id}/remove")
def remove_person(request: Request, where: PlaceDep, user_id: int, form: FormDep) -> Response:
    require(request, where, MANAGE, "remove people")
    # Someone who leaves can no longer open this workspace's pages: they go home instead.
    return _member_change(request, where, user_id, lambda session, _runtime, actor, _now: accounts.remove_member(
        session=session, workspace_id=where.workspace_id, user_id=user_id, actor=actor.name),
        then="/" if user_id == where.user.id else None)


@router.post("/w/{slug}/settings/people/{user_id}/active")
def set_active(request: Request, where: PlaceDep, user_id: int, form: FormDep) -> Response:
    """Deactivate (`active=0`) or reactivate (`active=1`) a member's account."""
    require(request, where, MANAGE, "deactivate or reactivate people")
    active = form.get("active") == "1"
    return _member_change(request, where, user_id, lambda session, _runtime, actor, _now: accounts.set_user_active(
        session=session, workspace_id=where.workspace_id, user_id=user_id, active=active, actor=actor.name))


# ---------------------------------------------------------------------------------------------- teams


@dataclass(frozen=True, slots=True)
class TeamPerson:
    user_id: int
    email: str
    name: str
    lead: bool
    available: bool
    active: bool


def _teams_page(request: Request, where: Place, *, status: int = 200, errors: dict[str, str] | None = None) \
        -> Response:
    now = utcnow()
    with db(request).read() as session:
        rights = _rights(request, session, where)
        runtime = runtime_for(request, session, where)
        members = accounts.workspace_members(session=session, workspace_id=where.workspace_id)
        roster: dict[str, list[TeamPerson]] = {}
        for team, user_id, email, name, lead, available, active in session.execute(
            select(TeamMember.team, User.id, User.email, User.display_name, TeamMember.is_lead, TeamMember.available,
                   User.active)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.workspace_id == where.workspace_id).order_by(TeamMember.team, User.email)
        ):
            roster.setdefault(team, []).append(TeamPerson(user_id, email, name, lead, available, active))
        teams = []
        for team_id, spec in runtime.teams.items():
            calendar = runtime.calendar(spec.calendar)
            in_team = roster.get(team_id, [])
            taken = {person.user_id for person in in_team}
            teams.append({
                "id": team_id, "label": spec.label or team_id, "calendar": spec.calendar,
                "open": calendar.is_open(now), "on_call": runtime.on_call(spec, now) if spec.on_call else None,
                "rotation": spec.on_call.describe() if spec.on_call else "",
                "queues": [queue for queue in runtime.queues.values() if queue.team == team_id],
                "people": in_team,
                "candidates": [(str(m.user_id), m.email) for m in members if m.user_id not in taken and m.active],
            })
    retired = {team: people for team, people in roster.items() if team not in runtime.teams}
    return _page(request, where, "settings_teams.html", title="Teams", page="teams", rights=rights, status=status,
                 teams=teams, retired=retired, errors=errors or {}, version=runtime.version,
                 why_not=rights.why_not(MANAGE), me=where.user.id)


@router.get("/w/{slug}/settings/teams")
def teams(request: Request, where: PlaceDep) -> Response:
    return _teams_page(request, where)


def _team_change(request: Request, where: Place, team: str, change: Any) -> Response:
    refusal = act(request, where, change, missing="That person is not a member of this workspace.")
    if refusal is not None:
        return _teams_page(request, where, status=status_of(refusal), errors={team: message_of(refusal)})
    return redirect(f"{_base(where)}/teams")


def _person(session: Session, where: Place, user_id: str | int) -> User:
    """The user the form names, found only among this workspace's people (NotFound for anyone else)."""
    if not str(user_id).isdigit():
        raise InvalidInput("choose a member of this workspace", field="user")
    return accounts.find_person(session=session, workspace_id=where.workspace_id, user_id=int(user_id))


@router.post("/w/{slug}/settings/teams/{team}/members")
def join_team(request: Request, where: PlaceDep, team: str, form: FormDep) -> Response:
    """Put a member in a team of the playbook in force (as its lead with `lead=1`)."""
    require(request, where, MANAGE, "change teams")
    lead = form.get("lead") == "1"

    def change(session: Session, runtime: Any, actor: Any, _now: datetime) -> None:
        if team not in runtime.teams:
            raise PageError(404, "Team not found", f"The playbook in force has no team {team!r}.")
        person = _person(session, where, form.get("user", ""))
        accounts.join_team(session=session, workspace_id=where.workspace_id, user=person, team=team, lead=lead,
                           actor=actor.name)

    return _team_change(request, where, team, change)


@router.post("/w/{slug}/settings/teams/{team}/members/{user_id}/remove")
def leave_team(request: Request, where: PlaceDep, team: str, user_id: int, form: FormDep) -> Response:
    """Take a person out of a team (also of a team the playbook no longer has); their open work stays theirs."""
    require(request, where, MANAGE, "change teams")
    return _team_change(request, where, team, lambda session, _runtime, actor, _now: accounts.leave_team(
        session=session, workspace_id=where.workspace_id, user=_person(session, where, user_id), team=team,
        actor=actor.name))


@router.post("/w/{slug}/settings/teams/availability/{user_id}")
def availability(request: Request, where: PlaceDep, user_id: int, form: FormDep) -> Response:
    """Mark someone on shift (`available=1`) or away in all their teams; people may do it for themselves."""
    if user_id != where.user.id:
        require(request, where, MANAGE, "mark other people away or back")
    available = form.get("available") == "1"
    return _team_change(request, where, "availability", lambda session, _runtime, actor, _now: accounts.set_available(
        session=session, workspace_id=where.workspace_id, user=_person(session, where, user_id), available=available,
        actor=actor.name))


# ---------------------------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class Revealed:
    """A webhook secret on the one page that shows it, with where and how to send."""

    channel: str
    secret: str
    url: str
    created: bool


def _webhook_url(request: Request, where: Place) -> str:
    return f"{_settings(request).base_url}/api/v1/workspaces/{quote(where.slug)}/mentions"


def _channels_page(request: Request, where: Place, *, status: int = 200, errors: dict[str, str] | None = None,
                   values: dict[str, str] | None = None, revealed: Revealed | None = None) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        channels = sorted(channel_service.channels_by_slug(session=session, workspace_id=where.workspace_id).values(),
                          key=lambda channel: channel.slug)
        for channel in channels:
            session.expunge(channel)
    return _page(request, where, "settings_channels.html", title="Channels", page="channels", rights=rights,
                 status=status, channels=channels, kinds=[(kind.value, kind.value) for kind in ChannelKind],
                 feed_kinds=FEED_KINDS, errors=errors or {},
                 values={"kind": "webhook", "slug": "", "name": "", "feed_url": "", **(values or {})},
                 revealed=revealed, webhook_url=_webhook_url(request, where), why_not=rights.why_not(MANAGE))


@router.get("/w/{slug}/settings/channels")
def channels(request: Request, where: PlaceDep) -> Response:
    return _channels_page(request, where)


@router.post("/w/{slug}/settings/channels")
def add_channel(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Add a channel (a polled feed when a feed URL is given) and show its webhook secret once."""
    require(request, where, MANAGE, "add channels")
    values = {name: form.get(name, "").strip() for name in ("kind", "slug", "name", "feed_url")}
    made: list[str] = []

    def change(session: Session, _runtime: Any, actor: Any, _now: datetime) -> None:
        if values["feed_url"]:
            channel = channel_service.add_feed(
                session=session, workspace_id=where.workspace_id, slug=values["slug"], url=values["feed_url"],
                kind=values["kind"], name=values["name"] or None, actor=actor.name,
                interval_seconds=_settings(request).feed_default_interval_seconds)
        else:
            channel = channel_service.create_channel(session=session, workspace_id=where.workspace_id,
                                                     slug=values["slug"], kind=values["kind"],
                                                     name=values["name"] or None, actor=actor.name)
        made.append(channel.webhook_secret or "")

    refusal = act(request, where, change)
    if refusal is not None:
        errors = _field_error(refusal, ("kind", "channel", "name", "url"), "channel")
        return _channels_page(request, where, status=status_of(refusal), values=values, errors=errors)
    return _channels_page(request, where, status=201, revealed=Revealed(
        values["slug"], made[0], _webhook_url(request, where), created=True))


@router.post("/w/{slug}/settings/channels/{channel}/rotate")
def rotate_secret(request: Request, where: PlaceDep, channel: str, form: FormDep) -> Response:
    """Give the channel a new webhook secret: deliveries signed with the old one are refused from now on."""
    require(request, where, MANAGE, "rotate webhook secrets")
    secrets: list[str] = []

    def change(session: Session, _runtime: Any, actor: Any, _now: datetime) -> None:
        found = channel_service.get_channel(session=session, workspace_id=where.workspace_id, slug=channel)
        secrets.append(channel_service.rotate_secret(session=session, channel=found, actor=actor.name))

    refusal = act(request, where, change, missing=f"There is no channel {channel!r} in {where.name}.")
    if refusal is not None:
        return _channels_page(request, where, status=status_of(refusal), errors={"channel": message_of(refusal)})
    return _channels_page(request, where, revealed=Revealed(channel, secrets[0], _webhook_url(request, where),
                                                            created=False))


# ---------------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class NewToken:
    token_id: int
    name: str
    secret: str


def _tokens_page(request: Request, where: Place, *, status: int = 200, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, created: NewToken | None = None) -> Response:
    with db(request).read() as session:
        rights = _rights(request, session, where)
        tokens = workspace_service.list_tokens(session=session, workspace_id=where.workspace_id)
        owners = {user_id: email for user_id, email in session.execute(select(User.id, User.email).where(
            User.id.in_({token.user_id for token in tokens if token.user_id is not None})))}
        rows = [{"id": token.id, "name": token.name, "prefix": token.prefix, "scopes": token.scopes,
                 "created_at": token.created_at, "last_used_at": token.last_used_at, "revoked_at": token.revoked_at,
                 "owner": owners.get(token.user_id) if token.user_id is not None else None} for token in tokens]
    return _page(request, where, "settings_tokens.html", title="API tokens", page="tokens", rights=rights,
                 status=status, tokens=rows, scopes=sorted(workspace_service.SCOPES), errors=errors or {},
                 values={"name": "", "scopes": ["mentions:read"], **(values or {})}, created=created,
                 why_not=rights.why_not(MANAGE))


@router.get("/w/{slug}/settings/tokens")
def tokens(request: Request, where: PlaceDep) -> Response:
    return _tokens_page(request, where)


@router.post("/w/{slug}/settings/tokens")
def create_token(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Make an integration token with the chosen scopes; its secret is on this answer and nowhere else."""
    require(request, where, MANAGE, "create API tokens")
    values: dict[str, Any] = {"name": form.get("name", "").strip(), "scopes": form.getlist("scope")}
    made: list[NewToken] = []

    def change(session: Session, _runtime: Any, actor: Any, _now: datetime) -> None:
        token, secret = workspace_service.create_token(session=session, workspace_id=where.workspace_id,
                                                       name=values["name"], scopes=values["scopes"], actor=actor.name)
        made.append(NewToken(token.id, token.name, secret))

    refusal = act(request, where, change)
    if refusal is not None:
        return _tokens_page(request, where, status=status_of(refusal), values=values,
                            errors=_field_error(refusal, ("name", "scopes"), "name"))
    return _tokens_page(request, where, status=201, created=made[0])


@router.post("/w/{slug}/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, where: PlaceDep, token_id: int, form: FormDep) -> Response:
    require(request, where, MANAGE, "revoke API tokens")
    act(request, where, lambda session, _runtime, actor, _now: workspace_service.revoke_token(
        session=session, workspace_id=where.workspace_id, token_id=token_id, actor=actor.name),
        missing=f"There is no token {token_id} in {where.name}.")
    return redirect(f"{_base(where)}/tokens")
