"""The server-rendered pages: sign-in, password change, the inbox and a mention's detail with its actions.

Every POST carries the session's CSRF token (form field `csrf_token`); pages inside a workspace need a
signed-in member of it, and answer 404 alike for unknown workspaces and workspaces the user is not in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.accounts.models import User
from firebreak.channels.models import Channel
from firebreak.core.clock import utcnow
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from firebreak.db.engine import Database
from firebreak.mentions.models import Author, Mention
from firebreak.triage.models import MentionTriage
from firebreak.web import auth
from firebreak.web.render import Markup, escape, join, render
from firebreak.web.sessions import COOKIE_NAME, MAX_AGE, SessionSigner, WebSession, password_mark
from firebreak.workflow import actions, queries
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import OPEN_STATES, WORK_STATES
from firebreak.workflow.runtime import WorkflowRuntime

FLAGS = ("red", "yellow", "green")
SOON_SECONDS = 15 * 60
INBOX_LIMIT = 200
MAX_FORM_BYTES = 64 * 1024


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


@dataclass(frozen=True, slots=True)
class Visit:
    """One request's browser session: `fresh` when this response must set the cookie."""

    session: WebSession
    fresh: bool
    user: SignedIn | None


@dataclass(frozen=True, slots=True)
class Place:
    """A workspace page: the signed-in member and the workspace they opened."""

    visit: Visit
    user: SignedIn
    workspace_id: int
    slug: str
    name: str


def error_page(exc: PageError) -> HTMLResponse:
    body = render("message.html", heading=exc.heading, detail=exc.detail)
    return HTMLResponse(render("base.html", title=exc.heading, header="", body=body), status_code=exc.status)


def _config(request: Request) -> WebConfig:
    return request.app.state.web


def _db(request: Request) -> Database:
    return request.app.state.db


def visit(request: Request) -> Visit:
    """The browser's session (a new anonymous one when missing or invalid) and the user it signs in."""
    config = _config(request)
    session = config.signer.loads(request.cookies.get(COOKIE_NAME))
    if session is None:
        return Visit(WebSession.anonymous(), True, None)
    if session.user_id is None:
        return Visit(session, False, None)
    with _db(request).read() as db_session:
        user = db_session.get(User, session.user_id)
        if user is None or not user.active or password_mark(user.password_hash) != session.password_mark:
            return Visit(WebSession.anonymous(), True, None)
        return Visit(session, False, SignedIn(user.id, user.email, user.display_name))


VisitDep = Annotated[Visit, Depends(visit)]


async def form_fields(request: Request) -> dict[str, str]:
    """The url-encoded form body (the last value of each field)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Form too large", "That form sent more than 64 KiB.")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in parsed.items()}


def checked_form(current: VisitDep, fields: Annotated[dict[str, str], Depends(form_fields)]) -> dict[str, str]:
    """The form, once its CSRF token matches the session's; anything else is refused with 403."""
    if current.fresh or not current.session.csrf_matches(fields.get("csrf_token")):
        raise PageError(403, "This form could not be accepted",
                        "It did not carry this session's security token: it may be out of date or may not have "
                        "come from Firebreak. Go back, reload the page and try again.")
    return fields


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def signed_in(request: Request, current: VisitDep) -> SignedIn:
    if current.user is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return current.user


UserDep = Annotated[SignedIn, Depends(signed_in)]


def place(request: Request, slug: str, current: VisitDep, user: UserDep) -> Place:
    with _db(request).read() as session:
        workspace = auth.member_workspace(session, user.id, slug)
        if workspace is None:
            raise PageError(404, "Workspace not found", f"There is no workspace {slug!r} that you are a member of.")
        return Place(current, user, workspace.id, workspace.slug, workspace.name)


PlaceDep = Annotated[Place, Depends(place)]


def _with_cookie(response: Response, config: WebConfig, session: WebSession) -> Response:
    response.set_cookie(COOKIE_NAME, config.signer.dumps(session), max_age=MAX_AGE, path="/", httponly=True,
                        samesite="lax", secure=config.secure_cookies)
    return response


