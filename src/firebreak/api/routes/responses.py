"""Answering a mention over HTTP: saved replies, reply, take private, escalate and moderate.

Each write acts as the token's user (or with the integration token's fixed roles) and answers like
the workflow routes: a missing permission or authority is 403, a wrong value 422 with its field,
something already done (the same reply queued, an item already escalated) or a stale `revision` 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep, ServicesDep, SettingsDep
from firebreak.api.routes.workflow import WorkDetail
from firebreak.core.clock import utcnow
from firebreak.outbox.models import OutboxMessage
from firebreak.workflow import moderation, queries, responses
from firebreak.workflow.actions import get_item

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["responses"])

MentionId = Annotated[int, Path(ge=1)]


class SavedReply(BaseModel):
    name: str
    text: str = Field(description="Filled in for this mention: {author} is the author's @handle, {brand} the brand")


class SavedReplies(BaseModel):
    replies: list[SavedReply]
    private: str | None = Field(description="The name of the saved reply that `private` starts from, if any")


class ReplyRequest(BaseModel):
    text: str = Field(max_length=responses.MAX_REPLY * 2, description="The reply as it will be posted")
    template: str | None = Field(None, max_length=48, description="The saved reply it started from, for the record")
    revision: int | None = Field(None, ge=1, description="The revision you saw; a newer one answers 409")


class PrivateRequest(BaseModel):
    text: str = Field(max_length=responses.MAX_REPLY * 2, description="The reply asking for a direct message")
    note: str | None = Field(None, max_length=responses.MAX_REASON * 2, description="A note on the item")
    revision: int | None = Field(None, ge=1)


class EscalateRequest(BaseModel):
    reason: str = Field(max_length=responses.MAX_REASON * 2, description="Why; it goes into the alerts")
    revision: int | None = Field(None, ge=1)


class ModerateRequest(BaseModel):
    action: Literal["hide", "delete", "report_spam"]
    reason: str | None = Field(None, max_length=moderation.MAX_REASON * 2)


class MessageRead(BaseModel):
    id: int
    kind: str
    channel: str
    state: str
    body: str
    in_reply_to: str | None
    idempotency_key: str
    next_attempt_at: datetime = Field(description="When the outbox will send it (replies on a channel are spaced)")


class ReplyRead(BaseModel):
    message: MessageRead
    work: WorkDetail


class EscalationRead(BaseModel):
    queue: str
    team: str
    priority: str
    rule: str
    alerted: list[str] = Field(description="Alert targets (and the on-call person) told now")
    alerts_queued: int
    work: WorkDetail


class ModerationRead(BaseModel):
    action: str
    channel: str
    queued: bool
    message: MessageRead | None
    not_queued: str | None = Field(description="Why the decision was only recorded (no outbound connector)")


def _message(message: OutboxMessage, channel: str) -> MessageRead:
    return MessageRead(id=message.id, kind=message.kind, channel=channel, state=message.state, body=message.body,
                       in_reply_to=message.in_reply_to, idempotency_key=message.idempotency_key,
                       next_attempt_at=message.next_attempt_at)


@router.get("/mentions/{mention_id}/replies", response_model=SavedReplies, summary="Saved replies for a mention")
def saved_replies(caller: CallerDep, session: ReadSessionDep, services: ServicesDep,
                  mention_id: MentionId) -> SavedReplies:
    """Return the playbook's saved replies filled in for this mention's author and the brand."""
    caller.require("mentions:read")
    runtime = services.workflow(session, caller.workspace.id)
    get_item(session, caller.workspace.id, mention_id)
    handle = responses.author_handle(session, workspace_id=caller.workspace.id, mention_id=mention_id)
    filled = responses.saved_replies(runtime, handle=handle, brand=caller.workspace.name)
    return SavedReplies(replies=[SavedReply(name=name, text=text) for name, text in filled.items()],
                        private=responses.PRIVATE_REPLY if responses.PRIVATE_REPLY in filled else None)


@router.post("/mentions/{mention_id}/reply", response_model=ReplyRead, summary="Reply to a mention")
def reply(caller: CallerDep, db: DbDep, services: ServicesDep, mention_id: MentionId, body: ReplyRequest) -> ReplyRead:
    """Queue the reply on the mention's channel through the outbox; the item becomes responded.

    Needs the `respond` permission. The same text to the same mention is queued once (409 after).
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        now = utcnow()
        done = responses.reply(session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id,
                               text=body.text, template=body.template, actor=caller.actor, now=now,
                               expected_revision=body.revision)
        detail = queries.work_detail(session, runtime=runtime, workspace_id=caller.workspace.id,
                                     mention_id=mention_id, now=now)
        return ReplyRead(message=_message(done.message, done.channel), work=WorkDetail.model_validate(detail))


@router.post("/mentions/{mention_id}/private", response_model=ReplyRead, summary="Take a conversation private")
def take_private(caller: CallerDep, db: DbDep, services: ServicesDep, mention_id: MentionId,
                 body: PrivateRequest) -> ReplyRead:
    """Reply asking the customer to continue in direct messages, and note it on the item."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        now = utcnow()
        done = responses.take_private(session, runtime=runtime, workspace_id=caller.workspace.id,
                                      mention_id=mention_id, text=body.text, note=body.note, actor=caller.actor,
                                      now=now, expected_revision=body.revision)
        detail = queries.work_detail(session, runtime=runtime, workspace_id=caller.workspace.id,
                                     mention_id=mention_id, now=now)
        return ReplyRead(message=_message(done.message, done.channel), work=WorkDetail.model_validate(detail))


@router.post("/mentions/{mention_id}/escalate", response_model=EscalationRead, summary="Escalate a mention")
def escalate(caller: CallerDep, db: DbDep, services: ServicesDep, settings: SettingsDep, mention_id: MentionId,
             body: EscalateRequest) -> EscalationRead:
    """Raise the item to the queue and priority the playbook gives red flags, and alert the red-flag targets.

    Needs the `escalate` permission and a reason; a mention is escalated once.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        now = utcnow()
        done = responses.escalate(session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id,
                                  reason=body.reason, actor=caller.actor, now=now, public_url=settings.base_url,
                                  expected_revision=body.revision)
        detail = queries.work_detail(session, runtime=runtime, workspace_id=caller.workspace.id,
                                     mention_id=mention_id, now=now)
        plan = done.plan
        return EscalationRead(queue=plan.queue, team=plan.team, priority=plan.priority, rule=plan.rule,
                              alerted=[*plan.targets, *([plan.on_call] if plan.on_call else [])],
                              alerts_queued=done.alerts, work=WorkDetail.model_validate(detail))


@router.post("/mentions/{mention_id}/moderate", response_model=ModerationRead, summary="Hide, delete or report")
def moderate(caller: CallerDep, db: DbDep, services: ServicesDep, mention_id: MentionId,
             body: ModerateRequest) -> ModerationRead:
    """Record the moderation and queue it for the channel's connector (no native connector moderates yet).

    Hiding and reporting spam need the `hide_post` authority, deleting `delete_post`.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        done = moderation.moderate(session, runtime=runtime, workspace_id=caller.workspace.id, mention_id=mention_id,
                                   action=body.action, reason=body.reason, actor=caller.actor, now=utcnow())
        return ModerationRead(action=done.action, channel=done.channel, queued=done.message is not None,
                              message=_message(done.message, done.channel) if done.message else None,
                              not_queued=done.not_queued)
