"""The inbox a team lives in: open work by SLA urgency or newest first, filtered by the query string (so a view
can be shared), a page of 50 at a time by cursor, and bulk actions on the rows ticked.

Bulk actions post the ticked rows to /w/{slug}/inbox/bulk; each row goes through the workflow's own actions
(assign, close) or the issue's link, in its own transaction, so one refused row never undoes the others, and
the page says what was done and what was refused, row by row. Everything works without JavaScript; inbox.js
adds keyboard shortcuts, live countdowns and the "new work" banner fed by /w/{slug}/inbox/events (live.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.accounts.models import User
from firebreak.channels.models import Channel
from firebreak.core.clock import utcnow
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from firebreak.issues import service as issue_service
from firebreak.issues.models import Issue
from firebreak.mentions.models import Author, Mention
from firebreak.web.common import FormDep, Place, PlaceDep, db, message_of, redirect, render_page, runtime_for, status_of
from firebreak.web.templating import countdown
from firebreak.workflow import actions
from firebreak.workflow import inbox as work_inbox
from firebreak.workflow.actions import Actor
from firebreak.workflow.inbox import InboxFilter, InboxPage, InboxRow
from firebreak.workflow.models import WORK_STATES
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

SOON_SECONDS = 15 * 60
TEXT_LENGTH = 240
MAX_BULK = 200
OPEN_ISSUES_SHOWN = 100
SORT_LABELS = {"urgency": "Most urgent", "newest": "Newest"}
RECEIVED_CHOICES = [("", "any time"), ("1h", "last hour"), ("24h", "last 24 hours"), ("7d", "last 7 days"),
                    ("30d", "last 30 days")]
# What a finished bulk action says ("3 assigned"), by action; also the allow-list for ?done= on the page.
DONE = {"assign": "assigned", "assign_me": "assigned to you", "close": "closed", "link": "linked"}

router = APIRouter(include_in_schema=False)


# ---------------------------------------------------------------------------------------------- shared with mention


def origins(session: Session, mention_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Channel name and author line for each mention, in one query (the mention page uses it too)."""
    if not mention_ids:
        return {}
    stmt = (select(Mention.id, Channel.name, Author.handle, Author.follower_count, Author.tags)
            .join(Channel, Channel.id == Mention.channel_id).outerjoin(Author, Author.id == Mention.author_id)
            .where(Mention.id.in_(mention_ids)))
    return {mention_id: (channel, author_line(handle, followers, tags))
            for mention_id, channel, handle, followers, tags in session.execute(stmt)}


def author_line(handle: str | None, followers: int | None, tags: Iterable[str] | None) -> str:
    if handle is None:
        return "unknown"
    parts = [f"@{handle}"]
    if followers is not None:
        parts.append(f"{followers:,} followers")
    parts.extend(tags or [])
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------- the query string


@dataclass(frozen=True, slots=True)
class InboxQuery:
    """The inbox's query string as typed: what the form shows back, and what links keep."""

    flag: str = ""
    category: str = ""
    channel: str = ""
    state: str = ""
    assignee: str = ""
    queue: str = ""
    since: str = ""
    date_from: str = ""
    date_to: str = ""
    q: str = ""
    sort: str = ""
    cursor: str = ""

    # Query-string names where the attribute name cannot be the parameter's (`from` is a keyword).
    _NAMES = {"date_from": "from", "date_to": "to"}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> InboxQuery:
        values = {}
        for item in fields(cls):
            value = params.get(cls._NAMES.get(item.name, item.name), "")
            values[item.name] = value.strip()[:400] if isinstance(value, str) else ""
        return cls(**values)

    def pairs(self, *, cursor: bool = False) -> list[tuple[str, str]]:
        """The non-empty parameters in a stable order (the cursor only when asked)."""
        return [(self._NAMES.get(item.name, item.name), getattr(self, item.name)) for item in fields(self)
                if getattr(self, item.name) and (cursor or item.name != "cursor")]

    def url(self, slug: str, **changes: str) -> str:
        query = urlencode(replace(self, **changes).pairs(cursor=True))
        return f"/w/{quote(slug)}/inbox" + (f"?{query}" if query else "")

    @property
    def sort_order(self) -> str:
        return self.sort if self.sort in work_inbox.SORTS else "urgency"

    @property
    def filtered(self) -> bool:
        return any(value for name, value in self.pairs() if name != "sort")


@dataclass(slots=True)
class Choices:
    """What the filter form and the bulk bar offer, read once per page."""

    members: list[str]
    channels: list[tuple[str, str]]  # (slug, name)
    categories: list[tuple[str, str]]  # (id, label)
    queues: list[str]
    issues: list[tuple[int, str]] = field(default_factory=list)  # (id, "#12 Title") of open issues
    zone: Any = None


