"""Rapid-response issues in the browser: the board by stage, and one issue with every lifecycle form.

The pages only read and show: every change goes through the issues domain (service, content,
publishing, aftermath), which checks permissions and gates and names what is wrong; a refusal is
shown next to the form that caused it, with the page re-rendered and a 4xx status. Stage moves,
decisions and closing carry the issue's revision, and a new draft version the number it was based on,
so two people working on one issue never silently overwrite each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.channels.models import Channel
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.issues import aftermath, content, publishing, ripple, service
from firebreak.issues import board as issue_board
from firebreak.issues.access import get_issue, stakeholder_roles
from firebreak.issues.models import SEVERITIES, Issue, IssueMention, Publication
from firebreak.lifecycle import DRAFT_KINDS, IssuesSpec
from firebreak.mentions.models import Author, Mention
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.routing import permits
from firebreak.triage.models import MentionTriage
from firebreak.web import charts
from firebreak.web.common import (
    MAX_ID,
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
    revision_of,
    runtime_for,
    safe_next,
    secure_headers,
    services,
    status_of,
)
from firebreak.workflow.actions import Actor
from firebreak.workflow.runtime import WorkflowRuntime

router = APIRouter(include_in_schema=False)

LINKED_SHOWN = 200  # the newest linked mentions listed on the page; the count says how many there are
THREADS_SHOWN = 100
OUTBOX_SHOWN = 50
CHART_CHANNELS = 7  # the busiest channels charted on their own; the rest are summed as "other"
EXCERPT = 240
# Draft versions may be up to content.MAX_BODY characters; url-encoded, that is far more than a form's usual limit.
LONG_FORM_BYTES = 1024 * 1024
# The printable summary carries its own inline style and nothing else.
SUMMARY_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"
_ID_SPLIT = re.compile(r"[\s,]+")


async def _long_form(request: Request, current: VisitDep) -> Form:
    return check_csrf(current, await read_form(request, limit=LONG_FORM_BYTES))


LongFormDep = Annotated[Form, Depends(_long_form)]


# ---------------------------------------------------------------------------------------------- small helpers


def _issues_path(where: Place) -> str:
    return f"/w/{quote(where.slug)}/issues"


def _issue_path(where: Place, issue_id: int, anchor: str = "") -> str:
    return f"{_issues_path(where)}/{issue_id}" + (f"#{anchor}" if anchor else "")


def _actor(where: Place) -> Actor:
    return Actor(where.user.email, where.roles, where.user.id)


def _words(identifier: str | None) -> str:
    return (identifier or "").replace("_", " ")


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _web_link(url: str | None) -> str:
    """Only http(s) links become hrefs: a post's URL comes from outside."""
    return url if url and url.lower().startswith(("https://", "http://")) else ""


def mention_ids_of(values: Iterable[str]) -> list[int]:
    """Mention ids from repeated `mention_id` fields, each of which may also hold several ids ("12, 15")."""
    ids: list[int] = []
    for value in values:
        for part in _ID_SPLIT.split(value.strip()):
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= MAX_ID:
                raise InvalidInput(f"mention id {part!r} is not a mention's number", field="mention_ids")
            ids.append(int(part))
    return list(dict.fromkeys(ids))


def _number_field(form: Form, name: str, what: str) -> int:
    value = form.get(name, "").strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise InvalidInput(f"choose {what}" if not value else f"{what} {value!r} is not a number", field=name)
    return int(value)


def _due_at(value: str, zone: ZoneInfo) -> datetime | None:
    """A due time from a datetime-local field, read in the workspace's time zone."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"due {text!r} is not a date and time (e.g. 2026-11-16T15:00)", field="due_at") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def event_text(details: Any) -> str:
    """A timeline event's details in one line: what changed, without empty values; long lists cut short."""
    if isinstance(details, Mapping):
        parts = [f"{_words(str(key))}: {event_text(value)}" for key, value in details.items()
                 if value not in (None, "", [], {})]
        return _excerpt("; ".join(parts), 400)
    if isinstance(details, list):
        shown = [event_text(item) if isinstance(item, Mapping | list) else str(item) for item in details[:8]]
        more = f" … {len(details) - 8} more" if len(details) > 8 else ""
        return ", ".join(f"({item})" if isinstance(raw, Mapping) else item
                         for item, raw in zip(shown, details, strict=False)) + more
    return "" if details is None else str(details)


