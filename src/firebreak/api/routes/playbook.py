"""A workspace's playbook over HTTP: read the one in force, check or upload YAML, see history, roll back.

An upload is validated in full before anything changes; a refused one answers 422 with every problem
as "file:line: field: message" and the playbook in force stays in force. An accepted one applies to
this process at once (the cache is told) and to other workers within seconds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.api.bodies import read_limited
from firebreak.api.deps import Caller, CallerDep, DbDep, ReadSessionDep, ServicesDep, SettingsDep
from firebreak.api.errors import ApiError, OrjsonResponse
from firebreak.playbook import service as playbook_service
from firebreak.playbook.loader import DEFAULT_PLAYBOOK, PlaybookError, parse_playbook
from firebreak.playbook.models import PlaybookVersion
from firebreak.routing import permits
from firebreak.services import Services
from firebreak.settings import Settings

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["playbook"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {kind: {"schema": {"type": "string", "description": "Playbook YAML"}} for kind in YAML_TYPES},
    }
}
FileName = Annotated[
    str,
    Query(min_length=1, max_length=200, pattern=r"^[\w.\-/]+$",
          description="Names the upload in problems (`brand.yaml:12: ...`)"),
]


class PlaybookRead(BaseModel):
    version: str = Field(description="Declared version plus content hash")
    digest: str
    source: str
    default: bool = Field(description="True when the deployment's playbook is in force (no upload is active)")
    version_id: int | None = Field(description="The uploaded version in force; null for the deployment default")
    comment: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None


class PlaybookVersionRead(BaseModel):
    version_id: int
    version: str
    digest: str
    source: str
    active: bool
    comment: str | None
    created_at: datetime
    created_by: str


class PlaybookCheck(BaseModel):
    ok: bool
    version: str | None = None
    digest: str | None = None
    problems: list[str] = Field(default_factory=list, description="Each as 'file:line: field: message'")
    warnings: list[str] = Field(default_factory=list, description="Loads, but probably a mistake")


def _version_read(row: PlaybookVersion) -> PlaybookRead:
    return PlaybookRead(version=row.version, digest=row.digest, source=row.source, default=False, version_id=row.id,
                        comment=row.comment, created_at=row.created_at, created_by=row.created_by)


def _active_row(session: Session, workspace_id: int) -> PlaybookVersion | None:
    return session.scalar(select(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                        PlaybookVersion.active.is_(True)))


def _refusal_response(error: PlaybookError) -> OrjsonResponse:
    count = len(error.problems)
    message = (f"the playbook was refused ({count} problem{'s' if count != 1 else ''}); "
               "the playbook in force is unchanged")
    body = {"error": {"code": "invalid_playbook", "message": message, "problems": error.problems}}
    return OrjsonResponse(body, status_code=422)


def _require_editor(session: Session, services: Services, caller: Caller) -> None:
    """Refuse unless the token may write and its actor's roles may edit the playbook in force."""
    caller.require("workflow:write")
    roles = services.playbook(session, caller.workspace.id).playbook.roles
    if not permits(roles, caller.actor.roles, "edit_playbook"):
        have = ", ".join(sorted(caller.actor.roles)) or "no role"
        raise ApiError(403, "forbidden", f"{caller.actor.name} ({have}) may not change the playbook: it needs the "
                                         "'edit_playbook' permission")


async def _yaml_body(request: Request, settings: Settings, filename: str) -> str:
    """Read a size-limited YAML body as text; other content types are refused, non-UTF-8 bytes are a problem."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in YAML_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"send the playbook as YAML (Content-Type {' or '.join(YAML_TYPES[::2])}), got "
                       f"{content_type or 'none'!r}")
    limit = min(settings.max_body_bytes, playbook_service.MAX_PLAYBOOK_BYTES)
    body = await read_limited(request, limit)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookError([f"{filename}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def _deployment_text(settings: Settings, services: Services) -> str:
    """The YAML of the deployment's playbook, as loaded (refused if the file changed since)."""
    if settings.playbook_path is None:
        text = resources.files("firebreak.playbook.defaults").joinpath(DEFAULT_PLAYBOOK).read_text("utf-8")
    else:
        try:
            text = settings.playbook_path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiError(409, "conflict", f"{settings.playbook_path} can no longer be read since this server "
                                            f"loaded it ({exc})") from None
    if hashlib.sha256(text.encode()).hexdigest() != services.playbooks.default.digest:
        raise ApiError(409, "conflict", f"{services.playbooks.default.source} changed since this server loaded it; "
                                        "restart the server to load the new text")
    return text


@router.get("/playbook", response_model=PlaybookRead, summary="The playbook in force",
            responses={200: {"content": {"text/yaml": {}}, "description": "JSON, or the YAML with ?format=yaml"}})
