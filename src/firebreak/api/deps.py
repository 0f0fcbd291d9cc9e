"""Request dependencies: the database, settings, the worker and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.orm import Session

from firebreak.accounts.models import User
from firebreak.api.errors import ApiError
from firebreak.core.errors import NotFound, Unauthorized
from firebreak.db.engine import Database
from firebreak.services import Services
from firebreak.settings import Settings
from firebreak.workflow.actions import Actor
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import Workspace
from firebreak.workspaces.service import TokenGrant


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.read() as session:
        yield session


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
ReadSessionDep = Annotated[Session, Depends(read_session)]
WorkspaceSlug = Annotated[str, Path(description="Workspace slug", min_length=1, max_length=64)]


def find_workspace(*, session: Session, slug: str) -> Workspace | None:
    """Return the workspace with this slug, or None; a slug no workspace could have is not even looked up."""
    # Path segments may hold anything (NUL included, which PostgreSQL refuses to compare).
    if not workspace_service.SLUG_RE.match(slug):
        return None
    try:
        return workspace_service.get_workspace(session=session, slug=slug)
    except NotFound:
        return None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, resolved to one workspace.

    A personal token acts as its user with the user's roles in the workspace. An integration token
    acts with fixed roles: `admin` for an admin-scoped token, `agent` for one with `workflow:write`.
    """

    workspace: Workspace
    grant: TokenGrant
    actor: Actor

    def require(self, scope: str) -> None:
        if scope not in self.grant.scopes and "admin" not in self.grant.scopes:
            raise ApiError(403, "forbidden", f"this token lacks the {scope!r} scope")


def _actor(session: Session, grant: TokenGrant, workspace: Workspace) -> Actor:
    if grant.user_id is None:
        roles = {"admin"} if "admin" in grant.scopes else {"agent"} if "workflow:write" in grant.scopes else set()
        return Actor(f"token:{grant.name}", frozenset(roles))
    user = session.get(User, grant.user_id)
    if user is None or not user.active:
        raise ApiError(401, "unauthorized", "the user of this token is deactivated")
    actor = Actor.for_user(session, workspace.id, user)
    if not actor.roles:
        raise ApiError(403, "forbidden", f"{user.email} is no longer a member of this workspace")
    return actor


def current_caller(
    workspace: WorkspaceSlug,
    session: ReadSessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    """Resolve the bearer token and check it belongs to the workspace in the path."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>`")
    try:
        grant = workspace_service.verify_token(session=session, secret=authorization[7:].strip())
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    ws = find_workspace(session=session, slug=workspace)
    # A token never learns whether another workspace exists: same answer as a missing one.
    if ws is None or ws.id != grant.workspace_id:
        raise ApiError(404, "not_found", f"workspace {workspace!r} does not exist")
    return Caller(ws, grant, _actor(session, grant, ws))


CallerDep = Annotated[Caller, Depends(current_caller)]