def choices(session: Session, where: Place, runtime: WorkflowRuntime) -> Choices:
    members = [member.email for member in accounts.workspace_members(session=session, workspace_id=where.workspace_id)
               if member.active]
    channels = [(slug, name) for slug, name in session.execute(
        select(Channel.slug, Channel.name).where(Channel.workspace_id == where.workspace_id).order_by(Channel.slug))]
    categories = sorted(((c.id, c.label) for c in runtime.loaded.playbook.risk.categories), key=lambda c: c[1])
    issues = [(issue_id, f"#{number} {title}") for issue_id, number, title in session.execute(
        select(Issue.id, Issue.number, Issue.title)
        .where(Issue.workspace_id == where.workspace_id, Issue.state == "open")
        .order_by(Issue.number.desc()).limit(OPEN_ISSUES_SHOWN))]
    zone_name = session.scalar(select(Workspace.timezone).where(Workspace.id == where.workspace_id)) or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return Choices(members, channels, categories, sorted(runtime.queues), issues, zone)


def resolve(session: Session, where: Place, query: InboxQuery, found: Choices,
            now: datetime) -> tuple[InboxFilter | None, dict[str, str]]:
    """The query string as an InboxFilter, or the problems by field (each shown beside its field)."""
    errors: dict[str, str] = {}
    if query.flag and query.flag not in work_inbox.FLAGS:
        errors["flag"] = f"Unknown flag {query.flag!r}; flags are {', '.join(work_inbox.FLAGS)}."
    if query.category and query.category not in dict(found.categories):
        errors["category"] = f"Unknown category {query.category!r}."
    channel_id = None
    if query.channel:
        channel_id = session.scalar(select(Channel.id).where(Channel.workspace_id == where.workspace_id,
                                                             Channel.slug == query.channel))
        if channel_id is None:
            errors["channel"] = f"There is no channel {query.channel!r} here."
    if query.queue and query.queue not in found.queues:
        errors["queue"] = f"Unknown queue {query.queue!r}; queues are {', '.join(found.queues)}."
    if query.sort and query.sort not in work_inbox.SORTS:
        errors["sort"] = f"Unknown order {query.sort!r}; choose {' or '.join(work_inbox.SORTS)}."
    assignee_id, unassigned = None, query.assignee == "unassigned"
    if query.assignee == "me":
        assignee_id = where.user.id
    elif query.assignee and not unassigned:
        email = query.assignee.lower()
        if email not in found.members:
            errors["assignee"] = f"{query.assignee!r} is not a member of this workspace."
        else:
            assignee_id = session.scalar(select(User.id).where(User.email == email))
    try:
        states = work_inbox.states_for(query.state)
    except InvalidInput as problem:
        errors["state"], states = _sentence(problem.message), work_inbox.OPEN_STATES
    try:
        received_from, received_before = work_inbox.received_window(
            since=query.since, date_from=query.date_from, date_to=query.date_to, now=now, zone=found.zone)
    except InvalidInput as problem:
        errors[problem.field or "since"] = _sentence(problem.message)
        received_from = received_before = None
    if errors:
        return None, errors
    try:
        return InboxFilter(states=states, flag=query.flag or None, category=query.category or None,
                           channel_id=channel_id, queue=query.queue or None, assignee_id=assignee_id,
                           unassigned=unassigned, received_from=received_from, received_before=received_before,
                           search=query.q or None), {}
    except InvalidInput as problem:
        return None, {problem.field or "q": _sentence(problem.message)}