def _wake_outbox(request: Request) -> None:
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake("outbox")


def _why_not(where: Place, permission: str, doing: str) -> str:
    have = ", ".join(sorted(where.roles)) or "no role"
    return f"You ({have}) may not {doing}: it needs the {permission!r} permission."


# ---------------------------------------------------------------------------------------------- the board


@router.get("/w/{slug}/issues")
def board_page(request: Request, where: PlaceDep, state: str = "open",
               mention_id: Annotated[list[str] | None, Query()] = None) -> Response:
    """The board; `mention_id` (repeated) pre-fills the open form with mentions to link."""
    try:
        chosen = mention_ids_of(mention_id or [])
    except InvalidInput as refusal:
        return _board(request, where, state=state, error=message_of(refusal), status=422)
    return _board(request, where, state=state, values={"mention_ids": chosen})


@router.post("/w/{slug}/issues")
def open_issue(request: Request, where: PlaceDep, form: FormDep) -> Response:
    """Open an issue (title, severity, summary, mention_id repeated) owned by the member opening it."""
    opened: list[int] = []
    values: dict[str, Any] = {"title": form.get("title", ""), "severity": form.get("severity", "medium"),
                              "summary": form.get("summary", ""), "mention_ids": []}

    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        values["mention_ids"] = mention_ids_of(form.getlist("mention_id"))
        issue = service.open_issue(
            session, runtime=runtime, workspace_id=where.workspace_id, actor=actor, now=now,
            title=form.get("title", ""), summary=form.get("summary", ""), severity=form.get("severity", "medium"),
            owner_email=where.user.email, mention_ids=values["mention_ids"])
        opened.append(issue.id)

    refusal = act(request, where, change)
    if refusal is not None:
        if not values["mention_ids"]:
            values["mention_ids"] = [v for v in form.getlist("mention_id") if v.strip()]
        return _board(request, where, error=message_of(refusal), values=values, status=status_of(refusal))
    return redirect(_issue_path(where, opened[0]))


def _board(request: Request, where: Place, *, state: str = "open", error: str = "",
           values: Mapping[str, Any] | None = None, status: int = 200) -> Response:
    now = utcnow()
    state_error = ""
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            data = issue_board.board(session, runtime, where.workspace_id, now, state=state)
        except InvalidInput as refusal:
            state, state_error, status = "open", message_of(refusal), 422
            data = issue_board.board(session, runtime, where.workspace_id, now, state="open")
        may_open = permits(runtime.roles, where.roles, "open_issue")
    columns = data["columns"]
    return render_page(
        request, where, "issues_board.html", title="Issues", section="issues", status=status, state=state,
        columns=columns, total=sum(len(column["cards"]) for column in columns), error=error, state_error=state_error,
        values={"title": "", "severity": "medium", "summary": "", "mention_ids": [], **(values or {})},
        severity_options=[(s, s) for s in SEVERITIES], may_open=may_open,
        cannot_open=_why_not(where, "open_issue", "open issues"),
    )


# ---------------------------------------------------------------------------------------------- the issue page


class PageState:
    """What a re-rendered page needs from a refused form: its message, and the values typed into it."""

    def __init__(self, failed: str = "", message: str = "", values: Form | None = None) -> None:
        self.failed, self.message = failed, message
        self.values: dict[str, str] = dict(values or {})
        self.lists: dict[str, list[str]] = values.lists if values is not None else {}

    def error(self, key: str) -> str:
        return self.message if key == self.failed else ""

    def kept(self, key: str, field: str, default: str = "") -> str:
        """The value the refused form had (so nothing typed is lost), else `default`."""
        return self.values.get(field, default) if key == self.failed else default

    def kept_list(self, key: str, field: str) -> list[str]:
        """Every value of a repeated field (checkboxes) the refused form had."""
        return list(self.lists.get(field, [])) if key == self.failed else []


