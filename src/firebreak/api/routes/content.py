"""An issue's content over HTTP: drafts, versions, diffs, comments, and legal review.

Reading needs `mentions:read`; every change needs `workflow:write` and acts as the token's user (or with
the token's fixed roles). The refusals say why: writing content needs `write_content` (or being the
issue's owner or communications stakeholder), only legal approves legal review (403); an approved
version is locked and a version not in review gets no verdict (422); a version written over someone's
newer one is 409 (send `based_on`, the version number you started from, to be told).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from firebreak.api.deps import Caller, CallerDep, DbDep, ReadSessionDep, ServicesDep
from firebreak.core.clock import utcnow
from firebreak.issues import content
from firebreak.lifecycle import DraftKind
from firebreak.services import Services

router = APIRouter(prefix="/api/v1/workspaces/{workspace}/issues/{issue_id}/drafts", tags=["issue content"])

IssueId = Annotated[int, Path(ge=1)]
DraftId = Annotated[int, Path(ge=1)]
VersionId = Annotated[int, Path(ge=1)]
Audience = Literal["sales", "marketing", "communications", "support"]


class DraftCreate(BaseModel):
    kind: DraftKind
    title: str = Field(min_length=1, max_length=content.MAX_TITLE)
    body: str | None = Field(None, max_length=content.MAX_BODY, description="The text of version 1")
    from_statement: str | None = Field(None, max_length=48,
                                       description="Start version 1 from this playbook holding statement (its id)")
    audience: Audience | None = Field(None, description="Who talking points are for; only talking points have one")


class VersionCreate(BaseModel):
    body: str = Field(min_length=1, max_length=content.MAX_BODY)
    based_on: int | None = Field(None, ge=0, description="The version number you started from; if a newer one "
                                                         "exists the write answers 409 (0: there was none)")


class CommentCreate(BaseModel):
    text: str = Field(min_length=1, max_length=content.MAX_COMMENT)


class ReviewCreate(BaseModel):
    verdict: Literal["approved", "changes_requested"]
    comment: str = Field("", max_length=content.MAX_COMMENT,
                         description="Required when requesting changes: what to change")


class ReviewRead(BaseModel):
    reviewer: str
    role: str | None
    verdict: str | None = Field(description="approved, changes_requested, or null for a comment")
    comment: str
    at: datetime


class LegalClockRead(BaseModel):
    state: str = Field(description="running, met (a verdict was given) or cancelled (superseded in review)")
    calendar: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    used_seconds: float = Field(description="Business seconds the review took or has taken so far")
    remaining_seconds: float
    breached: bool


class VersionRead(BaseModel):
    id: int
    number: int
    state: str = Field(description="draft, in_review, changes_requested, approved or superseded")
    locked: bool = Field(description="Approved versions never change; add a new version instead")
    body: str
    author: str
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    source_statement: str | None
    reviews: list[ReviewRead]
    legal_review: LegalClockRead | None


class DraftRead(BaseModel):
    id: int
    issue_id: int
    kind: str
    title: str
    audience: str | None
    created_at: datetime
    latest: int | None = Field(description="The newest version's number; null before the first version")
    approved: int | None = Field(description="The number of the latest approved version, if any")
    versions: list[VersionRead]


class DraftSummary(BaseModel):
    id: int
    kind: str
    title: str
    audience: str | None
    created_at: datetime
    latest: int | None
    latest_state: str | None
    approved: int | None


class LineChangeRead(BaseModel):
    from_line: int | None
    to_line: int | None
    old: str | None
    new: str | None


class DiffRead(BaseModel):
    from_number: int = Field(serialization_alias="from")
    to_number: int = Field(serialization_alias="to")
    unified: str = Field(description="A unified diff with `version N` as the file names")
    changes: list[LineChangeRead] = Field(description="Each changed line: removed, added, or both (replaced)")


def _detail(session: Session, services: Services, caller: Caller, issue_id: int, draft_id: int) -> DraftRead:
    runtime = services.workflow(session, caller.workspace.id)
    return DraftRead.model_validate(content.draft_detail(
        session, runtime=runtime, workspace_id=caller.workspace.id, draft_id=draft_id, issue_id=issue_id,
        now=utcnow()))


@router.post("", response_model=DraftRead, status_code=201, summary="Start a draft")
def create_draft(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
                 body: DraftCreate) -> DraftRead:
    """Start a piece of the issue's content, with version 1 from `body` or a holding statement (or empty)."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        draft = content.create_draft(
            session, runtime=runtime, workspace_id=caller.workspace.id, actor=caller.actor, now=utcnow(),
            issue_id=issue_id, kind=body.kind, title=body.title, body=body.body, from_statement=body.from_statement,
            audience=body.audience)
        return _detail(session, services, caller, issue_id, draft.id)


