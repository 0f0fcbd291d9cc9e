"""Publishing over HTTP: publish an issue's approved content, watch its outbox, retry a failed message,
and connect a channel's outbound webhook.

Publishing needs the `publish` permission (communications and admin in the default playbook) and a
token with `workflow:write`; reading the outbox needs `mentions:read`; connecting a channel needs an
admin token. The newsroom pages themselves are public (see `newsroom.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep, ServicesDep, SettingsDep
from firebreak.core.clock import utcnow
from firebreak.issues.access import get_issue, require
from firebreak.issues.publishing import PUBLIC_KINDS, publish
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OUTBOUND_URL, OutboundChannel, cannot_send
from firebreak.outbox.models import OUTBOX_STATES

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["publishing"])

IssueId = Annotated[int, Path(ge=1)]
MessageId = Annotated[int, Path(ge=1)]
ChannelSlug = Annotated[str, Path(min_length=1, max_length=64)]
PublicKind = Literal[PUBLIC_KINDS]  # type: ignore[valid-type]


class PublishRequest(BaseModel):
    kind: PublicKind = Field("response", description="Which content to publish: its newest approved version")
    version_id: int | None = Field(None, ge=1, description="Publish this approved version instead")
    channels: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="Slugs of the channels to post the link on")
    reply_in_threads: bool = Field(True, description="Reply with the link in every thread linked to the issue")
    slug: str | None = Field(None, max_length=120, description="The page's address; default: from the title")


class PublicationRead(BaseModel):
    id: int
    issue_id: int
    version_id: int
    slug: str
    title: str
    url: str
    published_at: datetime
    published_by: str


class OutboxMessageRead(BaseModel):
    id: int
    issue_id: int | None
    channel: str
    kind: str
    state: str = Field(description="pending, sending, sent, failed or cancelled")
    idempotency_key: str
    body: str
    link: str | None
    in_reply_to: str | None
    conversation_id: str | None
    attempts: int
    next_attempt_at: datetime = Field(description="When it goes out: spaced per channel, backed off on errors")
    sent_at: datetime | None
    remote_id: str | None = Field(description="The post's id on the network, once sent")
    last_error: str | None
    created_at: datetime
    created_by: str


class SkippedRead(BaseModel):
    channel: str
    kind: str
    count: int
    reason: str


class PublishResponse(BaseModel):
    publication: PublicationRead
    messages: list[OutboxMessageRead]
    skipped: list[SkippedRead] = Field(description="Channels nothing was queued on, and why")


class OutboxPage(BaseModel):
    items: list[OutboxMessageRead]


class OutboundRequest(BaseModel):
    url: str | None = Field(max_length=2000, description="Where the webhook connector POSTs; null disconnects")


class OutboundRead(BaseModel):
    channel: str
    outbound_url: str | None
    can_send: bool
    reason: str | None = Field(description="Why nothing can be sent to the channel, when it cannot")


def _message(view: outbox.MessageView) -> OutboxMessageRead:
    message = view.message
    return OutboxMessageRead(
        id=message.id, issue_id=message.issue_id, channel=view.channel, kind=message.kind, state=message.state,
        idempotency_key=message.idempotency_key, body=message.body, link=message.link,
        in_reply_to=message.in_reply_to, conversation_id=message.conversation_id, attempts=message.attempts,
        next_attempt_at=message.next_attempt_at, sent_at=message.sent_at, remote_id=message.remote_id,
        last_error=message.last_error, created_at=message.created_at, created_by=message.created_by,
    )


def _wake_outbox(request: Request) -> None:
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake("outbox")


@router.post("/issues/{issue_id}/publish", response_model=PublishResponse, status_code=201,
             summary="Publish the approved response")
def publish_issue(
    request: Request, caller: CallerDep, db: DbDep, services: ServicesDep, settings: SettingsDep, issue_id: IssueId,
    body: PublishRequest,
) -> PublishResponse:
    """Put the approved version on the public newsroom page and queue a post with the link on each chosen
    channel and a reply in every linked thread, spaced by the playbook's `publish_throttle` per channel.

    No approved version answers 422; a version already published, or a slug in use, 409. Channels that
    cannot send (no outbound URL) are listed under `skipped` with the reason.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        result = publish(
            session, runtime=runtime, workspace_id=caller.workspace.id, issue_id=issue_id, actor=caller.actor,
            now=utcnow(), base_url=settings.base_url, kind=body.kind, version_id=body.version_id,
            channels=body.channels, reply_in_threads=body.reply_in_threads, slug=body.slug,
        )
        publication = result.publication
        response = PublishResponse(
            publication=PublicationRead(
                id=publication.id, issue_id=publication.issue_id, version_id=publication.version_id,
                slug=publication.slug, title=publication.title, url=result.link,
                published_at=publication.published_at, published_by=publication.published_by),
            messages=[_message(view) for view in result.messages],
            skipped=[SkippedRead(channel=s.channel, kind=s.kind, count=s.count, reason=s.reason)
                     for s in result.skipped],
        )
    _wake_outbox(request)
    return response


@router.get("/issues/{issue_id}/outbox", response_model=OutboxPage, summary="An issue's posts and replies")
def issue_outbox(
    caller: CallerDep, session: ReadSessionDep, issue_id: IssueId,
    state: Annotated[list[Literal[OUTBOX_STATES]] | None, Query(  # type: ignore[valid-type]
        description="Repeat for several; default: all")] = None,
    limit: Annotated[int, Query(ge=1, le=outbox.MAX_LIST)] = 200,
) -> OutboxPage:
    """Return the issue's outbox messages, newest first: what went out, what waits (and until when), what failed."""
    caller.require("mentions:read")
    get_issue(session, caller.workspace.id, issue_id)
    views = outbox.list_messages(session=session, workspace_id=caller.workspace.id, issue_id=issue_id,
                                 states=state or (), limit=limit)
    return OutboxPage(items=[_message(view) for view in views])


@router.post("/issues/{issue_id}/outbox/{message_id}/retry", response_model=OutboxMessageRead,
             summary="Send a failed message again")
def retry_message(
    request: Request, caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId, message_id: MessageId,
) -> OutboxMessageRead:
    """Queue a failed message again with a fresh set of tries (or a waiting one now), under the same
    idempotency key. A message already sent, or being sent, answers 409."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        issue = get_issue(session, caller.workspace.id, issue_id)
        require(runtime, caller.actor, "publish", f"retry issue {issue.number}'s posts")
        view = outbox.retry(session=session, workspace_id=caller.workspace.id, message_id=message_id,
                            issue_id=issue_id, actor=caller.actor.name, now=utcnow())
        response = _message(view)
    _wake_outbox(request)
    return response


@router.put("/channels/{channel}/outbound", response_model=OutboundRead, summary="Connect a channel's outbox")
def set_outbound(caller: CallerDep, db: DbDep, channel: ChannelSlug, body: OutboundRequest) -> OutboundRead:
    """Set (or with null, clear) the URL the webhook connector POSTs this channel's posts and replies to."""
    caller.require("admin")
    with db.write() as session:
        found = outbox.set_outbound_url(session=session, workspace_id=caller.workspace.id, channel=channel,
                                        url=body.url, actor=caller.actor.name)
        reason = cannot_send(OutboundChannel.of(found))
        return OutboundRead(channel=found.slug, outbound_url=found.config.get(OUTBOUND_URL), can_send=reason is None,
                            reason=reason)
