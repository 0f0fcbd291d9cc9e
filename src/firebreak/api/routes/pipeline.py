"""Pipeline administration: see parked mentions and send them back for another try."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from firebreak.api.deps import CallerDep, DbDep, ReadSessionDep
from firebreak.core.clock import utcnow
from firebreak.mentions import service as mention_service
from firebreak.pipeline import runner

router = APIRouter(prefix="/api/v1/workspaces/{workspace}/pipeline", tags=["pipeline"])


class ParkedError(BaseModel):
    stage: str
    attempt: int
    error: str


class ParkedMention(BaseModel):
    id: int
    external_id: str
    text: str
    attempts: int
    last_error: str | None
    errors: list[ParkedError]


class PipelineStatus(BaseModel):
    states: dict[str, int]
    parked: list[ParkedMention]


class RetryRequest(BaseModel):
    mention_ids: list[int] | None = Field(None, description="Ids to retry; omit to retry every parked mention")


class RetryResult(BaseModel):
    requeued: int


@router.get("", response_model=PipelineStatus, summary="Counts by state and the parked mentions")
def status(
    caller: CallerDep, session: ReadSessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> PipelineStatus:
    """Return how many mentions are pending, processed and parked, with the parked ones' errors."""
    caller.require("mentions:read")
    parked = runner.parked_mentions(session=session, workspace_id=caller.workspace.id, limit=limit)
    errors = runner.last_errors(session=session, mention_ids=[m.id for m in parked])
    return PipelineStatus(
        states=mention_service.count_by_state(session=session, workspace_id=caller.workspace.id),
        parked=[
            ParkedMention(
                id=m.id,
                external_id=m.external_id,
                text=m.text,
                attempts=m.attempts,
                last_error=m.last_error,
                errors=[ParkedError(stage=e.stage, attempt=e.attempt, error=e.error) for e in errors.get(m.id, [])],
            )
            for m in parked
        ],
    )


@router.post("/retry", response_model=RetryResult, summary="Send parked mentions back to the queue")
def retry(caller: CallerDep, db: DbDep, request: RetryRequest) -> RetryResult:
    """Requeue parked mentions with a fresh try count (admin scope)."""
    caller.require("admin")
    with db.write() as session:
        moved = runner.retry_parked(
            session=session,
            workspace_id=caller.workspace.id,
            mention_ids=request.mention_ids,
            actor=f"token:{caller.grant.name}",
            now=utcnow(),
        )
    return RetryResult(requeued=moved)