@router.get("/w/{slug}/issues/{issue_id}")
def issue_page(request: Request, where: PlaceDep, issue_id: int, draft: int | None = None,
               from_version: Annotated[int | None, Query(alias="from")] = None,
               to_version: Annotated[int | None, Query(alias="to")] = None) -> Response:
    """One issue; `draft`, `from` and `to` pick the versions a draft's diff compares."""
    return _issue_page(request, where, issue_id, diff_of=(draft, from_version, to_version))


def _issue_page(request: Request, where: Place, issue_id: int, state: PageState | None = None, *,
                status: int = 200, diff_of: tuple[int | None, int | None, int | None] = (None, None, None)
                ) -> Response:
    state = state or PageState()
    now = utcnow()
    actor = _actor(where)
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            detail = issue_board.issue_detail(session, runtime, where.workspace_id, issue_id, now)
        except NotFound:
            raise PageError(404, "Issue not found", f"There is no issue {issue_id} in {where.name}.") from None
        issue = get_issue(session, where.workspace_id, issue_id)
        spec = service.issues_spec(runtime)
        zone = ripple.workspace_zone(session, where.workspace_id)
        drafts = [content.draft_detail(session, runtime=runtime, workspace_id=where.workspace_id, draft_id=row["id"],
                                       issue_id=issue_id, now=now)
                  for row in content.list_drafts(session, workspace_id=where.workspace_id, issue_id=issue_id)]
        diffs, diff_error = _diffs(drafts, diff_of)
        if diff_error and status == 200:
            status = 422
        ripple_view = _ripple(session, where, issue_id, now)
        in_aftermath = detail["state"] == "closed" or detail["stage"] == spec.last_stage.id
        bar = _stage_bar(spec, detail)
        context = {
            "detail": detail, "spec_stages": bar, "move_options": _move_options(bar), "drafts": drafts,
            "diffs": diffs, "diff_error": diff_error, "linked": _linked(session, where.workspace_id, issue_id),
            "ripple": ripple_view, "publications": _publications(session, where, issue_id),
            "messages": [_message(view) for view in outbox.list_messages(
                session=session, workspace_id=where.workspace_id, issue_id=issue_id, limit=OUTBOX_SHOWN)],
            "channels": _channels(session, where.workspace_id),
            "member_options": [(member.email, member.email) for member in accounts.workspace_members(
                session=session, workspace_id=where.workspace_id)],
            "approved_versions": _approved_versions(drafts),
            "aftermath": _aftermath(session, runtime, where, issue_id, now, request) if in_aftermath else None,
            "may": _permissions(session, runtime, issue, actor),
            "is_last_stage": detail["stage"] == spec.last_stage.id, "zone": str(zone),
            "stage_labels": {stage.id: stage.label for stage in spec.stages},
            "holding_statements": [(s.id, f"{s.label} ({_words(s.kind)})") for s in spec.holding_statements],
        }
    context["timeline"] = [{**event, "text": event_text(event["details"])} for event in detail["timeline"]]
    return render_page(
        request, where, "issue.html", title=f"Issue {detail['number']}: {detail['title']}", section="issues",
        status=status, page=state, **context, editable=detail["state"] == "open",
        why={
            "run": _why_not(where, "open_issue", "run this issue (you are not its owner)"),
            "override": _why_not(where, "override_gate", "override a gate (you are not the issue's owner)"),
            "write": _why_not(where, "write_content", "write this issue's content (you are not its owner or "
                                                      "communications stakeholder)"),
            "legal": _why_not(where, "approve_legal", "give legal's verdict: only legal approves legal review"),
            "publish": _why_not(where, "publish", "publish"),
            "link": _why_not(where, "respond", "link or unlink mentions"),
            "close_early": _why_not(where, "override_gate", "close an issue before its last stage"),
        },
        severity_options=[(s, s) for s in SEVERITIES],
        role_options=[(role, _words(role)) for role in service.ASSIGNABLE_ROLES],
        kind_options=[(kind, _words(kind)) for kind in DRAFT_KINDS],
        audience_options=[("", "—")] + [(a, a) for a in content.AUDIENCES],
        stage_options=[(stage.id, stage.label) for stage in spec.stages],
    )


