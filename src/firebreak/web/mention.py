"""A mention's page: the post in its thread, who wrote it, why it was flagged, the assessment, its clocks and
audit trail, and every action on it — assign, change state, reply, take private, escalate, moderate, and
open or link an issue.

The actions live in the workflow (`actions`, `responses`, `moderation`); this module parses the forms,
runs them as the signed-in member and renders. A refusal re-renders the page with the reason next to
the form that caused it (403 forbidden, 409 conflict, 422 invalid); success redirects back (303) with
a fixed notice named in the query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.clock import utcnow
from firebreak.core.errors import NotFound
from firebreak.issues.models import SEVERITIES, Issue, IssueMention
from firebreak.mentions.models import Mention
from firebreak.mentions.service import get_mention
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.triage.models import MentionTriage
from firebreak.web.common import (
    Change,
    Form,
    FormDep,
    PageError,
    Place,
    PlaceDep,
    act,
    db,
    message_of,
    redirect,
    render_page,
    revision_of,
    runtime_for,
    status_of,
)
from firebreak.web.inbox import origins
from firebreak.workflow import actions, moderation, queries, responses
from firebreak.workflow.actions import Actor, get_item
from firebreak.workflow.models import WORK_STATES
from firebreak.workflow.runtime import WorkflowRuntime

router = APIRouter(include_in_schema=False)

OPEN_ISSUES_SHOWN = 100
# What a successful action says on the page it returns to (never text from the request).
NOTICES = {
    "reply": "Reply queued in the outbox; the item is responded.",
    "private": "Reply asking for a direct message queued; the item is responded and noted.",
    "escalate": "Escalated: the item moved and the red-flag targets were alerted.",
    "moderate": "Moderation recorded and queued for the channel's connector.",
    "moderate-recorded": "Moderation recorded only: this channel has no outbound connector to carry it out.",
}
MODERATION_LABELS = {"hide": "Hide the post", "delete": "Delete the post", "report_spam": "Report as spam"}


@dataclass(frozen=True, slots=True)
class FormErrors:
    """The refusal to show beside one form (`form` names it) and what the person had typed there."""

    form: str = ""
    message: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    def value(self, form: str, name: str, default: str = "") -> str:
        return self.values.get(name, default) if self.form == form else default

    def of(self, form: str) -> str:
        return self.message if self.form == form else ""


def _linked_issues(session: Session, workspace_id: int, mention_id: int) -> tuple[list[Issue], list[Issue]]:
    """The issues the mention is part of, and the workspace's other open issues to link it to (newest first)."""
    linked = list(session.scalars(
        select(Issue).join(IssueMention, IssueMention.issue_id == Issue.id)
        .where(IssueMention.mention_id == mention_id, Issue.workspace_id == workspace_id).order_by(Issue.number)))
    taken = [issue.id for issue in linked]
    stmt = (select(Issue).where(Issue.workspace_id == workspace_id, Issue.state == "open")
            .order_by(Issue.number.desc()).limit(OPEN_ISSUES_SHOWN))
    if taken:
        stmt = stmt.where(Issue.id.not_in(taken))
    return linked, list(session.scalars(stmt))