def _page(request: Request, current: Visit, title: str, body: Markup, *, place: Place | None = None,
          status: int = 200) -> Response:
    header = Markup("")
    if current.user is not None:
        header = render("header.html", workspace=place.name if place else "", slug=place.slug if place else "",
                        user=current.user.display_name or current.user.email, csrf_token=current.session.csrf_token)
    response = HTMLResponse(render("base.html", title=title, header=header, body=body), status_code=status)
    return _with_cookie(response, _config(request), current.session) if current.fresh else response


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _safe_next(path: str | None) -> str:
    """Only same-site paths: an absolute or protocol-relative URL would make sign-in an open redirect."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


router = APIRouter(include_in_schema=False)


# Accounts ----------------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, user: UserDep) -> Response:
    with _db(request).read() as session:
        workspaces = auth.workspaces_of(session, user.id)
    if not workspaces:
        raise PageError(403, "No workspace yet", "Your account is not a member of any workspace; ask an admin.")
    return _redirect(f"/w/{workspaces[0].slug}/inbox")


def _sign_in_page(request: Request, current: Visit, *, email: str = "", error: str = "", next_path: str = "/",
                  status: int = 200) -> Response:
    body = render("sign_in.html", csrf_token=current.session.csrf_token, next=next_path, email=email, error=error)
    return _page(request, current, "Sign in", body, status=status)


@router.get("/sign-in")
def sign_in_form(request: Request, current: VisitDep, next: str = "/") -> Response:
    if current.user is not None:
        return _redirect(_safe_next(next))
    return _sign_in_page(request, current, next_path=_safe_next(next))


@router.post("/sign-in")
def sign_in(request: Request, current: VisitDep, form: FormDep) -> Response:
    config = _config(request)
    email, next_path = form.get("email", ""), _safe_next(form.get("next"))
    client = request.client.host if request.client else "unknown"
    try:
        with _db(request).write() as session:
            user = auth.sign_in(session, config.limiter, email=email, password=form.get("password", ""),
                                client=client)
            fresh = current.session.signed_in(user.id, user.password_hash)
    except auth.SignInRefused as refused:
        return _sign_in_page(request, current, email=email, error=refused.message, next_path=next_path,
                             status=refused.status)
    return _with_cookie(_redirect(next_path), config, fresh)


@router.post("/sign-out")
def sign_out(form: FormDep) -> Response:
    response = _redirect("/sign-in")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _password_page(request: Request, current: Visit, *, notice: str = "", current_error: str = "",
                   new_error: str = "", status: int = 200) -> Response:
    body = render("password.html", csrf_token=current.session.csrf_token, notice=notice,
                  current_error=current_error, new_error=new_error, min_length=accounts.MIN_PASSWORD)
    return _page(request, current, "Change password", body, status=status)


@router.get("/account/password")
def password_form(request: Request, current: VisitDep, user: UserDep) -> Response:
    return _password_page(request, current)


@router.post("/account/password")
def change_password(request: Request, current: VisitDep, user: UserDep, form: FormDep) -> Response:
    """Check the current password, store the new one, and keep only this session signed in."""
    try:
        with _db(request).write() as session:
            account = session.get(User, user.id)
            if account is None or not accounts.verify_password(account, form.get("current_password", "")):
                return _password_page(request, current, current_error="That is not your current password.",
                                      status=422)
            account.password_hash = accounts.hash_password(form.get("new_password", ""))
            renewed = current.session.with_password(account.password_hash)
    except InvalidInput as problem:
        return _password_page(request, current, new_error=problem.message, status=422)
    updated = Visit(renewed, True, user)
    return _password_page(request, updated, notice="Your password has been changed; other sessions are signed out.")


# The inbox ---------------------------------------------------------------------------------------------


def countdown(seconds_left: float | None) -> str:
    """'4m left' or 'OVERDUE 12m'; hours and days once minutes stop being readable."""
    if seconds_left is None:
        return "no clock"
    minutes = int(abs(seconds_left) // 60)
    if minutes < 60:
        span = f"{minutes}m"
    elif minutes < 48 * 60:
        span = f"{minutes // 60}h {minutes % 60}m"
    else:
        span = f"{minutes // 1440}d {minutes % 1440 // 60}h"
    return f"OVERDUE {span}" if seconds_left <= 0 else f"{span} left"


def _options(choices: list[tuple[str, str]], chosen: str) -> Markup:
    return join(render("option.html", value=value, label=label, selected=Markup(" selected") if value == chosen
                       else Markup("")) for value, label in choices)


def _origins(session: Session, mention_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Channel name and author line for each mention, in one query."""
    if not mention_ids:
        return {}
    stmt = (select(Mention.id, Channel.name, Author.handle, Author.follower_count, Author.tags)
            .join(Channel, Channel.id == Mention.channel_id).outerjoin(Author, Author.id == Mention.author_id)
            .where(Mention.id.in_(mention_ids)))
    return {mention_id: (channel, _author_line(handle, followers, tags))
            for mention_id, channel, handle, followers, tags in session.execute(stmt)}