def _permissions(session: Session, runtime: WorkflowRuntime, issue: Issue, actor: Actor) -> dict[str, bool]:
    """Which forms to enable: the domain checks again on every change, these only spare a refused click."""
    def role(permission: str) -> bool:
        return permits(runtime.roles, actor.roles, permission)

    run = service.can_act(session, runtime, issue, actor, "open_issue")
    return {
        "run": run, "override": service.can_act(session, runtime, issue, actor, "override_gate"),
        "write": bool(stakeholder_roles(session, issue, actor) & content.WRITERS) or role("write_content"),
        "legal": role("approve_legal"), "publish": role("publish"), "link": role("respond"),
        "close_early": role("override_gate"),
    }


def _stage_bar(spec: IssuesSpec, detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every stage of the lifecycle, marked done, current or to come, with its goal and the move it allows."""
    here = spec.stage_ids.index(detail["stage"]) if detail["stage"] in spec.stage_ids else -1
    rows = []
    for index, stage in enumerate(spec.stages):
        place = "done" if index < here else "current" if index == here else "todo"
        rows.append({"id": stage.id, "label": stage.label, "goal": stage.goal.describe() if stage.goal else None,
                     "place": place, "next": index == here + 1, "back": index < here})
    return rows


def _move_options(bar: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The stages the issue may move to: the next one first, then back to each earlier one, latest first."""
    forward = [(row["id"], f"Next: {row['label']}") for row in bar if row["next"]]
    return forward + [(row["id"], f"Back to {row['label']}") for row in reversed(bar) if row["back"]]


def _diffs(drafts: Sequence[Mapping[str, Any]], asked: tuple[int | None, int | None, int | None]
           ) -> tuple[dict[int, dict[str, Any]], str]:
    """Each draft's diff: the versions asked for, else its last two; lines classed for + / - colouring."""
    draft_id, from_number, to_number = asked
    found: dict[int, dict[str, Any]] = {}
    error = ""
    for draft in drafts:
        bodies = {version["number"]: version["body"] for version in draft["versions"]}
        if len(bodies) < 2:
            continue
        numbers = sorted(bodies)
        options = [(number, f"version {number}") for number in numbers]
        old, new = numbers[-2], numbers[-1]
        if draft["id"] == draft_id:
            wanted = (from_number or old, to_number or new)
            missing = [n for n in wanted if n not in bodies]
            if missing:
                error = f"the {_words(draft['kind'])} has no version {missing[0]}; its versions are " \
                        f"{', '.join(map(str, numbers))}"
                found[draft["id"]] = {"error": error, "old": old, "new": new, "lines": [], "options": options}
                continue
            old, new = wanted
        compared = content.diff_texts(bodies[old], bodies[new], from_number=old, to_number=new)
        found[draft["id"]] = {"error": "", "old": old, "new": new, "options": options,
                              "lines": [(_diff_class(line), line) for line in compared.unified.split("\n") if line]}
    return found, error


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "diff-file"
    if line.startswith("@@"):
        return "diff-hunk"
    if line.startswith("+"):
        return "diff-add"
    if line.startswith("-"):
        return "diff-del"
    return "diff-ctx"


def _approved_versions(drafts: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The approved versions that may be published (talking points never are), newest draft first."""
    options = []
    for draft in reversed(drafts):
        if draft["kind"] not in publishing.PUBLIC_KINDS:
            continue
        for version in reversed(draft["versions"]):
            if version["state"] == "approved":
                options.append((str(version["id"]), f"{_words(draft['kind'])}: {draft['title']} — version "
                                                    f"{version['number']}"))
    return options


def _linked(session: Session, workspace_id: int, issue_id: int) -> list[dict[str, Any]]:
    """The newest linked mentions with their flag, channel and author, in one query."""
    rows = session.execute(
        select(IssueMention.mention_id, IssueMention.posted_at, IssueMention.linked_by, IssueMention.site,
               Mention.text, Mention.url, Channel.name, MentionTriage.flag, Author.handle)
        .join(Mention, Mention.id == IssueMention.mention_id)
        .join(Channel, Channel.id == IssueMention.channel_id)
        .outerjoin(MentionTriage, MentionTriage.mention_id == IssueMention.mention_id)
        .outerjoin(Author, Author.id == Mention.author_id)
        .where(IssueMention.workspace_id == workspace_id, IssueMention.issue_id == issue_id)
        .order_by(IssueMention.posted_at.desc(), IssueMention.mention_id.desc()).limit(LINKED_SHOWN))
    return [{"id": mention_id, "posted_at": posted_at, "linked_by": linked_by, "site": site,
             "text": _excerpt(text), "url": _web_link(url), "channel": channel, "flag": flag or "none",
             "author": f"@{handle}" if handle else "unknown"}
            for mention_id, posted_at, linked_by, site, text, url, channel, flag, handle in rows]


def _ripple(session: Session, where: Place, issue_id: int, now: datetime) -> dict[str, Any]:
    """The ripple chart (linked mentions per channel over time) and the threads, or why there is none."""
    try:
        data = ripple.ripple_map(session, workspace_id=where.workspace_id, issue_id=issue_id, now=now)
    except InvalidInput as refusal:
        return {"chart": Markup(""), "error": message_of(refusal), "threads": [], "more_threads": 0, "total": 0,
                "channels": [], "sites": []}
    ranked = [entry["channel"] for entry in data["channels"]]
    shown, rest = ranked[:CHART_CHANNELS], ranked[CHART_CHANNELS:]
    series: dict[str, list[int]] = {name: [] for name in shown}
    if rest:
        series["other"] = []
    labels = []
    fmt = "%a %H:%M" if data["bucket"] == "hour" else "%d %b"
    for slot in data["series"]:
        labels.append(slot["start"].strftime(fmt))
        for name in shown:
            series[name].append(slot["channels"].get(name, 0))
        if rest:
            series["other"].append(sum(slot["channels"].get(name, 0) for name in rest))
    chart = charts.stacked_bars(labels, series, title=f"Linked mentions by channel, per {data['bucket']} "
                                                      f"({data['timezone']})", key_heading=data["bucket"].title())
    threads = sorted(data["threads"], key=lambda thread: (-thread["count"], thread["first_post_at"]))
    return {"chart": chart, "error": "", "total": data["total"], "channels": data["channels"], "sites": data["sites"],
            "threads": [{**thread, "url": _web_link(thread["url"])} for thread in threads[:THREADS_SHOWN]],
            "more_threads": max(len(threads) - THREADS_SHOWN, 0)}


def _publications(session: Session, where: Place, issue_id: int) -> list[dict[str, Any]]:
    return [{"title": p.title, "slug": p.slug, "published_at": p.published_at, "published_by": p.published_by,
             "path": f"/newsroom/{quote(where.slug)}/{quote(p.slug)}"}
            for p in session.scalars(select(Publication).where(
                Publication.workspace_id == where.workspace_id, Publication.issue_id == issue_id)
                .order_by(Publication.published_at, Publication.id))]


def _message(view: outbox.MessageView) -> dict[str, Any]:
    message = view.message
    return {"channel": view.channel, "kind": message.kind, "state": message.state, "body": _excerpt(message.body, 120),
            "next_attempt_at": message.next_attempt_at, "sent_at": message.sent_at, "last_error": message.last_error}


def _channels(session: Session, workspace_id: int) -> list[dict[str, Any]]:
    return [{"slug": channel.slug, "name": channel.name, "problem": cannot_send(OutboundChannel.of(channel))}
            for channel in session.scalars(select(Channel).where(Channel.workspace_id == workspace_id)
                                           .order_by(Channel.slug))]


def _aftermath(session: Session, runtime: WorkflowRuntime, where: Place, issue_id: int, now: datetime,
               request: Request) -> dict[str, Any]:
    """The executive summary's key figures, who to follow up, and the lessons learned."""
    base_url = services(request).settings.base_url
    summary = aftermath.executive_summary(session, runtime=runtime, workspace_id=where.workspace_id,
                                          issue_id=issue_id, now=now, base_url=base_url)
    people = aftermath.follow_ups(session, runtime=runtime, workspace_id=where.workspace_id, issue_id=issue_id,
                                  base_url=base_url)
    return {"summary": summary, "follow_ups": people, "followed_up": sum(1 for p in people if p["followed_up"]),
            "lessons": summary["lessons"], "summary_path": _issue_path(where, issue_id) + "/summary"}


# ---------------------------------------------------------------------------------------------- changes

Change = Callable[[Session, WorkflowRuntime, Actor, datetime], Any]


def _apply(request: Request, where: Place, issue_id: int, form: Form, key: str, anchor: str,
           change: Change) -> Response:
    """Run the change as the member: back to the issue (at `anchor`) when done, else the page with the refusal."""
    refusal = act(request, where, change, missing=f"There is no such issue, task, draft or mention in {where.name} "
                                                  f"(issue {issue_id}).")
    if refusal is not None:
        return _issue_page(request, where, issue_id, PageState(key, message_of(refusal), form),
                           status=status_of(refusal))
    return redirect(_issue_path(where, issue_id, anchor))


def _context(where: Place, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> dict[str, Any]:
    return {"runtime": runtime, "workspace_id": where.workspace_id, "actor": actor, "now": now}


@router.post("/w/{slug}/issues/{issue_id}/stage")
def move_stage(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "stage", "stage", lambda session, runtime, actor, now:
                  service.move_stage(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                     target=form.get("stage", ""),
                                     override_reason=form.get("override_reason", "").strip() or None,
                                     expected_revision=revision_of(form)))


@router.post("/w/{slug}/issues/{issue_id}/decision")
def record_decision(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "decision", "decision", lambda session, runtime, actor, now:
                  service.record_decision(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                          decision=form.get("decision", ""), reason=form.get("reason", ""),
                                          expected_revision=revision_of(form)))


@router.post("/w/{slug}/issues/{issue_id}/close")
def close_issue(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "close", "close", lambda session, runtime, actor, now:
                  service.close_issue(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                      reason=form.get("reason", "").strip() or None,
                                      expected_revision=revision_of(form)))


@router.post("/w/{slug}/issues/{issue_id}/stakeholders")
def add_stakeholder(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "stakeholders", "people", lambda session, runtime, actor, now:
                  service.add_stakeholder(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                          email=form.get("email", ""), role=form.get("role", "")))


@router.post("/w/{slug}/issues/{issue_id}/stakeholders/remove")
def remove_stakeholder(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "stakeholders", "people", lambda session, runtime, actor, now:
                  service.remove_stakeholder(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                             email=form.get("email", ""), role=form.get("role", "")))


@router.post("/w/{slug}/issues/{issue_id}/tasks")
def add_task(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        due = _due_at(form.get("due_at", ""), ripple.workspace_zone(session, where.workspace_id))
        service.add_task(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                         title=form.get("title", ""), stage=form.get("stage") or None,
                         owner_email=form.get("owner") or None, due_at=due, required=form.get("required") == "1")

    return _apply(request, where, issue_id, form, "task", "tasks", change)


@router.post("/w/{slug}/issues/{issue_id}/tasks/{task_id}/complete")
def complete_task(request: Request, where: PlaceDep, issue_id: int, task_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, f"task-{task_id}", f"task-{task_id}",
                  lambda session, runtime, actor, now: service.complete_task(
                      session, **_context(where, runtime, actor, now), issue_id=issue_id, task_id=task_id))


@router.post("/w/{slug}/issues/{issue_id}/tasks/{task_id}/reopen")
def reopen_task(request: Request, where: PlaceDep, issue_id: int, task_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, f"task-{task_id}", f"task-{task_id}",
                  lambda session, runtime, actor, now: service.reopen_task(
                      session, **_context(where, runtime, actor, now), issue_id=issue_id, task_id=task_id))


@router.post("/w/{slug}/issues/{issue_id}/links")
def link_mentions(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    """Link mentions (mention_id repeated); the mention page posts here too, with `next` to come back to."""
    response = _apply(request, where, issue_id, form, "link", "mentions", lambda session, runtime, actor, now:
                      service.link(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                   mention_ids=mention_ids_of(form.getlist("mention_id"))))
    if response.status_code == 303 and form.get("next"):
        return redirect(safe_next(form.get("next")))
    return response


@router.post("/w/{slug}/issues/{issue_id}/links/remove")
def unlink_mention(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, "link", "mentions", lambda session, runtime, actor, now:
                  service.unlink(session, **_context(where, runtime, actor, now), issue_id=issue_id,
                                 mention_id=_number_field(form, "mention_id", "the mention to unlink")))


@router.post("/w/{slug}/issues/{issue_id}/drafts")
def create_draft(request: Request, where: PlaceDep, issue_id: int, form: LongFormDep) -> Response:
    """Start a draft from a body, a holding statement, or nothing (to write version 1 later)."""
    created: list[int] = []

    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        body = form.get("body", "")
        draft = content.create_draft(
            session, **_context(where, runtime, actor, now), issue_id=issue_id, kind=form.get("kind", ""),
            title=form.get("title", ""), body=body if body.strip() else None,
            from_statement=form.get("from_statement") or None, audience=form.get("audience") or None)
        created.append(draft.id)

    refusal = act(request, where, change, missing=f"There is no issue {issue_id} in {where.name}.")
    if refusal is not None:
        return _issue_page(request, where, issue_id, PageState("draft", message_of(refusal), form),
                           status=status_of(refusal))
    return redirect(_issue_path(where, issue_id, f"draft-{created[0]}"))


@router.post("/w/{slug}/issues/{issue_id}/drafts/{draft_id}/versions")
def add_version(request: Request, where: PlaceDep, issue_id: int, draft_id: int, form: LongFormDep) -> Response:
    based_on = form.get("based_on", "")
    return _apply(request, where, issue_id, form, f"version-{draft_id}", f"draft-{draft_id}",
                  lambda session, runtime, actor, now: content.add_version(
                      session, **_context(where, runtime, actor, now), draft_id=draft_id, issue_id=issue_id,
                      body=form.get("body", ""),
                      expected_number=int(based_on) if based_on.isascii() and based_on.isdigit() else None))


def _draft_of(session: Session, where: Place, issue_id: int, version_id: int) -> int:
    return content.get_version(session, where.workspace_id, version_id, issue_id=issue_id)[1].id


@router.post("/w/{slug}/issues/{issue_id}/versions/{version_id}/comments")
def comment(request: Request, where: PlaceDep, issue_id: int, version_id: int, form: FormDep) -> Response:
    return _version_change(request, where, issue_id, version_id, form, "comment", lambda session, runtime, actor, now:
                           content.comment(session, **_context(where, runtime, actor, now), version_id=version_id,
                                           issue_id=issue_id, text=form.get("text", "")))


@router.post("/w/{slug}/issues/{issue_id}/versions/{version_id}/submit")
def submit_for_review(request: Request, where: PlaceDep, issue_id: int, version_id: int, form: FormDep) -> Response:
    return _version_change(request, where, issue_id, version_id, form, "review", lambda session, runtime, actor, now:
                           content.submit_for_review(session, **_context(where, runtime, actor, now),
                                                     version_id=version_id, issue_id=issue_id))


@router.post("/w/{slug}/issues/{issue_id}/versions/{version_id}/review")
def review(request: Request, where: PlaceDep, issue_id: int, version_id: int, form: FormDep) -> Response:
    """Legal's verdict: the button pressed (`verdict`) and a comment (needed to request changes)."""
    return _version_change(request, where, issue_id, version_id, form, "review", lambda session, runtime, actor, now:
                           content.review(session, **_context(where, runtime, actor, now), version_id=version_id,
                                          issue_id=issue_id, verdict=form.get("verdict", ""),
                                          comment=form.get("comment", "")))


def _version_change(request: Request, where: Place, issue_id: int, version_id: int, form: Form, key: str,
                    change: Change) -> Response:
    """A change to one version; it lands back at its draft."""
    drafts: list[int] = []

    def run(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        drafts.append(_draft_of(session, where, issue_id, version_id))
        change(session, runtime, actor, now)

    refusal = act(request, where, run, missing=f"Issue {issue_id} has no draft version {version_id}.")
    if refusal is not None:
        return _issue_page(request, where, issue_id, PageState(f"{key}-{version_id}", message_of(refusal), form),
                           status=status_of(refusal))
    return redirect(_issue_path(where, issue_id, f"draft-{drafts[0]}"))


@router.post("/w/{slug}/issues/{issue_id}/publish")
def publish(request: Request, where: PlaceDep, issue_id: int, form: FormDep) -> Response:
    """Publish an approved version on the newsroom, post the link on the chosen channels, reply in threads."""
    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        version = _number_field(form, "version_id", "the version to publish") if form.get("version_id") else None
        publishing.publish(
            session, **_context(where, runtime, actor, now), issue_id=issue_id,
            base_url=services(request).settings.base_url, kind=form.get("kind") or "response", version_id=version,
            channels=form.getlist("channel"), reply_in_threads=form.get("reply_in_threads") == "1",
            slug=form.get("slug", "").strip() or None)

    response = _apply(request, where, issue_id, form, "publish", "publish", change)
    if response.status_code == 303:
        _wake_outbox(request)
    return response


@router.post("/w/{slug}/issues/{issue_id}/follow-ups/{author_id}")
def follow_up_done(request: Request, where: PlaceDep, issue_id: int, author_id: int, form: FormDep) -> Response:
    return _apply(request, where, issue_id, form, f"follow-up-{author_id}", "follow-ups",
                  lambda session, runtime, actor, now: aftermath.mark_followed_up(
                      session, runtime=runtime, workspace_id=where.workspace_id, issue_id=issue_id,
                      author_id=author_id, actor=actor, now=now, note=form.get("note") or None))


@router.post("/w/{slug}/issues/{issue_id}/lessons")
def add_lesson(request: Request, where: PlaceDep, issue_id: int, form: LongFormDep) -> Response:
    return _apply(request, where, issue_id, form, "lesson", "lessons", lambda session, runtime, actor, now:
                  aftermath.add_lesson(session, runtime=runtime, workspace_id=where.workspace_id, issue_id=issue_id,
                                       actor=actor, now=now, text=form.get("text", ""),
                                       proposed_change=form.get("proposed_change") or None))


@router.get("/w/{slug}/issues/{issue_id}/summary")
def printable_summary(request: Request, where: PlaceDep, issue_id: int) -> Response:
    """The executive summary as the domain prints it: one self-contained page to print or forward."""
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            summary = aftermath.executive_summary(session, runtime=runtime, workspace_id=where.workspace_id,
                                                  issue_id=issue_id, now=utcnow(),
                                                  base_url=services(request).settings.base_url)
        except NotFound:
            raise PageError(404, "Issue not found", f"There is no issue {issue_id} in {where.name}.") from None
    response = secure_headers(HTMLResponse(aftermath.summary_html(summary)))
    response.headers["Content-Security-Policy"] = SUMMARY_CSP
    return response