def _clock_rows(clocks: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each clock with its wall-clock countdown to the due moment (what mention.js keeps counting down)."""
    rows = []
    for clock in clocks:
        running = clock["state"] == "running" and clock["due_at"] is not None
        rows.append({**clock, "running": running,
                     "left": (clock["due_at"] - now).total_seconds() if running else None})
    return rows


def _detail_page(request: Request, where: Place, mention_id: int, errors: FormErrors = FormErrors(),
                 status: int = 200, template: str = "") -> Response:
    now = utcnow()
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            detail = queries.work_detail(session, runtime=runtime, workspace_id=where.workspace_id,
                                         mention_id=mention_id, now=now)
        except NotFound:
            raise PageError(404, "Mention not found",
                            f"There is no mention {mention_id} with work in {where.name}.") from None
        mention = session.get(Mention, mention_id)
        triage = session.get(MentionTriage, mention_id)
        channel_row = session.get(Channel, mention.channel_id)
        assert mention is not None and channel_row is not None  # the work item's foreign keys cascade
        send_problem = cannot_send(OutboundChannel.of(channel_row))
        channel, author = origins(session, [mention_id]).get(mention_id, ("", ""))
        card = responses.author_card(session, workspace_id=where.workspace_id, mention_id=mention_id)
        thread = responses.thread(session, workspace_id=where.workspace_id, mention_id=mention_id)
        replies = responses.saved_replies(runtime, handle=card.handle if card else None, brand=where.name)
        escalation = responses.plan_escalation(
            session, runtime=runtime, item=get_item(session, where.workspace_id, mention_id), now=now)
        outgoing = responses.outgoing(session, workspace_id=where.workspace_id, mention_id=mention_id)
        linked, open_issues = _linked_issues(session, where.workspace_id, mention_id)
        session.expunge_all()
    if template and template not in replies and errors.form == "":
        errors, status = FormErrors("reply", f"There is no saved reply {template!r}; choose one from the list."), 422
    link = mention.url if mention.url and mention.url.startswith(("https://", "http://")) else ""
    audit = [{**entry, "summary": _audit_details(entry["details"])} for entry in detail["audit"]]
    notice = NOTICES.get(request.query_params.get("done", ""), "") if status == 200 else ""
    return render_page(
        request, where, "mention.html", title=f"Mention {mention_id}", section="inbox", status=status,
        mention=mention, detail=detail, flag=triage.flag if triage else "none",
        category=triage.category if triage else "", author=author, channel=channel, link=link, errors=errors,
        reasons=triage.reasons if triage else [], assessment=detail["assessment"] or {}, audit=audit,
        state_options=[(s, s) for s in WORK_STATES if s != detail["state"]], clocks=_clock_rows(detail["clocks"], now),
        card=card, thread=thread, replies=replies, chosen_template=errors.value("reply", "template", template),
        reply_text=errors.value("reply", "text", replies.get(template, "")),
        private_text=errors.value("private", "text", replies.get(responses.PRIVATE_REPLY, "")),
        escalation=escalation, send_problem=send_problem, outgoing=outgoing, linked=linked,
        open_issues=open_issues, severities=SEVERITIES, moderations=list(MODERATION_LABELS.items()), notice=notice,
    )


def _audit_details(details: Any) -> str:
    if isinstance(details, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in details.items() if value not in (None, "", [], {}))
    return "" if details is None else str(details)


@router.get("/w/{slug}/mentions/{mention_id}")
def mention_detail(request: Request, where: PlaceDep, mention_id: int, template: str = "") -> Response:
    """The page; `?template=name` starts the reply from that saved reply (how it works without JavaScript)."""
    return _detail_page(request, where, mention_id, template=template)


def _back(where: Place, mention_id: int, done: str = "", anchor: str = "") -> Response:
    query = f"?done={done}" if done else ""
    return redirect(f"/w/{quote(where.slug)}/mentions/{mention_id}{query}{anchor}")


def _run(request: Request, where: Place, mention_id: int, form: Form, name: str, change: Change,
         *, keep: tuple[str, ...], done: str = "") -> Response:
    """Run `change` as the member; on a refusal re-render with it beside form `name`, else go back to the page."""
    refusal = act(request, where, change, missing=f"There is no mention {mention_id} with work here.")
    if refusal is not None:
        values = {key: form.get(key, "") for key in keep}
        return _detail_page(request, where, mention_id, FormErrors(name, message_of(refusal), values),
                            status=status_of(refusal))
    return _back(where, mention_id, done, f"#{name}" if done else "")


@router.post("/w/{slug}/mentions/{mention_id}/assign")
def assign(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    """Assign to me (the `to_me` button), to an e-mail, or back to the queue with a blank e-mail."""
    email = where.user.email if form.get("to_me") else form.get("assignee", "").strip() or None
    return _run(request, where, mention_id, form, "assign", lambda session, runtime, actor, now: actions.assign(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, assignee_email=email,
        actor=actor, reason=None, now=now, expected_revision=revision_of(form)), keep=("assignee",))


@router.post("/w/{slug}/mentions/{mention_id}/state")
def change_state(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    to_state, reason = form.get("state", ""), form.get("reason", "").strip() or None
    return _run(request, where, mention_id, form, "state", lambda session, runtime, actor, now: actions.change_state(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, to_state=to_state,
        actor=actor, reason=reason, now=now, expected_revision=revision_of(form)), keep=("reason",))


@router.post("/w/{slug}/mentions/{mention_id}/reply")
def reply(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    """Send the text; with no text, the chosen saved reply as it is (the page without JavaScript)."""
    template = form.get("template", "").strip() or None
    text = form.get("text", "")

    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        body = text
        if not body.strip() and template is not None and template in runtime.loaded.playbook.replies:
            handle = responses.author_handle(session, workspace_id=where.workspace_id, mention_id=mention_id)
            body = responses.fill_reply(runtime.loaded.playbook.replies[template], handle=handle, brand=where.name)
        responses.reply(session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, text=body,
                        template=template, actor=actor, now=now, expected_revision=revision_of(form))

    return _run(request, where, mention_id, form, "reply", change, keep=("text", "template"), done="reply")


@router.post("/w/{slug}/mentions/{mention_id}/private")
def take_private(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        responses.take_private(session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id,
                               text=form.get("text", ""), note=form.get("note"), actor=actor, now=now,
                               expected_revision=revision_of(form))

    return _run(request, where, mention_id, form, "private", change, keep=("text", "note"), done="private")


@router.post("/w/{slug}/mentions/{mention_id}/escalate")
def escalate(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    public_url = request.app.state.settings.base_url
    return _run(request, where, mention_id, form, "escalate", lambda session, runtime, actor, now: responses.escalate(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id,
        reason=form.get("reason", ""), actor=actor, now=now, public_url=public_url,
        expected_revision=revision_of(form)), keep=("reason",), done="escalate")


@router.post("/w/{slug}/mentions/{mention_id}/moderate")
def moderate(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    outcome: list[moderation.Moderated] = []

    def change(session: Session, runtime: WorkflowRuntime, actor: Actor, now: datetime) -> None:
        get_item(session, where.workspace_id, mention_id)  # only mentions with a page of their own
        outcome.append(moderation.moderate(session, runtime=runtime, workspace_id=where.workspace_id,
                                           mention_id=mention_id, action=form.get("action", ""),
                                           reason=form.get("reason"), actor=actor, now=now))

    response = _run(request, where, mention_id, form, "moderate", change, keep=("action", "reason"), done="moderate")
    if outcome and outcome[0].message is None:
        return _back(where, mention_id, "moderate-recorded", "#moderate")
    return response


@router.post("/w/{slug}/mentions/{mention_id}/link-issue")
def link_issue(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    """Hand the form on to the chosen issue's links (a 307 keeps the POST and its body), so a select works
    without JavaScript; the issues page checks the issue, the member's role and the token again."""
    with db(request).read() as session:
        try:
            get_mention(session=session, workspace_id=where.workspace_id, mention_id=mention_id)
        except NotFound:
            raise PageError(404, "Mention not found", f"There is no mention {mention_id} in {where.name}.") from None
    if form.getlist("mention_id") != [str(mention_id)]:
        raise PageError(422, "That form could not be read", "It must name this page's mention and no other.")
    issue_id = form.get("issue_id", "").strip()
    if not issue_id.isdigit():
        return _detail_page(request, where, mention_id, FormErrors("link-issue", "Choose an open issue to link to."),
                            status=422)
    return RedirectResponse(f"/w/{quote(where.slug)}/issues/{issue_id}/links", status_code=307)
