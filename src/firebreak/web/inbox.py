"""The inbox: open work, most urgent SLA first, filtered by the query string so a view can be shared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.channels.models import Channel
from firebreak.core.clock import utcnow
from firebreak.mentions.models import Author, Mention
from firebreak.web.common import PlaceDep, db, render_page, runtime_for
from firebreak.web.templating import countdown
from firebreak.workflow import queries
from firebreak.workflow.models import OPEN_STATES, WORK_STATES
from firebreak.workflow.runtime import WorkflowRuntime

FLAGS = ("red", "yellow", "green")
SOON_SECONDS = 15 * 60
INBOX_LIMIT = 200

router = APIRouter(include_in_schema=False)


def origins(session: Session, mention_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Channel name and author line for each mention, in one query."""
    if not mention_ids:
        return {}
    stmt = (select(Mention.id, Channel.name, Author.handle, Author.follower_count, Author.tags)
            .join(Channel, Channel.id == Mention.channel_id).outerjoin(Author, Author.id == Mention.author_id)
            .where(Mention.id.in_(mention_ids)))
    return {mention_id: (channel, author_line(handle, followers, tags))
            for mention_id, channel, handle, followers, tags in session.execute(stmt)}


def author_line(handle: str | None, followers: int | None, tags: list[str] | None) -> str:
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
    filters = InboxFilters(flag, queue, state, assignee)
    now = utcnow()
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
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
        found = origins(session, [row["mention_id"] for row in rows])
        queue_names = sorted(runtime.queues)
    return render_page(
        request, where, "inbox.html", title="Inbox", section="inbox", status=422 if error else 200,
        error=error, filters=filters, rows=[_row(row, found) for row in rows],
        flag_options=[("", "any flag")] + [(f, f) for f in FLAGS],
        queue_options=[("", "any queue")] + [(q, q) for q in queue_names],
        state_options=[("", "open")] + [(s, s) for s in WORK_STATES],
        assignee_options=[("", "anyone"), ("me", "me"), ("unassigned", "unassigned")] + [(m, m) for m in members],
    )


def _row(row: Mapping[str, Any], found: dict[int, tuple[str, str]]) -> dict[str, Any]:
    seconds = row["sla_seconds_left"]
    channel, author = found.get(row["mention_id"], ("", ""))
    return {
        "mention_id": row["mention_id"], "flag": row["flag"] or "none", "sla": countdown(seconds),
        "urgency": "overdue" if row["overdue"] else "soon" if seconds is not None and seconds < SOON_SECONDS else "",
        "text": row["text"] if len(row["text"]) <= 200 else row["text"][:199] + "…",
        "category": row["category"] or "", "channel": channel, "author": author, "action": row["action"] or "",
        "state": row["state"], "assignee": row["assignee"] or "unassigned",
    }
