"""What every page shares: who is asking, the workspace they opened, forms with CSRF, and page responses.

Pages inside a workspace need a signed-in member of it and answer 404 alike for unknown workspaces and
workspaces the user is not in, so a URL reveals nothing about other tenants. Every POST carries the
session's CSRF token (form field `csrf_token`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.accounts.models import User
from firebreak.core.clock import utcnow
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from firebreak.db.engine import Database
from firebreak.routing import permits
from firebreak.services import Services
from firebreak.web import auth
from firebreak.web.sessions import COOKIE_NAME, MAX_AGE, SessionSigner, WebSession, password_mark
from firebreak.web.templating import render
from firebreak.workflow.actions import Actor
from firebreak.workflow.runtime import WorkflowRuntime

MAX_FORM_BYTES = 64 * 1024
MAX_ID = 2**63 - 1  # ids are 64-bit: a bigger number names nothing, and PostgreSQL would refuse to compare it
# Pages load only their own files: no inline script or style, no framing, forms post back to Firebreak.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the pages share: the cookie signer, the failed sign-in counts, and whether cookies are Secure."""

    signer: SessionSigner
    limiter: auth.FailedSignIns
    secure_cookies: bool


class PageError(Exception):
    """Answer with an HTML page saying what went wrong, rather than the API's JSON error."""

    def __init__(self, status: int, heading: str, detail: str) -> None:
        super().__init__(heading)
        self.status, self.heading, self.detail = status, heading, detail


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class SignedIn:
    id: int
    email: str
    display_name: str

    @property
    def label(self) -> str:
        return self.display_name or self.email


@dataclass(frozen=True, slots=True)
class Visit:
    """One request's browser session: `fresh` when this response must set the cookie."""

    session: WebSession
    fresh: bool
    user: SignedIn | None


@dataclass(frozen=True, slots=True)
class Place:
    """A workspace page: the signed-in member, the workspace they opened, and their roles in it."""

    visit: Visit
    user: SignedIn
    workspace_id: int
    slug: str
    name: str
    roles: frozenset[str]


class Form(dict[str, str]):
    """A url-encoded form: `form[name]`/`get` give the last value, `getlist` every value (checkbox lists)."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        super().__init__({name: values[-1] for name, values in lists.items()})
        self.lists = lists

    def getlist(self, name: str) -> list[str]:
        return list(self.lists.get(name, []))


def config(request: Request) -> WebConfig:
    return request.app.state.web  # type: ignore[no-any-return]


def db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def visit(request: Request) -> Visit:
    """The browser's session (a new anonymous one when missing or invalid) and the user it signs in."""
    session = config(request).signer.loads(request.cookies.get(COOKIE_NAME))
    if session is None:
        return Visit(WebSession.anonymous(), True, None)
    if session.user_id is None:
        return Visit(session, False, None)
    with db(request).read() as db_session:
        user = db_session.get(User, session.user_id)
        if user is None or not user.active or password_mark(user.password_hash) != session.password_mark:
            return Visit(WebSession.anonymous(), True, None)
        return Visit(session, False, SignedIn(user.id, user.email, user.display_name))


