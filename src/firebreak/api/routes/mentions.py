"""Mentions over HTTP: the signed webhook that ingests them, and token-protected reads."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from firebreak.api.bodies import read_limited
from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep, SettingsDep, WorkspaceSlug, find_workspace
from firebreak.api.errors import ApiError, OrjsonResponse
from firebreak.channels import service as channel_service
from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc
from firebreak.core.errors import InvalidInput, NotFound, Unauthorized
from firebreak.mentions import service as mention_service
from firebreak.mentions import webhook
from firebreak.mentions.read_models import (
    IngestAccepted,
    MentionDetail,
    MentionPage,
    MentionRead,
    TriageRead,
    mention_read,
)
from firebreak.mentions.schemas import MentionIn, body_json_schema, decode_body, decode_ndjson, validate_limits
from firebreak.settings import Settings
from firebreak.triage import service as triage_service
from firebreak.triage.models import MentionTriage
from firebreak.workspaces.service import SLUG_RE

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["mentions"])

log = logging.getLogger(__name__)

# deadlock_detected and serialization_failure: the transaction was rolled back and may simply be rerun.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
DEADLOCK_TRIES = 3
NDJSON = "application/x-ndjson"
JSON_TYPES = ("application/json", NDJSON)
# The body is read and decoded by hand (msgspec, size-limited), so describe it to OpenAPI explicitly;
# the app adds BODY_DEFINITIONS to the document's components.
BODY_SCHEMA, BODY_DEFINITIONS = body_json_schema("#/components/schemas/{name}")


def _sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a database error, wrapped by SQLAlchemy or raised by the driver itself."""
    return getattr(getattr(exc, "orig", exc), "sqlstate", None)


def _parse(body: bytes, content_type: str, settings: Settings, channel: Channel) -> list[MentionIn]:
    """Decode and check a signed body; every error names the item and field at fault."""
    decoded = decode_ndjson(body) if content_type == NDJSON else decode_body(body)
    items = decoded.items
    if len(items) > settings.max_batch_size:
        raise ApiError(
            413, "batch_too_large", f"batch of {len(items)} mentions exceeds the limit of {settings.max_batch_size}"
        )
    validate_limits(items, max_text_chars=settings.max_text_chars, path=decoded.path)
    for index, item in enumerate(items):
        if item.channel not in (None, channel.slug):
            raise InvalidInput(
                f"item names channel {item.channel!r} but was signed by {channel.slug!r}",
                field=f"{decoded.path(index)}.channel",
            )
    return items