def get_playbook(
    caller: CallerDep,
    session: ReadSessionDep,
    services: ServicesDep,
    settings: SettingsDep,
    as_format: Annotated[Literal["json", "yaml"], Query(alias="format")] = "json",
) -> PlaybookRead | Response:
    """Return which playbook the workspace runs (an upload or the deployment default), or its YAML text."""
    caller.require("mentions:read")
    row = _active_row(session, caller.workspace.id)
    if row is not None:
        found = _version_read(row)
        text = row.text if as_format == "yaml" else None
    else:
        default = services.playbooks.default
        found = PlaybookRead(version=default.version, digest=default.digest, source=default.source, default=True,
                             version_id=None)
        text = _deployment_text(settings, services) if as_format == "yaml" else None
    if text is None:
        return found
    return Response(text, media_type="text/yaml; charset=utf-8", headers={"X-Playbook-Version": found.version})


@router.put("/playbook", status_code=201, response_model=PlaybookRead, summary="Upload and apply a playbook",
            openapi_extra=YAML_BODY,
            responses={403: {"description": "No edit_playbook permission"}, 413: {"description": "Body too large"},
                       415: {"description": "Not YAML"}, 422: {"description": "Invalid playbook (problems listed)"}})
async def put_playbook(
    caller: CallerDep,
    session: ReadSessionDep,
    request: Request,
    db: DbDep,
    services: ServicesDep,
    settings: SettingsDep,
    comment: Annotated[str | None, Query(max_length=2000)] = None,
    filename: FileName = "playbook.yaml",
) -> PlaybookRead | OrjsonResponse:
    """Validate the YAML and make it the workspace's playbook from now on; a refused one changes nothing."""
    await run_in_threadpool(_require_editor, session, services, caller)

    def apply(text: str) -> PlaybookRead:
        with db.write() as writer:
            row = playbook_service.apply_playbook(
                session=writer, workspace_id=caller.workspace.id, text=text, source=filename,
                actor=caller.actor.name, comment=comment, user_id=caller.actor.user_id,
            )
            found = _version_read(row)
        services.playbooks.forget(caller.workspace.id)
        return found

    try:
        return await run_in_threadpool(apply, await _yaml_body(request, settings, filename))
    except PlaybookError as exc:
        return _refusal_response(exc)


@router.post("/playbook/check", response_model=PlaybookCheck, summary="Validate a playbook without applying it",
             openapi_extra=YAML_BODY)
async def check_playbook(
    caller: CallerDep, request: Request, settings: SettingsDep, filename: FileName = "playbook.yaml"
) -> PlaybookCheck:
    """Say whether the YAML would be accepted, listing every problem and warning; nothing changes."""
    caller.require("mentions:read")
    try:
        text = await _yaml_body(request, settings, filename)
        loaded = await run_in_threadpool(parse_playbook, text, source=filename)
    except PlaybookError as exc:
        return PlaybookCheck(ok=False, problems=exc.problems)
    book = loaded.playbook
    return PlaybookCheck(ok=True, version=loaded.version, digest=loaded.digest,
                         warnings=[*book.routing.warnings(), *book.sla.warnings()])


@router.get("/playbook/history", response_model=list[PlaybookVersionRead], summary="Uploaded versions, newest first")
def playbook_history(caller: CallerDep, session: ReadSessionDep) -> list[PlaybookVersionRead]:
    """Return every version uploaded to the workspace, with the one in force marked `active`."""
    caller.require("mentions:read")
    return [
        PlaybookVersionRead(version_id=row.id, version=row.version, digest=row.digest, source=row.source,
                            active=row.active, comment=row.comment, created_at=row.created_at,
                            created_by=row.created_by)
        for row in playbook_service.history(session=session, workspace_id=caller.workspace.id)
    ]


@router.post("/playbook/versions/{version_id}/activate", response_model=PlaybookRead,
             summary="Put an earlier version back in force (roll back)")
def activate_playbook_version(
    caller: CallerDep, session: ReadSessionDep, db: DbDep, services: ServicesDep,
    version_id: Annotated[int, Path(ge=1)],
) -> PlaybookRead | OrjsonResponse:
    """Make an uploaded version the one in force again; it is validated again first."""
    _require_editor(session, services, caller)
    try:
        with db.write() as writer:
            row = playbook_service.activate_version(session=writer, workspace_id=caller.workspace.id,
                                                    version_id=version_id, actor=caller.actor.name)
            found = _version_read(row)
    except PlaybookError as exc:
        return _refusal_response(exc)
    services.playbooks.forget(caller.workspace.id)
    return found


@router.delete("/playbook", response_model=PlaybookRead, summary="Go back to the deployment's playbook")
def restore_deployment_playbook(
    caller: CallerDep, session: ReadSessionDep, db: DbDep, services: ServicesDep
) -> PlaybookRead:
    """Stop using the workspace's uploaded playbook; the history of uploads is kept for a later rollback."""
    _require_editor(session, services, caller)
    with db.write() as writer:
        playbook_service.use_deployment_default(session=writer, workspace_id=caller.workspace.id,
                                                actor=caller.actor.name)
    services.playbooks.forget(caller.workspace.id)
    default = services.playbooks.default
    return PlaybookRead(version=default.version, digest=default.digest, source=default.source, default=True,
                        version_id=None)