VisitDep = Annotated[Visit, Depends(visit)]


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> Form:
    """The url-encoded body, refused with 413 past `limit` bytes."""
    body = await request.body()
    if len(body) > limit:
        raise PageError(413, "Form too large", f"That form sent more than {limit // 1024} KiB.")
    return Form(parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def form_fields(request: Request) -> Form:
    return await read_form(request)


def check_csrf(current: Visit, form: Form) -> Form:
    """The form, once its CSRF token matches the session's; anything else is refused with 403."""
    if current.fresh or not current.session.csrf_matches(form.get("csrf_token")):
        raise PageError(403, "This form could not be accepted",
                        "It did not carry this session's security token: it may be out of date or may not have "
                        "come from Firebreak. Go back, reload the page and try again.")
    return form


def checked_form(current: VisitDep, fields: Annotated[Form, Depends(form_fields)]) -> Form:
    return check_csrf(current, fields)


FormDep = Annotated[Form, Depends(checked_form)]


def signed_in(request: Request, current: VisitDep) -> SignedIn:
    if current.user is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return current.user


UserDep = Annotated[SignedIn, Depends(signed_in)]


def place(request: Request, slug: str, current: VisitDep, user: UserDep) -> Place:
    with db(request).read() as session:
        workspace = auth.member_workspace(session, user.id, slug)
        if workspace is None:
            raise PageError(404, "Workspace not found", f"There is no workspace {slug!r} that you are a member of.")
        roles = accounts.roles_of(session=session, workspace_id=workspace.id, user_id=user.id)
        return Place(current, user, workspace.id, workspace.slug, workspace.name, roles)


PlaceDep = Annotated[Place, Depends(place)]


def ids_in_range(request: Request) -> None:
    """An id in the path too big for the database is as missing as any other unknown id."""
    for name, value in request.path_params.items():
        if name.endswith("_id") and value.isascii() and value.isdigit() and int(value) > MAX_ID:
            raise PageError(404, "Not found", f"There is no {name.removesuffix('_id')} {value} here.")


def with_cookie(response: Response, request: Request, session: WebSession) -> Response:
    response.set_cookie(COOKIE_NAME, config(request).signer.dumps(session), max_age=MAX_AGE, path="/",
                        httponly=True, samesite="lax", secure=config(request).secure_cookies)
    return response


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def render_page(request: Request, where: Place | Visit, template: str, *, title: str, status: int = 200,
                section: str = "", **context: Any) -> Response:
    """A whole page from `template` (which extends base.html), with the cookie set when the session is new."""
    current = where.visit if isinstance(where, Place) else where
    workspace = where if isinstance(where, Place) else None
    workspaces = []
    if current.user is not None:
        with db(request).read() as session:
            workspaces = [(ws.slug, ws.name) for ws in auth.workspaces_of(session, current.user.id)]
    html = render(template, title=title, section=section, user=current.user, place=workspace,
                  csrf_token=current.session.csrf_token, workspaces=workspaces, **context)
    response = secure_headers(HTMLResponse(html, status_code=status))
    return with_cookie(response, request, current.session) if current.fresh else response


def error_page(exc: PageError) -> Response:
    html = render("message.html", title=exc.heading, heading=exc.heading, detail=exc.detail, section="", user=None,
                  place=None, csrf_token="", workspaces=[])
    return secure_headers(HTMLResponse(html, status_code=exc.status))


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def safe_next(path: str | None) -> str:
    """Only same-site paths: an absolute or protocol-relative URL would make sign-in an open redirect."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def runtime_for(request: Request, session: Session, where: Place) -> WorkflowRuntime:
    return services(request).workflow(session, where.workspace_id)


def can(request: Request, where: Place, permission: str) -> bool:
    """Whether the member's roles grant `permission` under the workspace's playbook (to enable or hide actions)."""
    with db(request).read() as session:
        return permits(runtime_for(request, session, where).roles, where.roles, permission)


def require(request: Request, where: Place, permission: str, doing: str) -> None:
    if not can(request, where, permission):
        have = ", ".join(sorted(where.roles)) or "no role"
        raise PageError(403, "Not allowed", f"You ({have}) may not {doing}: it needs the {permission!r} permission.")


Change = Callable[[Session, WorkflowRuntime, Actor, datetime], Any]


def act(request: Request, where: Place, change: Change, *, missing: str = "That item was not found here.") \
        -> Exception | None:
    """Run one change as the signed-in member in a write transaction; return the refusal to show, or None."""
    try:
        with db(request).write() as session:
            user = session.get(User, where.user.id)
            runtime = runtime_for(request, session, where)
            change(session, runtime, Actor.for_user(session, where.workspace_id, user), utcnow())
    except NotFound:
        raise PageError(404, "Not found", missing) from None
    except (InvalidInput, Forbidden, Unauthorized, Conflict) as refusal:
        return refusal
    return None


def status_of(refusal: Exception) -> int:
    return 403 if isinstance(refusal, Forbidden | Unauthorized) else 409 if isinstance(refusal, Conflict) else 422


def message_of(refusal: Exception) -> str:
    return getattr(refusal, "message", None) or str(refusal)


def revision_of(form: Form) -> int | None:
    value = form.get("revision", "")
    return int(value) if value.isdigit() else None