@router.post(
    "/mentions",
    status_code=202,
    response_model=IngestAccepted,
    summary="Ingest one mention or a batch (signed webhook)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": BODY_SCHEMA},
                NDJSON: {"schema": {"$ref": "#/components/schemas/MentionIn"}},
            },
        }
    },
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
) -> OrjsonResponse:
    """Store mentions pushed by a channel; answers 202 with their ids only after they are committed.

    Body: one mention object, a JSON list of them, or `{"mentions": [...]}` (see the mention schema).
    The same external id delivered again is not stored twice; its existing id is returned.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be application/json or {NDJSON}, got {content_type!r}"
        )
    if not x_firebreak_channel:
        raise ApiError(400, "bad_request", "missing X-Firebreak-Channel header naming the sending channel")
    body = await read_limited(request, settings.max_body_bytes)

    def authenticate(session: Session) -> tuple[int, Channel]:
        # Authenticate before parsing: an unsigned body is never even decoded.
        ws = find_workspace(session=session, slug=workspace)
        if ws is None:
            raise ApiError(404, "not_found", f"workspace {workspace!r} does not exist")
        if not SLUG_RE.match(x_firebreak_channel):
            raise ApiError(404, "not_found", f"channel {x_firebreak_channel!r} does not exist in this workspace")
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
        return ws.id, channel

    def store() -> IngestAccepted:
        if db.is_sqlite:
            # Every writer in the process queues for SQLite's one write lock: look up, verify and
            # parse before taking it.
            with db.read() as session:
                workspace_id, channel = authenticate(session)
            items = _parse(body, content_type, settings, channel)
            with db.write() as session:
                result = mention_service.ingest_mentions(
                    session=session, workspace_id=workspace_id, channels={}, default_channel=channel, items=items
                )
        else:
            # PostgreSQL writers do not block each other: one transaction on one pooled connection.
            for attempt in range(1, DEADLOCK_TRIES + 1):
                try:
                    with db.write() as session:
                        workspace_id, channel = authenticate(session)
                        items = _parse(body, content_type, settings, channel)
                        result = mention_service.ingest_mentions(
                            session=session,
                            workspace_id=workspace_id,
                            channels={},
                            default_channel=channel,
                            items=items,
                        )
                    break
                except Exception as exc:  # noqa: BLE001 - only deadlocks are retried; all else re-raised
                    # Two deliveries sharing new mentions in different orders can deadlock on the unique
                    # index; PostgreSQL rolled one back whole, and ingest is idempotent, so run it again.
                    state = _sqlstate(exc)
                    if attempt == DEADLOCK_TRIES or state not in RETRY_SQLSTATES:
                        raise
                    log.info("webhook batch hit SQLSTATE %s; retrying (try %d)", state, attempt + 1)
        return IngestAccepted(ids=result.ids, created=result.created, duplicates=result.duplicates)

    accepted = await run_in_threadpool(store)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and accepted.created:
        worker.wake()
    return OrjsonResponse(accepted.model_dump(), status_code=202)


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
    flag: Literal["green", "yellow", "red"] | None = None,
    category: Annotated[str | None, Query(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MentionPage:
    """Return one page of the workspace's mentions; pass `next_cursor` back as `cursor` for the next."""
    caller.require("mentions:read")
    if channel is not None and not SLUG_RE.match(channel):
        raise ApiError(404, "not_found", f"unknown channel {channel!r}")
    filters = mention_service.MentionFilter(
        channel=channel,
        state=state,
        direction=direction,
        since=ensure_utc(since) if since else None,
        until=ensure_utc(until) if until else None,
        # NUL separates nothing in a search, and PostgreSQL refuses it in any text value.
        q=q.replace("\x00", " ") if q else None,
        extra=triage_service.verdict_clauses(flag=flag, category=category),
    )
    mentions, next_cursor = mention_service.list_mentions(
        session=session, workspace_id=caller.workspace.id, filters=filters, limit=limit, cursor=cursor
    )
    authors = mention_service.authors_by_id(
        session=session, workspace_id=caller.workspace.id, ids=[m.author_id for m in mentions if m.author_id]
    )
    found = triage_service.verdicts(
        session=session, workspace_id=caller.workspace.id, mention_ids=[m.id for m in mentions]
    )
    return MentionPage(items=[_with_triage(mention_read(m, authors), found) for m in mentions], next_cursor=next_cursor)


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
    found = triage_service.verdicts(
        session=session, workspace_id=caller.workspace.id, mention_ids=[m.id for m in thread]
    )
    base = _with_triage(mention_read(mention, authors), found)
    return MentionDetail(
        **base.model_dump(), thread=[_with_triage(mention_read(m, authors), found) for m in thread], raw=mention.raw
    )


def _with_triage(item: MentionRead, found: dict[int, MentionTriage]) -> MentionRead:
    row = found.get(item.id)
    if row is not None:
        item.triage = TriageRead(
            flag=row.flag,
            category=row.category,
            group=row.category_group,
            sentiment=row.sentiment,
            sentiment_score=row.sentiment_score,
            offensive=row.offensive,
            offensive_score=row.offensive_score,
            intent=row.intent,
            confidence=row.confidence,
            reasons=row.reasons,  # type: ignore[arg-type]
            playbook_version=row.playbook_version,
            model_version=row.model_version,
            triaged_at=row.triaged_at,
        )
    return item