def _author_line(handle: str | None, followers: int | None, tags: list[str] | None) -> str:
    if handle is None:
        return "unknown"
    parts = [f"@{handle}"]
    if followers is not None:
        parts.append(f"{followers:,} followers")
    parts.extend(tags or [])
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class InboxFilters:
    flag: str = ""
    queue: str = ""
    state: str = ""
    assignee: str = ""

    def problem(self, runtime: WorkflowRuntime) -> str:
        if self.flag and self.flag not in FLAGS:
            return f"Unknown flag {self.flag!r}; flags are {', '.join(FLAGS)}."
        if self.queue and self.queue not in runtime.queues:
            return f"Unknown queue {self.queue!r}; queues are {', '.join(sorted(runtime.queues))}."
        if self.state and self.state not in WORK_STATES:
            return f"Unknown state {self.state!r}; states are {', '.join(WORK_STATES)}."
        return ""


@router.get("/w/{slug}/inbox")
def inbox(request: Request, where: PlaceDep, flag: str = "", queue: str = "", state: str = "",
          assignee: str = "") -> Response:
    """Open work, most urgent SLA first, filtered by the query string so a filtered view can be shared."""
    filters = InboxFilters(flag, queue, state, assignee)
    now = utcnow()
    with _db(request).read() as session:
        runtime = request.app.state.services.workflow(session, where.workspace_id)
        members = sorted(member.email for member in accounts.workspace_members(session=session,
                                                                               workspace_id=where.workspace_id))
        error = filters.problem(runtime)
        if not error and assignee not in ("", "me", "unassigned") and assignee not in members:
            error = f"{assignee!r} is not a member of this workspace."
        rows: list[dict[str, Any]] = []
        if not error:
            assignee_id = where.user.id if assignee == "me" else None
            if assignee not in ("", "me", "unassigned"):
                assignee_id = accounts.get_user(session=session, email=assignee).id
            query = queries.QueueFilter(queue=queue or None, assignee_id=assignee_id,
                                        unassigned=assignee == "unassigned",
                                        states=(state,) if state else OPEN_STATES, flag=flag or None)
            rows = queries.list_queue(session, workspace_id=where.workspace_id, where=query, limit=INBOX_LIMIT,
                                      now=now)
        origins = _origins(session, [row["mention_id"] for row in rows])
        queue_names = sorted(runtime.queues)
    body = render(
        "inbox.html", slug=where.slug, count=len(rows), error=error, rows=join(_inbox_row(where.slug, row, origins)
                                                                            for row in rows),
        flag_options=_options([("", "any flag")] + [(f, f) for f in FLAGS], flag),
        queue_options=_options([("", "any queue")] + [(q, q) for q in queue_names], queue),
        state_options=_options([("", "open")] + [(s, s) for s in WORK_STATES], state),
        assignee_options=_options([("", "anyone"), ("me", "me"), ("unassigned", "unassigned")]
                                  + [(m, m) for m in members], assignee),
    )
    return _page(request, where.visit, "Inbox", body, place=where, status=422 if error else 200)


def _inbox_row(slug: str, row: Mapping[str, Any], origins: dict[int, tuple[str, str]]) -> Markup:
    seconds = row["sla_seconds_left"]
    urgency = "overdue" if row["overdue"] else "soon" if seconds is not None and seconds < SOON_SECONDS else ""
    channel, author = origins.get(row["mention_id"], ("", ""))
    text = row["text"] if len(row["text"]) <= 200 else row["text"][:199] + "…"
    return render("inbox_row.html", slug=slug, mention_id=row["mention_id"], flag=row["flag"] or "none",
                  sla=countdown(seconds), sla_class=urgency, text=text, category=row["category"] or "",
                  channel=channel, author=author, action=row["action"] or "", state=row["state"],
                  assignee=row["assignee"] or "unassigned")


