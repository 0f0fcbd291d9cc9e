"""Mentions over HTTP: the signed webhook that ingests them, and token-protected reads."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse

from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep, SettingsDep, WorkspaceSlug
from firebreak.api.errors import ApiError
from firebreak.channels import service as channel_service
from firebreak.core.clock import ensure_utc
from firebreak.core.errors import InvalidInput, NotFound, Unauthorized
from firebreak.mentions import service as mention_service
from firebreak.mentions import webhook
from firebreak.mentions.read_models import IngestAccepted, MentionDetail, MentionPage, mention_read
from firebreak.mentions.schemas import decode_mentions, validate_limits
from firebreak.workspaces import service as workspace_service

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["mentions"])

JSON_TYPES = ("application/json", "application/x-ndjson")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiError(413, "payload_too_large", f"body of {declared} bytes exceeds the limit of {limit}")
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/mentions",
    status_code=202,
    response_model=IngestAccepted,
    summary="Ingest one mention or a batch (signed webhook)",
    responses={
        401: {"description": "Bad or missing signature"},
        413: {"description": "Body too large"},
        415: {"description": "Not JSON"},
        422: {"description": "Invalid mention"},
    },
)
async def ingest_webhook(
    workspace: WorkspaceSlug,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    x_firebreak_channel: Annotated[str | None, Header()] = None,
    x_firebreak_timestamp: Annotated[str | None, Header()] = None,
    x_firebreak_signature: Annotated[str | None, Header()] = None,
) -> ORJSONResponse:
    """Store mentions pushed by a channel; answers 202 with their ids only after they are committed.

    Body: one mention object, a JSON list of them, or `{"mentions": [...]}` (see the mention schema).
    The same external id delivered again is not stored twice; its existing id is returned.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be application/json, got {content_type!r}")
    if not x_firebreak_channel:
        raise ApiError(400, "bad_request", "missing X-Firebreak-Channel header naming the sending channel")
    body = await _read_limited(request, settings.max_body_bytes)

    def store() -> IngestAccepted:
        # Authenticate before parsing: an unsigned body is never even decoded.
        with db.read() as session:
            ws = workspace_service.get_workspace(session=session, slug=workspace)
            channel = channel_service.get_channel(session=session, workspace_id=ws.id, slug=x_firebreak_channel)
            if not channel.active:
                raise ApiError(403, "forbidden", f"channel {channel.slug!r} is disabled")
            try:
                webhook.verify(
                    secret=channel.webhook_secret,
                    timestamp=x_firebreak_timestamp,
                    signature=x_firebreak_signature,
                    body=body,
                    now=time.time(),
                    tolerance=settings.webhook_tolerance_seconds,
                )
            except Unauthorized as exc:
                raise ApiError(401, "bad_signature", str(exc)) from None
        items = decode_mentions(body)
        if len(items) > settings.max_batch_size:
            raise ApiError(
                413, "batch_too_large", f"batch of {len(items)} mentions exceeds the limit of {settings.max_batch_size}"
            )
        validate_limits(items, max_text_chars=settings.max_text_chars, prefix="$" if len(items) > 1 else "")
        for index, item in enumerate(items):
            if item.channel not in (None, channel.slug):
                raise InvalidInput(
                    f"item names channel {item.channel!r} but was signed by {channel.slug!r}",
                    field=f"$[{index}].channel",
                )
        with db.write() as session:
            result = mention_service.ingest_mentions(
                session=session, workspace_id=ws.id, channels={}, default_channel=channel, items=items
            )
        return IngestAccepted(ids=result.ids, created=result.created, duplicates=result.duplicates)

    accepted = await run_in_threadpool(store)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and accepted.created:
        worker.wake()
    return ORJSONResponse(accepted.model_dump(), status_code=202)


@router.get("/mentions", response_model=MentionPage, summary="List mentions, newest first")
def list_mentions(
    caller: CallerDep,
    session: ReadSessionDep,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["pending", "processed", "parked"] | None = None,
    direction: Literal["inbound", "outbound"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=500, description="Full-text search")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MentionPage:
    """Return one page of the workspace's mentions; pass `next_cursor` back as `cursor` for the next."""
    caller.require("mentions:read")
    filters = mention_service.MentionFilter(
        channel=channel,
        state=state,
        direction=direction,
        since=ensure_utc(since) if since else None,
        until=ensure_utc(until) if until else None,
        q=q,
    )
    mentions, next_cursor = mention_service.list_mentions(
        session=session, workspace_id=caller.workspace.id, filters=filters, limit=limit, cursor=cursor
    )
    authors = mention_service.authors_by_id(
        session=session, workspace_id=caller.workspace.id, ids=[m.author_id for m in mentions if m.author_id]
    )
    return MentionPage(items=[mention_read(m, authors) for m in mentions], next_cursor=next_cursor)


@router.get("/mentions/{mention_id}", response_model=MentionDetail, summary="One mention with its thread")
def get_mention(caller: CallerDep, session: ReadSessionDep, mention_id: Annotated[int, Path(ge=1)]) -> MentionDetail:
    """Return a mention, its raw payload and every stored post of its conversation in order."""
    caller.require("mentions:read")
    try:
        mention = mention_service.get_mention(session=session, workspace_id=caller.workspace.id, mention_id=mention_id)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    thread = mention_service.get_thread(session=session, mention=mention)
    authors = mention_service.authors_by_id(
        session=session, workspace_id=caller.workspace.id, ids=[m.author_id for m in thread if m.author_id]
    )
    base = mention_read(mention, authors)
    return MentionDetail(**base.model_dump(), thread=[mention_read(m, authors) for m in thread], raw=mention.raw)
