"""Live updates for the inbox: server-sent events when a workspace's work items are opened or change.

The stream polls the database (about once a second, one indexed query) rather than listening inside this
process, so it hears changes made by any process: the pipeline worker, the SLA scheduler, another web
server. Each `work` event carries the changes of one poll as JSON, and its id is the feed's mark, so a
browser that reconnects (after `retry` milliseconds) sends it back as Last-Event-ID and loses nothing:

    id: 2026-11-22T14:03:07.123456+00:00~1234
    event: work
    data: {"changes": [{"mention_id": 1234, "revision": 1, "state": "new", "created": true, "matches": true}]}

`matches` says whether the inbox's filters (the same query string as the page) list that item. A comment
line every 15 s keeps proxies from closing a quiet stream. The stream ends when the client goes away, when
the member loses access to the workspace, or after MAX_STREAM_SECONDS (the browser then reconnects).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from firebreak.accounts.models import User
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.web import auth
from firebreak.web.common import PageError, Place, PlaceDep, db, runtime_for, secure_headers
from firebreak.web.inbox import InboxQuery, choices, resolve
from firebreak.workflow import inbox as work_inbox
from firebreak.workflow.inbox import ChangeFeed, InboxFilter, Mark

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 3000
RECHECK_SECONDS = 30.0
MAX_STREAM_SECONDS = 15 * 60
MAX_CHANGES_PER_EVENT = 500

router = APIRouter(include_in_schema=False)


@dataclass
class LiveStreams:
    """How many event streams this app is serving now (tests check that a closed client ends its stream)."""

    open: int = 0
    served: int = 0


def streams_of(app: Any) -> LiveStreams:
    state = app.state
    if not hasattr(state, "live_streams"):
        state.live_streams = LiveStreams()
    return state.live_streams  # type: ignore[no-any-return]


@router.get("/w/{slug}/inbox/events")
def inbox_events(request: Request, where: PlaceDep) -> Response:
    """The stream of work changes for the inbox (filters as on the page; `after` is the page's mark)."""
    query = InboxQuery.from_params(request.query_params)
    with db(request).read() as session:
        found = choices(session, where, runtime_for(request, session, where))
        where_filter, errors = resolve(session, where, query, found, utcnow())
    if where_filter is None:
        raise PageError(422, "These filters are not valid", " ".join(errors.values()))
    resume = Mark.decode(request.headers.get("last-event-id"))
    start = Mark.decode(request.query_params.get("after"))
    response = StreamingResponse(_events(request, where, where_filter, resume=resume, start=start),
                                 media_type="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # a buffering proxy would hold the events back
    return secure_headers(response)


async def _events(request: Request, where: Place, where_filter: InboxFilter, *, resume: Mark | None,
                  start: Mark | None) -> AsyncIterator[str]:
    live = streams_of(request.app)
    live.open += 1
    live.served += 1
    database = db(request)
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n: connected\n\n"
        if resume is not None:
            feed = ChangeFeed.resume(workspace_id=where.workspace_id, mark=resume)
        else:
            feed = await run_in_threadpool(_start, database, where.workspace_id, start)
        began = last_sent = last_check = time.monotonic()
        while not await request.is_disconnected():
            batches = await run_in_threadpool(_poll, database, feed, where.workspace_id, where_filter)
            for batch in batches:
                yield _message(feed.mark, batch)
                last_sent = time.monotonic()
            now = time.monotonic()
            if now - last_sent >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = now
            if now - began >= MAX_STREAM_SECONDS:
                return
            if now - last_check >= RECHECK_SECONDS:
                last_check = now
                if not await run_in_threadpool(_still_member, database, where):
                    return
            await anyio.sleep(POLL_SECONDS)
    finally:
        live.open -= 1


def _start(database: Database, workspace_id: int, start: Mark | None) -> ChangeFeed:
    with database.read() as session:
        return ChangeFeed.start(session, workspace_id=workspace_id, mark=start)


def _poll(database: Database, feed: ChangeFeed, workspace_id: int,
          where_filter: InboxFilter) -> list[list[dict[str, Any]]]:
    """The changes since the last poll, in events of at most MAX_CHANGES_PER_EVENT, each saying if it matches."""
    events = []
    with database.read() as session:
        changes = feed.poll(session)
        for first in range(0, len(changes), MAX_CHANGES_PER_EVENT):
            batch = changes[first:first + MAX_CHANGES_PER_EVENT]
            listed = work_inbox.matching(session, workspace_id=workspace_id, where=where_filter,
                                         mention_ids=[change.mention_id for change in batch])
            events.append([{"mention_id": c.mention_id, "revision": c.revision, "state": c.state,
                            "created": c.created, "matches": c.mention_id in listed} for c in batch])
    return events


def _still_member(database: Database, where: Place) -> bool:
    """Whether the member may still read this workspace (an admin may have removed or deactivated them)."""
    with database.read() as session:
        user = session.get(User, where.user.id)
        return user is not None and user.active and auth.member_workspace(session, user.id, where.slug) is not None


def _message(mark: Mark | None, changes: list[dict[str, Any]]) -> str:
    event_id = f"id: {mark.encode()}\n" if mark is not None else ""
    return f"{event_id}event: work\ndata: {json.dumps({'changes': changes}, separators=(',', ':'))}\n\n"
