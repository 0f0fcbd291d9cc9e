"""A mention's page: the post, why it was flagged, the assessment, its clocks and audit trail, and actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from firebreak.core.clock import utcnow
from firebreak.core.errors import NotFound
from firebreak.mentions.models import Mention
from firebreak.triage.models import MentionTriage
from firebreak.web.common import (
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
from firebreak.workflow import actions, queries
from firebreak.workflow.models import WORK_STATES

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class FormErrors:
    assign: str = ""
    state: str = ""
    assignee_value: str = ""
    reason_value: str = ""


def _detail_page(request: Request, where: Place, mention_id: int, errors: FormErrors = FormErrors(),
                 status: int = 200) -> Response:
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            detail = queries.work_detail(session, runtime=runtime, workspace_id=where.workspace_id,
                                         mention_id=mention_id, now=utcnow())
        except NotFound:
            raise PageError(404, "Mention not found",
                            f"There is no mention {mention_id} with work in {where.name}.") from None
        mention = session.get(Mention, mention_id)
        triage = session.get(MentionTriage, mention_id)
        channel, author = origins(session, [mention_id]).get(mention_id, ("", ""))
        session.expunge(mention)
    link = mention.url if mention.url and mention.url.startswith(("https://", "http://")) else ""
    audit = [{**entry, "summary": _audit_details(entry["details"])} for entry in detail["audit"]]
    return render_page(
        request, where, "mention.html", title=f"Mention {mention_id}", section="inbox", status=status,
        mention=mention, detail=detail, flag=triage.flag if triage else "none",
        category=triage.category if triage else "", author=author, channel=channel, link=link, errors=errors,
        reasons=triage.reasons if triage else [], assessment=detail["assessment"] or {}, audit=audit,
        state_options=[(s, s) for s in WORK_STATES if s != detail["state"]],
    )


def _audit_details(details: Any) -> str:
    if isinstance(details, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in details.items() if value not in (None, "", [], {}))
    return "" if details is None else str(details)


@router.get("/w/{slug}/mentions/{mention_id}")
def mention_detail(request: Request, where: PlaceDep, mention_id: int) -> Response:
    return _detail_page(request, where, mention_id)


def _back(where: Place, mention_id: int) -> Response:
    return redirect(f"/w/{quote(where.slug)}/mentions/{mention_id}")


@router.post("/w/{slug}/mentions/{mention_id}/assign")
def assign(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    """Assign to me (the `to_me` button), to an e-mail, or back to the queue with a blank e-mail."""
    email = where.user.email if form.get("to_me") else form.get("assignee", "").strip() or None
    refusal = act(request, where, lambda session, runtime, actor, now: actions.assign(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, assignee_email=email,
        actor=actor, reason=None, now=now, expected_revision=revision_of(form)),
        missing=f"There is no mention {mention_id} with work here.")
    if refusal is not None:
        return _detail_page(request, where, mention_id,
                            FormErrors(assign=message_of(refusal), assignee_value=form.get("assignee", "")),
                            status=status_of(refusal))
    return _back(where, mention_id)


@router.post("/w/{slug}/mentions/{mention_id}/state")
def change_state(request: Request, where: PlaceDep, mention_id: int, form: FormDep) -> Response:
    to_state, reason = form.get("state", ""), form.get("reason", "").strip() or None
    refusal = act(request, where, lambda session, runtime, actor, now: actions.change_state(
        session, runtime=runtime, workspace_id=where.workspace_id, mention_id=mention_id, to_state=to_state,
        actor=actor, reason=reason, now=now, expected_revision=revision_of(form)),
        missing=f"There is no mention {mention_id} with work here.")
    if refusal is not None:
        return _detail_page(request, where, mention_id,
                            FormErrors(state=message_of(refusal), reason_value=form.get("reason", "")),
                            status=status_of(refusal))
    return _back(where, mention_id)