# Mention detail ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormErrors:
    assign: str = ""
    state: str = ""
    assignee_value: str = ""
    reason_value: str = ""


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _detail_page(request: Request, where: Place, mention_id: int, errors: FormErrors = FormErrors(),
                 status: int = 200) -> Response:
    now = utcnow()
    with _db(request).read() as session:
        runtime = request.app.state.services.workflow(session, where.workspace_id)
        try:
            detail = queries.work_detail(session, runtime=runtime, workspace_id=where.workspace_id,
                                         mention_id=mention_id, now=now)
        except NotFound:
            raise PageError(404, "Mention not found",
                            f"There is no mention {mention_id} with work in {where.name}.") from None
        mention = session.get(Mention, mention_id)
        triage = session.get(MentionTriage, mention_id)
        origin = _origins(session, [mention_id]).get(mention_id, ("", ""))
    assessment = detail["assessment"] or {}
    reasons = join(Markup(f"<li>{escape(reason.get('label', ''))}"
                          f" <small>{escape(reason.get('kind', ''))}</small></li>")
                   for reason in (triage.reasons if triage else []))
    path = join(Markup(f"<li>{escape(step.get('question') or step.get('node'))} "
                       f"<strong>{escape(step.get('answer', ''))}</strong></li>")
                for step in assessment.get("path", []))
    considerations = join(Markup(f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>")
                          for name, text in (assessment.get("considerations") or {}).items())
    clock_rows = join(Markup(f"<tr><td>{escape(clock['metric'])}</td><td>{escape(clock['state'])}</td>"
                             f"<td>{escape(_when(clock['due_at']))}</td><td>{escape(_clock_left(clock))}</td></tr>")
                      for clock in detail["clocks"])
    audit = join(Markup(f"<li><time>{escape(_when(entry['at']))}</time> <strong>{escape(entry['actor'])}</strong> "
                        f"{escape(entry['action'])} {escape(_audit_details(entry['details']))}</li>")
                 for entry in detail["audit"])
    link = Markup(f' · <a href="{escape(mention.url)}" rel="noopener noreferrer">original</a>') \
        if mention.url and mention.url.startswith(("https://", "http://")) else Markup("")
    body = render(
        "mention.html", slug=where.slug, mention_id=mention_id, flag=triage.flag if triage else "none",
        category=triage.category if triage else "", text=mention.text, author=origin[1], channel=origin[0],
        received_at=_when(mention.received_at), link=link, state=detail["state"], queue=detail["queue"] or "—",
        team=detail["team"] or "no team", priority=detail["priority"] or "—",
        assignee=detail["assignee"] or "unassigned", action=detail["recommended_action"] or "—",
        csrf_token=where.visit.session.csrf_token, revision=detail["revision"],
        assignee_value=errors.assignee_value, assign_error=errors.assign, state_error=errors.state,
        reason_value=errors.reason_value,
        state_options=_options([(s, s) for s in WORK_STATES if s != detail["state"]], ""),
        reasons=reasons, outcome_label=assessment.get("label", "none"), path=path, considerations=considerations,
        clocks=clock_rows, audit=audit,
    )
    return _page(request, where.visit, f"Mention {mention_id}", body, place=where, status=status)


def _clock_left(clock: Mapping[str, Any]) -> str:
    return countdown(clock["remaining_seconds"]) if clock["state"] == "running" else "—"


def _audit_details(details: Any) -> str:
    if isinstance(details, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in details.items() if value not in (None, "", [], {}))
    return "" if details is None else str(details)


@router.get("/w/{slug}/mentions/{mention_id}")
def mention_detail(request: Request, where: PlaceDep, mention_id: int) -> Response:
    return _detail_page(request, where, mention_id)


def _revision(form: Mapping[str, str]) -> int | None:
    value = form.get("revision", "")
    return int(value) if value.isdigit() else None


def _act(request: Request, where: Place, mention_id: int, change: Any) -> Exception | None:
    """Run one workflow action as the signed-in user; return the refusal to show, or None when done."""
    try:
        with _db(request).write() as session:
            user = session.get(User, where.user.id)
            runtime = request.app.state.services.workflow(session, where.workspace_id)
            change(session, runtime, Actor.for_user(session, where.workspace_id, user), utcnow())
    except NotFound:
        raise PageError(404, "Mention not found", f"There is no mention {mention_id} with work here.") from None
    except (InvalidInput, Forbidden, Unauthorized, Conflict) as refusal:
        return refusal
    return None


def _status_of(refusal: Exception) -> int:
    return 403 if isinstance(refusal, Forbidden | Unauthorized) else 409 if isinstance(refusal, Conflict) else 422


def _message(refusal: Exception) -> str:
    return getattr(refusal, "message", None) or str(refusal)


@router.post("/w/{slug}/mentions/{mention_id}/assign")
def assign(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    """Assign to me (the `to_me` button), to an e-mail, or back to the queue with a blank e-mail."""
    email = where.user.email if form.get("to_me") else form.get("assignee", "").strip() or None
    refusal = _act(request, where, mention_id, lambda session, runtime, actor, now: actions.assign(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, assignee_email=email,
        actor=actor, reason=None, now=now, expected_revision=_revision(form)))
    if refusal is not None:
        return _detail_page(request, where, mention_id, FormErrors(assign=_message(refusal),
                                                                   assignee_value=form.get("assignee", "")),
                            status=_status_of(refusal))
    return _redirect(f"/w/{quote(where.slug)}/mentions/{mention_id}")


@router.post("/w/{slug}/mentions/{mention_id}/state")
def change_state(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    to_state, reason = form.get("state", ""), form.get("reason", "").strip() or None
    refusal = _act(request, where, mention_id, lambda session, runtime, actor, now: actions.change_state(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, to_state=to_state,
        actor=actor, reason=reason, now=now, expected_revision=_revision(form)))
    if refusal is not None:
        return _detail_page(request, where, mention_id, FormErrors(state=_message(refusal),
                                                                   reason_value=form.get("reason", "")),
                            status=_status_of(refusal))
    return _redirect(f"/w/{quote(where.slug)}/mentions/{mention_id}")

