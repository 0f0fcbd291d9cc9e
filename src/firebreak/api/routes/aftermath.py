"""An issue's ripple map and aftermath over HTTP: where the conversation spread, who to follow up, the
executive summary (JSON, or a printable HTML page), the lessons learned and the timeline.

Reads need `mentions:read`; recording a follow-up or a lesson needs `workflow:write` and acts as the
token's user. A follow-up for someone who did not complain is 404; a lesson whose proposed playbook
change is not a YAML mapping of playbook sections is 422 naming what is wrong (field `proposed_change`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep, ServicesDep, SettingsDep
from firebreak.api.errors import OrjsonResponse
from firebreak.core.clock import utcnow
from firebreak.issues import aftermath, ripple

router = APIRouter(prefix="/api/v1/workspaces/{workspace}/issues/{issue_id}", tags=["issue aftermath"])

IssueId = Annotated[int, Path(ge=1)]
AuthorId = Annotated[int, Path(ge=1)]
# The summary page shows only what it was given: no scripts, no outside resources, inline style only.
SUMMARY_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


class ChannelReach(BaseModel):
    channel: str = Field(description="The channel's slug")
    channel_id: int
    kind: str
    name: str
    count: int
    first_seen: datetime
    last_seen: datetime


class SiteReach(BaseModel):
    site: str = Field(description="The host the posts were on, or the channel kind for posts without a URL")
    count: int
    first_seen: datetime
    last_seen: datetime


class Slot(BaseModel):
    start: datetime = Field(description="Start of the hour or day, in the workspace's time zone")
    total: int
    channels: dict[str, int]
    sites: dict[str, int]


class Thread(BaseModel):
    channel_id: int
    channel: str
    kind: str
    site: str
    conversation_id: str
    first_post_at: datetime
    last_post_at: datetime
    count: int = Field(description="Linked posts in the thread")
    url: str | None = Field(description="Where people read it: the thread's first post, else any linked post")
    reply_to_mention_id: int = Field(description="The latest linked post: what an answer in the thread replies to")
    reply_to_external_id: str


class RippleRead(BaseModel):
    issue_id: int
    issue_number: int
    bucket: Literal["hour", "day"]
    timezone: str
    total: int
    channels: list[ChannelReach] = Field(description="Busiest first")
    sites: list[SiteReach] = Field(description="Busiest first")
    series: list[Slot] = Field(description="Every bucket from the first linked post to the last, empty ones too")
    threads: list[Thread] = Field(description="In the order they started")


class FollowUpPost(BaseModel):
    mention_id: int
    url: str | None
    channel: str
    posted_at: datetime
    sentiment: str
    category: str


class FollowUpRead(BaseModel):
    author_id: int
    handle: str
    display_name: str | None
    network: str
    channel: str = Field(description="Where they complained last: where to reach them")
    channels: list[str]
    posts: list[FollowUpPost]
    followed_up: bool
    followed_up_at: datetime | None
    followed_up_by: str | None
    followed_up_note: str | None
    message: str = Field(description="The playbook's follow-up template filled in for them; `{link}` stays until "
                                     "something is published")


class FollowUpPage(BaseModel):
    authors: int
    done: int
    items: list[FollowUpRead] = Field(description="In the order they first complained")


class FollowUpDone(BaseModel):
    note: str | None = Field(None, max_length=aftermath.NOTE_MAX, description="How they were reached, for the "
                                                                              "timeline")


class TimelineEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    details: dict[str, Any]


class LessonCreate(BaseModel):
    text: str = Field(min_length=1, max_length=aftermath.LESSON_MAX)
    proposed_change: str | None = Field(None, max_length=aftermath.CHANGE_MAX,
                                        description="YAML: a mapping of playbook sections to their proposed content, "
                                                    "e.g. `sla:` or `issues:`")


class LessonRead(BaseModel):
    id: int
    text: str
    proposed_change: str | None
    sections: list[str] = Field(description="The playbook sections the change touches")
    author: str
    at: datetime


@router.get("/ripple", response_model=RippleRead, summary="Where the issue's conversation spreads")
def get_ripple(caller: CallerDep, session: ReadSessionDep, issue_id: IssueId,
               bucket: Annotated[Literal["hour", "day"] | None, Query(
                   description="Default: by the hour for an issue up to 3 days old, else by the day")] = None,
               ) -> RippleRead:
    """Return linked mentions counted by channel and site, per hour or day, and the threads they are in."""
    caller.require("mentions:read")
    data = ripple.ripple_map(session, workspace_id=caller.workspace.id, issue_id=issue_id, now=utcnow(),
                             bucket=bucket)
    return RippleRead.model_validate(data)


@router.get("/follow-ups", response_model=FollowUpPage, summary="Everyone who complained, to follow up")
def get_follow_ups(caller: CallerDep, session: ReadSessionDep, services: ServicesDep, settings: SettingsDep,
                   issue_id: IssueId) -> FollowUpPage:
    """Return every author of a linked complaint with their posts, whether they were followed up, and the
    message asking them to update their thread."""
    caller.require("mentions:read")
    items = aftermath.follow_ups(session, runtime=services.workflow(session, caller.workspace.id),
                                 workspace_id=caller.workspace.id, issue_id=issue_id, base_url=settings.base_url)
    return FollowUpPage(authors=len(items), done=sum(1 for item in items if item["followed_up"]),
                        items=[FollowUpRead.model_validate(item) for item in items])


@router.post("/follow-ups/{author_id}/done", response_model=FollowUpRead, summary="Record a follow-up")
def follow_up_done(caller: CallerDep, db: DbDep, services: ServicesDep, settings: SettingsDep, issue_id: IssueId,
                   author_id: AuthorId, body: FollowUpDone | None = None) -> FollowUpRead:
    """Record that the author was followed up (needs `respond`, or being the issue's owner).

    Recording it again changes nothing; an author without a linked complaint is 404.
    """
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        aftermath.mark_followed_up(session, runtime=runtime, workspace_id=caller.workspace.id, issue_id=issue_id,
                                   author_id=author_id, actor=caller.actor, now=utcnow(),
                                   note=body.note if body else None)
        items = aftermath.follow_ups(session, runtime=runtime, workspace_id=caller.workspace.id, issue_id=issue_id,
                                     base_url=settings.base_url)
    return FollowUpRead.model_validate(next(item for item in items if item["author_id"] == author_id))


@router.get("/summary", summary="The executive summary (JSON, or HTML with ?format=html)", response_model=None,
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}},
                                         "text/html": {"schema": {"type": "string"}}}}})
def get_summary(caller: CallerDep, session: ReadSessionDep, services: ServicesDep, settings: SettingsDep,
                issue_id: IssueId,
                output: Annotated[Literal["json", "html"], Query(alias="format",
                                                                 description="html: a printable page")] = "json",
                ) -> OrjsonResponse | HTMLResponse:
    """Return stages with time in stage against the goal, volumes by channel and site, sentiment before and
    after the first publication, first-response times against their SLA goals, tasks, publications,
    follow-ups, lessons and the timeline."""
    caller.require("mentions:read")
    summary = aftermath.executive_summary(session, runtime=services.workflow(session, caller.workspace.id),
                                          workspace_id=caller.workspace.id, issue_id=issue_id, now=utcnow(),
                                          base_url=settings.base_url)
    if output == "html":
        return HTMLResponse(aftermath.summary_html(summary), headers={
            "Content-Security-Policy": SUMMARY_CSP, "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store"})
    return OrjsonResponse(summary)


@router.get("/timeline", response_model=list[TimelineEvent], summary="Everything that happened, in order")
def get_timeline(caller: CallerDep, session: ReadSessionDep, issue_id: IssueId) -> list[TimelineEvent]:
    """Return the issue's timeline: stage changes, links, drafts, reviews, publications, follow-ups, lessons."""
    caller.require("mentions:read")
    return [TimelineEvent.model_validate(event) for event in aftermath.export_timeline(
        session, workspace_id=caller.workspace.id, issue_id=issue_id)]


@router.post("/lessons", response_model=LessonRead, status_code=201, summary="Record a lesson learned")
def add_lesson(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
               body: LessonCreate) -> LessonRead:
    """Record a lesson, optionally proposing a playbook change (YAML whose top-level keys are playbook
    sections). The issue's owner and stakeholders may; anyone else needs `open_issue`."""
    caller.require("workflow:write")
    with db.write() as session:
        lesson = aftermath.add_lesson(session, runtime=services.workflow(session, caller.workspace.id),
                                      workspace_id=caller.workspace.id, issue_id=issue_id, actor=caller.actor,
                                      now=utcnow(), text=body.text, proposed_change=body.proposed_change)
    return LessonRead.model_validate(lesson)


@router.get("/lessons", response_model=list[LessonRead], summary="The lessons learned")
def get_lessons(caller: CallerDep, session: ReadSessionDep, issue_id: IssueId) -> list[LessonRead]:
    """Return the issue's lessons with the playbook changes they propose, oldest first."""
    caller.require("mentions:read")
    return [LessonRead.model_validate(lesson) for lesson in aftermath.list_lessons(
        session, workspace_id=caller.workspace.id, issue_id=issue_id)]