def _sentence(message: str) -> str:
    """A query module's message ("unknown state 'x'; ...") as the page says it."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


# ---------------------------------------------------------------------------------------------- the page


@router.get("/w/{slug}/inbox")
def inbox(request: Request, where: PlaceDep) -> Response:
    """The inbox as the query string asks (filters, order, page), with ?done=&count= after a bulk action."""
    query = InboxQuery.from_params(request.query_params)
    done, count = request.query_params.get("done", ""), request.query_params.get("count", "")
    notice = f"{count} {DONE[done]}." if done in DONE and count.isdigit() else ""
    return inbox_page(request, where, query, notice=notice)


def inbox_page(request: Request, where: Place, query: InboxQuery, *, notice: str = "", refused: str = "",
               bulk_error: str = "", status: int = 200, bulk_values: Mapping[str, str] | None = None) -> Response:
    now = utcnow()
    page = InboxPage([], None)
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        found = choices(session, where, runtime)
        where_filter, errors = resolve(session, where, query, found, now)
        if where_filter is not None:
            try:
                page = work_inbox.list_inbox(session, workspace_id=where.workspace_id, where=where_filter,
                                             sort=query.sort_order, cursor=query.cursor or None)
            except InvalidInput as problem:
                errors[problem.field or "cursor"] = _sentence(problem.message)
        mark = work_inbox.latest_mark(session, workspace_id=where.workspace_id)
    if errors and status == 200:
        status = 422
    slug = where.slug
    events = f"/w/{quote(slug)}/inbox/events?" + urlencode(
        [("after", mark.encode() if mark else "")] + [pair for pair in query.pairs() if pair[0] != "sort"])
    return render_page(
        request, where, "inbox.html", title="Inbox", section="inbox", status=status,
        query=query, errors=errors, notice=notice, refused=refused, bulk_error=bulk_error,
        bulk=dict(bulk_values or {}), rows=[_row(row, now) for row in page.rows],
        next_url=query.url(slug, cursor=page.next_cursor) if page.next_cursor else "",
        first_url=query.url(slug, cursor="") if query.cursor else "",
        sort_urls={sort: query.url(slug, sort="" if sort == "urgency" else sort, cursor="")
                   for sort in work_inbox.SORTS},
        sort_labels=SORT_LABELS, events_url=events, back=urlencode(query.pairs(cursor=True)),
        flag_options=[("", "any flag")] + [(f, f) for f in work_inbox.FLAGS],
        category_options=[("", "any category")] + found.categories,
        channel_options=[("", "any channel")] + found.channels,
        queue_options=[("", "any queue")] + [(q, q) for q in found.queues],
        state_options=[("", "open"), ("all", "all")] + [(s, s) for s in WORK_STATES],
        assignee_options=[("", "anyone"), ("me", "me"), ("unassigned", "unassigned")] + [(m, m) for m in found.members],
        since_options=RECEIVED_CHOICES, members=found.members,
        issue_options=[("", "choose an open issue")] + [(str(i), label) for i, label in found.issues],
    )


def _row(row: InboxRow, now: datetime) -> dict[str, Any]:
    seconds = row.seconds_left(now)
    urgency = "overdue" if seconds is not None and seconds <= 0 else \
        "soon" if seconds is not None and seconds < SOON_SECONDS else ""
    text = row.text if len(row.text) <= TEXT_LENGTH else row.text[:TEXT_LENGTH - 1] + "…"
    return {
        "mention_id": row.mention_id, "flag": row.flag or "none", "category": row.category or "",
        "text": text, "channel": row.channel_name, "channel_kind": row.channel_kind,
        "author": author_line(row.author_handle, row.author_followers, row.author_tags) if row.author_handle else "",
        "verified": row.author_verified, "action": row.action, "state": row.state, "queue": row.queue,
        "assignee": row.assignee or "unassigned", "due": row.sla_due_at, "sla": countdown(seconds),
        "urgency": urgency, "revision": row.revision, "received": row.opened_at,
    }


# ---------------------------------------------------------------------------------------------- bulk actions


@dataclass(slots=True)
class Outcome:
    """What a bulk action did: the rows done, and each refused row with the reason."""

    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    status: int = 200
    already: int = 0  # linking only: rows that were linked before

    def refuse(self, mention_id: int, refusal: Exception) -> None:
        if self.status == 200:
            self.status = 422 if isinstance(refusal, NotFound) else status_of(refusal)
        message = "is not work in this workspace" if isinstance(refusal, NotFound) else message_of(refusal)
        self.refused.append((mention_id, message.removeprefix(f"mention {mention_id} ")))

    def summary(self, verb: str) -> str:
        """'3 assigned, 1 refused: #12 is resolved; reopen it before assigning'."""
        said = f"{len(self.done)} {verb}" + (f" ({self.already} already linked)" if self.already else "")
        if not self.refused:
            return said + "."
        reasons = "; ".join(f"#{mention_id} {reason}" for mention_id, reason in self.refused)
        return f"{said}, {len(self.refused)} refused: {reasons}"


@router.post("/w/{slug}/inbox/bulk")
def bulk(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Assign (to me or to an e-mail), close or link to an issue every ticked row (`mention_id` repeated)."""
    back = InboxQuery.from_params(dict(parse_qsl(form.get("back", ""))))
    action = form.get("action", "")
    kept = {name: form.get(name, "") for name in ("assignee", "reason", "issue_id")}

    def refuse_all(message: str, status: int = 422) -> Response:
        return inbox_page(request, where, back, bulk_error=message, status=status, bulk_values=kept)

    if action not in DONE:
        return refuse_all(f"Unknown bulk action {action!r}; choose one of {', '.join(DONE)}.")
    raw_ids = [value.strip() for value in form.getlist("mention_id") if value.strip()]
    if not raw_ids:
        return refuse_all("Tick at least one mention first.")
    if not all(value.isdigit() for value in raw_ids):
        return refuse_all("Mention ids are whole numbers.")
    mention_ids = list(dict.fromkeys(int(value) for value in raw_ids))
    if len(mention_ids) > MAX_BULK:
        return refuse_all(f"Act on at most {MAX_BULK} mentions at a time, not {len(mention_ids)}.")
    issue_id = None
    if kept["issue_id"].strip() or action == "link":
        issue_id = _open_issue(request, where, kept["issue_id"].strip())
        if issue_id is None:
            return refuse_all("Choose an open issue of this workspace to link to.")
    if action == "assign" and not kept["assignee"].strip():
        return refuse_all("Give the e-mail of the member to assign to.")

    if action == "link":
        assert issue_id is not None
        outcome = _link(request, where, issue_id, mention_ids)
    else:
        outcome = _each(request, where, mention_ids, _change(where, action, kept))
    if outcome.refused:
        return inbox_page(request, where, back, refused=outcome.summary(DONE[action]), status=outcome.status,
                          bulk_values=kept)
    target = urlencode([*back.pairs(cursor=True), ("done", action), ("count", str(len(outcome.done)))])
    return redirect(f"/w/{quote(where.slug)}/inbox?{target}")


