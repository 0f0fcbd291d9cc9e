"""The dashboard's numbers over HTTP: volumes over time, response times, goals met, open work and issues.

One call returns what the dashboard page charts, for the last `days` local days of the workspace (hourly
buckets for up to two days, daily beyond; at most 90). It reads counters, not mentions, so it costs the
same with a hundred mentions stored or a million.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from firebreak.api.deps import CallerDep, ReadSessionDep, ServicesDep
from firebreak.core.clock import utcnow
from firebreak.insights.dashboard import MAX_DAYS, dashboard

router = APIRouter(prefix="/api/v1/workspaces/{workspace}", tags=["dashboard"])


class Bucket(BaseModel):
    start: datetime = Field(description="When the bucket starts, in the workspace's time zone")
    label: str


class Series(BaseModel):
    total: int
    series: list[int] = Field(description="One count per bucket")


class CategoryVolume(Series):
    value: str


class ChannelVolume(Series):
    id: int
    slug: str
    name: str
    kind: str


class MentionVolumes(BaseModel):
    total: int = Field(description="Inbound mentions that arrived in the window")
    untriaged: int = Field(description="Of those, how many have no triage verdict yet")
    series: list[int]
    by_flag: dict[str, Series]
    by_sentiment: dict[str, Series]
    by_category: list[CategoryVolume] = Field(description="Busiest first; categories with none left out")
    by_channel: list[ChannelVolume] = Field(description="Every channel of the workspace, busiest first")
    net_sentiment: list[float | None] = Field(
        description="Per bucket: positive minus negative, as a percentage of its triaged mentions")


class HistogramBin(BaseModel):
    label: str
    min_seconds: int
    max_seconds: int | None
    count: int


class TeamResponses(BaseModel):
    team: str
    count: int
    median_seconds: float | None


class FirstResponses(BaseModel):
    count: int = Field(description="First responses given in the window")
    median_seconds: float | None = Field(description="Estimated from the histogram, linearly inside a bin")
    p90_seconds: float | None
    histogram: list[HistogramBin]
    by_team: list[TeamResponses]


class TeamGoals(BaseModel):
    team: str
    met: int
    breached: int
    compliance: float | None = Field(description="Percentage met of those settled")


class Goals(BaseModel):
    met: int = Field(description="First-response goals met in time, counted when answered")
    breached: int = Field(description="First-response goals breached, counted at the breach")
    compliance: float | None
    by_team: list[TeamGoals]


class OpenWork(BaseModel):
    open: int
    overdue: int = Field(description="Open work whose earliest running goal is past due")
    unassigned: int
    by_state: dict[str, int]


class StageCount(BaseModel):
    stage: str
    label: str
    count: int


class OpenIssues(BaseModel):
    open: int
    by_stage: list[StageCount] = Field(description="In the playbook's stage order, empty stages included")


class Dashboard(BaseModel):
    workspace_id: int
    timezone: str
    days: int
    bucket: Literal["hour", "day"]
    bucket_offset_minutes: int = Field(
        description="Counters are kept per UTC hour: in a zone whose offset is not whole hours, buckets start "
                    "this many minutes after the local hour or midnight")
    start: datetime
    now: datetime
    buckets: list[Bucket]
    mentions: MentionVolumes
    first_response: FirstResponses
    sla: Goals
    work: OpenWork
    issues: OpenIssues


@router.get("/dashboard", response_model=Dashboard, summary="The dashboard's numbers for the last N days")
def get_dashboard(
    caller: CallerDep,
    session: ReadSessionDep,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Local days back, today included")] = 7,
) -> Dashboard:
    """Return mention volumes per bucket (by channel, flag, category, sentiment), first-response times and
    goals by team over the window, and open work and issues now."""
    caller.require("mentions:read")
    runtime = services.workflow(session, caller.workspace.id)
    numbers = dashboard(session, workspace_id=caller.workspace.id, days=days, now=utcnow(), runtime=runtime)
    return Dashboard.model_validate(numbers)