@router.get("", response_model=list[DraftSummary], summary="The issue's drafts")
def list_drafts(caller: CallerDep, session: ReadSessionDep, issue_id: IssueId) -> list[DraftSummary]:
    """Return every draft of the issue with its latest and approved version numbers."""
    caller.require("mentions:read")
    rows = content.list_drafts(session, workspace_id=caller.workspace.id, issue_id=issue_id)
    return [DraftSummary.model_validate(row) for row in rows]


@router.get("/{draft_id}", response_model=DraftRead, summary="A draft with its versions")
def get_draft(caller: CallerDep, session: ReadSessionDep, services: ServicesDep, issue_id: IssueId,
              draft_id: DraftId) -> DraftRead:
    """Return the draft's versions with their states, comments, verdicts and legal review clocks."""
    caller.require("mentions:read")
    return _detail(session, services, caller, issue_id, draft_id)


@router.post("/{draft_id}/versions", response_model=DraftRead, status_code=201, summary="Add a version")
def add_version(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId, draft_id: DraftId,
                body: VersionCreate) -> DraftRead:
    """Write a new version; the open one before it is superseded, an approved one stays approved."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        content.add_version(session, runtime=runtime, workspace_id=caller.workspace.id, actor=caller.actor,
                            now=utcnow(), draft_id=draft_id, body=body.body, expected_number=body.based_on,
                            issue_id=issue_id)
        return _detail(session, services, caller, issue_id, draft_id)


@router.get("/{draft_id}/diff", response_model=DiffRead, response_model_by_alias=True,
            summary="Compare two versions")
def diff_versions(
    caller: CallerDep, session: ReadSessionDep, issue_id: IssueId, draft_id: DraftId,
    from_number: Annotated[int, Query(alias="from", ge=1)], to_number: Annotated[int, Query(alias="to", ge=1)],
) -> DiffRead:
    """Return a unified diff between versions `from` and `to`, and the changed lines paired for display."""
    caller.require("mentions:read")
    found = content.diff(session, workspace_id=caller.workspace.id, draft_id=draft_id, from_number=from_number,
                         to_number=to_number, issue_id=issue_id)
    return DiffRead(from_number=found.from_number, to_number=found.to_number, unified=found.unified,
                    changes=[LineChangeRead(from_line=c.from_line, to_line=c.to_line, old=c.old, new=c.new)
                             for c in found.changes])


@router.post("/versions/{version_id}/comments", response_model=DraftRead, status_code=201,
             summary="Comment on a version")
def comment(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId, version_id: VersionId,
            body: CommentCreate) -> DraftRead:
    """Leave a comment on a version; any member may, on any version (a comment changes nothing)."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        content.comment(session, runtime=runtime, workspace_id=caller.workspace.id, actor=caller.actor, now=utcnow(),
                        version_id=version_id, text=body.text, issue_id=issue_id)
        _, draft = content.get_version(session, caller.workspace.id, version_id)
        return _detail(session, services, caller, issue_id, draft.id)


@router.post("/versions/{version_id}/submit", response_model=DraftRead, summary="Send a version to legal review")
def submit(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId,
           version_id: VersionId) -> DraftRead:
    """Send a draft version to legal review; its clock starts on the playbook's legal review goal."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        version = content.submit_for_review(session, runtime=runtime, workspace_id=caller.workspace.id,
                                            actor=caller.actor, now=utcnow(), version_id=version_id,
                                            issue_id=issue_id)
        return _detail(session, services, caller, issue_id, version.draft_id)


@router.post("/versions/{version_id}/review", response_model=DraftRead, summary="Approve or request changes")
def review(caller: CallerDep, db: DbDep, services: ServicesDep, issue_id: IssueId, version_id: VersionId,
           body: ReviewCreate) -> DraftRead:
    """Give legal's verdict on a version in review: approving locks it; requesting changes needs a comment."""
    caller.require("workflow:write")
    with db.write() as session:
        runtime = services.workflow(session, caller.workspace.id)
        content.review(session, runtime=runtime, workspace_id=caller.workspace.id, actor=caller.actor, now=utcnow(),
                       version_id=version_id, verdict=body.verdict, comment=body.comment, issue_id=issue_id)
        version, _ = content.get_version(session, caller.workspace.id, version_id)
        return _detail(session, services, caller, issue_id, version.draft_id)