Change = Callable[[Session, WorkflowRuntime, Actor, datetime, int], Any]


def _change(where: Place, action: str, values: Mapping[str, str]) -> Change:
    reason = values.get("reason", "").strip() or None
    if action in ("assign", "assign_me"):
        email = where.user.email if action == "assign_me" else values["assignee"].strip()

        def assign(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime, mention_id: int) -> None:
            actions.assign(session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id,
                           assignee_email=email, actor=actor, reason=reason, now=now)
        return assign

    def close(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime, mention_id: int) -> None:
        actions.change_state(session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id,
                             to_state="closed", actor=actor, reason=reason, now=now)
    return close


def _each(request: Request, where: Place, mention_ids: list[int], change: Change) -> Outcome:
    """Run `change` on each row in its own transaction, so a refused row leaves the others done."""
    outcome = Outcome()
    actor = _actor(request, where)
    for mention_id in mention_ids:
        try:
            with db(request).write() as session:
                change(session, runtime_for(request, session, where), actor, utcnow(), mention_id)
        except (NotFound, InvalidInput, Forbidden, Unauthorized, Conflict) as refusal:
            outcome.refuse(mention_id, refusal)
        else:
            outcome.done.append(mention_id)
    return outcome


def _link(request: Request, where: Place, issue_id: int, mention_ids: list[int]) -> Outcome:
    """Link the workspace's rows to the issue in one go (issues.service.link); other ids are refused one by one."""
    outcome = Outcome()
    actor = _actor(request, where)
    try:
        with db(request).write() as session:
            known = set(session.scalars(select(Mention.id).where(Mention.workspace_id == where.workspace_id,
                                                                 Mention.id.in_(mention_ids))))
            for mention_id in mention_ids:
                if mention_id not in known:
                    outcome.refuse(mention_id, NotFound(f"mention {mention_id}"))
            wanted = [mention_id for mention_id in mention_ids if mention_id in known]
            if wanted:
                linked = issue_service.link(session, runtime=runtime_for(request, session, where),
                                            workspace_id=where.workspace_id, actor=actor, now=utcnow(),
                                            issue_id=issue_id, mention_ids=wanted)
                outcome.done, outcome.already = wanted, len(wanted) - linked
    except (NotFound, InvalidInput, Forbidden, Unauthorized, Conflict) as refusal:
        outcome.done, outcome.already = [], 0
        for mention_id in mention_ids:
            if all(mention_id != refused for refused, _ in outcome.refused):
                outcome.refuse(mention_id, refusal)
    return outcome


def _actor(request: Request, where: Place) -> Actor:
    with db(request).read() as session:
        user = session.get(User, where.user.id)
        assert user is not None, "the signed-in member exists (PlaceDep checked it)"
        return Actor.for_user(session, where.workspace_id, user)


def _open_issue(request: Request, where: Place, value: str) -> int | None:
    """The id of the workspace's open issue named by the form, or None (unknown, closed or another workspace's)."""
    if not value.isdigit():
        return None
    with db(request).read() as session:
        return session.scalar(select(Issue.id).where(Issue.id == int(value), Issue.workspace_id == where.workspace_id,
                                                     Issue.state == "open"))
