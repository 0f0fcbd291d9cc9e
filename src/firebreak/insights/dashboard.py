"""The dashboard's numbers for one workspace over the last N days, in the workspace's own time zone.

    dashboard(session, workspace_id=ws, days=7, now=now, runtime=runtime)

Volumes (by channel, flag, category, sentiment) come per time bucket, hourly for a window of up to two
days and daily beyond, dense (quiet buckets included) and cut at local hours and midnights (clock changes
included). The counters are kept per UTC hour, so in a zone whose offset is not whole hours a bucket
starts at the first UTC hour after its local boundary: `bucket_offset_minutes` says how much later
(30 in India, 0 in most of the world). Response
times and first-response goals are totals over the window. Those all come from `insight_counts` in
one grouped query (see insights/counts.py), so the cost depends on the window, not on how many mentions
it holds. Open work, overdue work and open issues are read live from their indexes: they are the
present, and small.

A window is whole buckets: 7 days means today so far and the six local days before it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.errors import InvalidInput
from firebreak.insights.counts import RESPONSE_BIN_EDGES, RESPONSE_BIN_LABELS, SLOT_SECONDS, VOLUME_DIMENSIONS
from firebreak.issues.models import Issue
from firebreak.issues.ripple import workspace_zone
from firebreak.issues.service import issues_spec
from firebreak.workflow.models import OPEN_STATES, WorkItem
from firebreak.workflow.runtime import WorkflowRuntime

MAX_DAYS = 90
HOURLY_UP_TO_DAYS = 2
FLAGS = ("red", "yellow", "green")
SENTIMENTS = ("negative", "neutral", "positive")
_EPOCH = datetime(1970, 1, 1)

Bucket = Literal["hour", "day"]


@dataclass(frozen=True, slots=True)
class Window:
    """Whole local buckets ending with the one holding `now`: their indexes count local hours or days
    since the epoch, as if local time were UTC."""

    days: int
    bucket: Bucket
    tz: tzinfo
    now: datetime
    first: int
    last: int

    @property
    def size(self) -> int:
        return 3600 if self.bucket == "hour" else 86400

    def local_start(self, index: int) -> datetime:
        return _EPOCH + timedelta(seconds=index * self.size)

    @property
    def start(self) -> datetime:
        """The first bucket's local boundary, in UTC."""
        return self.local_start(self.first).replace(tzinfo=self.tz).astimezone(UTC)

    @property
    def first_slot(self) -> int:
        """The first counter slot (UTC hour) that starts in the window."""
        return -(-int(self.start.timestamp()) // SLOT_SECONDS)

    @property
    def offset_minutes(self) -> int:
        """How long after its local boundary a bucket starts: the zone's offset beyond whole hours."""
        return (_offset(self.now, self.tz) % SLOT_SECONDS) // 60

    def indexes(self) -> list[int]:
        """Every bucket of the window; a local hour skipped by a clock change is left out."""
        return [index for index in range(self.first, self.last + 1)
                if self.bucket == "day" or _exists(self.local_start(index), self.tz)]


def window(days: int, now: datetime, tz: tzinfo) -> Window:
    """The window of the last `days` local days (hours for up to HOURLY_UP_TO_DAYS) ending now."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}, not {days!r}", field="days")
    bucket: Bucket = "hour" if days <= HOURLY_UP_TO_DAYS else "day"
    size = 3600 if bucket == "hour" else 86400
    # The bucket of the counter slot holding `now` (in a half-hour zone, the bucket starting at 11:30 at 12:10).
    slot_start = datetime.fromtimestamp(int(now.timestamp()) // SLOT_SECONDS * SLOT_SECONDS, UTC)
    last = _local_seconds(slot_start, tz) // size
    first = last - (days * 24 if bucket == "hour" else days) + 1
    return Window(days, bucket, tz, now, first, last)


def dashboard(session: Session, *, workspace_id: int, days: int, now: datetime,
              runtime: WorkflowRuntime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows for the workspace over the last `days` days (1 to MAX_DAYS).

    With `runtime`, open issues are listed by the playbook's stages in order (empty ones included).
    """
    tz = workspace_zone(session, workspace_id)
    span = window(days, now, tz)
    counted = _counted(session, workspace_id, span)
    indexes = span.indexes()
    position = {index: n for n, index in enumerate(indexes)}
    volume: dict[str, dict[str, list[int]]] = {dimension: {} for dimension in VOLUME_DIMENSIONS}
    responses: dict[str, list[int]] = {}
    goals: dict[str, Counter[str]] = {}
    for index, dimension, value, count in counted:
        if dimension in volume and index in position:
            series = volume[dimension].setdefault(value, [0] * len(indexes))
            series[position[index]] += count
        elif dimension == "response":
            team, _, bin_index = value.rpartition("|")
            responses.setdefault(team, [0] * len(RESPONSE_BIN_LABELS))[int(bin_index)] += count
        elif dimension == "sla":
            team, _, outcome = value.rpartition("|")
            goals.setdefault(team, Counter())[outcome] += count
    channels = _channel_series(session, workspace_id, volume["channel"], len(indexes))
    total = [sum(column) for column in zip(*volume["channel"].values(), strict=True)] if volume["channel"] \
        else [0] * len(indexes)
    flags = {flag: volume["flag"].get(flag, [0] * len(indexes)) for flag in FLAGS}
    flags.update({flag: series for flag, series in volume["flag"].items() if flag not in flags})
    sentiments = {label: volume["sentiment"].get(label, [0] * len(indexes)) for label in SENTIMENTS}
    sentiments.update({label: series for label, series in volume["sentiment"].items() if label not in sentiments})
    triaged = [sum(column) for column in zip(*flags.values(), strict=True)]
    return {
        "workspace_id": workspace_id,
        "timezone": str(tz),
        "days": days,
        "bucket": span.bucket,
        "bucket_offset_minutes": span.offset_minutes,
        "start": _bucket_start(span, span.first),
        "now": now.astimezone(tz),
        "buckets": [{"start": _bucket_start(span, index), "label": _label(span, index)} for index in indexes],
        "mentions": {
            "total": sum(total),
            "untriaged": sum(total) - sum(triaged),
            "series": total,
            "by_flag": {flag: {"total": sum(series), "series": series} for flag, series in flags.items()},
            "by_sentiment": {label: {"total": sum(series), "series": series} for label, series in sentiments.items()},
            "by_category": _ranked(volume["category"]),
            "by_channel": channels,
            "net_sentiment": [_net(sentiments, n) for n in range(len(indexes))],
        },
        "first_response": _responses(responses),
        "sla": _goals(goals),
        "work": _work(session, workspace_id, now),
        "issues": _issues(session, workspace_id, runtime),
    }


# ---------------------------------------------------------------------------------------------- counters


def _counted(session: Session, workspace_id: int, span: Window) -> list[tuple[int, str, str, int]]:
    """(bucket index, dimension, value, count) for the window, grouped in the database."""
    first_slot, last_slot = span.first_slot, int(span.now.timestamp()) // SLOT_SECONDS
    offset = _offset_case(span.tz, span.start - timedelta(days=1), span.now + timedelta(days=1))
    # Every value here is an int computed above, so the statement text is fixed per window shape.
    stmt = text(
        f"SELECT (slot * {SLOT_SECONDS} + {offset}) / {span.size} AS bucket, dimension, value, SUM(count) "
        "FROM insight_counts WHERE workspace_id = :workspace_id AND slot >= :first_slot AND slot <= :last_slot "
        "GROUP BY 1, 2, 3"
    )
    rows = session.execute(stmt, {"workspace_id": workspace_id, "first_slot": first_slot, "last_slot": last_slot})
    return [(int(bucket), dimension, value, int(count)) for bucket, dimension, value, count in rows if count]


def _offset_case(tz: tzinfo, start: datetime, end: datetime) -> str:
    """A SQL expression of `slot` giving the zone's UTC offset in seconds, exact across clock changes.

    A slot takes the offset in force when it starts (a change that falls inside an hour, as in
    Newfoundland, moves from the next slot on).
    """
    changes: list[tuple[int, int]] = []  # (first slot with the offset, offset seconds)
    slot, day = timedelta(seconds=SLOT_SECONDS), timedelta(days=1)
    at = datetime.fromtimestamp(int(start.timestamp()) // SLOT_SECONDS * SLOT_SECONDS, UTC)
    current = _offset(at, tz)
    while at < end:  # a day at a time, then slot by slot through a day the offset changed in
        if _offset(at + day, tz) == current:
            at += day
            continue
        for _ in range(int(day / slot)):
            at += slot
            offset = _offset(at, tz)
            if offset != current:
                changes.append((int(at.timestamp()) // SLOT_SECONDS, offset))
                current = offset
    first = _offset(start, tz)
    if not changes:
        return str(first)
    branches = []
    previous = first
    for slot, offset in changes:
        branches.append(f"WHEN slot < {slot} THEN {previous}")
        previous = offset
    return f"(CASE {' '.join(branches)} ELSE {previous} END)"


def _offset(at: datetime, tz: tzinfo) -> int:
    delta = at.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _local_seconds(at: datetime, tz: tzinfo) -> int:
    return int(at.timestamp()) + _offset(at, tz)


def _exists(local: datetime, tz: tzinfo) -> bool:
    """False for a local time a clock change skipped (02:30 on a spring-forward night)."""
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def _bucket_start(span: Window, index: int) -> datetime:
    """When the bucket starts, in local time: its boundary, plus the zone's minutes beyond whole hours."""
    boundary = span.local_start(index).replace(tzinfo=span.tz)
    return (boundary.astimezone(UTC) + timedelta(minutes=span.offset_minutes)).astimezone(span.tz)


def _label(span: Window, index: int) -> str:
    local = span.local_start(index)
    if span.bucket == "day" or local.hour == 0:
        return f"{local.day} {local:%b}"
    return f"{local:%H}:{span.offset_minutes:02d}"


# ---------------------------------------------------------------------------------------------- shaping


def _channel_series(session: Session, workspace_id: int, by_id: dict[str, list[int]],
                    length: int) -> list[dict[str, Any]]:
    """Every channel of the workspace with its series, busiest first (names from the channels table)."""
    rows = session.execute(select(Channel.id, Channel.slug, Channel.name, Channel.kind)
                           .where(Channel.workspace_id == workspace_id))
    channels = [{"id": channel_id, "slug": slug, "name": name, "kind": kind,
                 "series": by_id.get(str(channel_id), [0] * length)}
                for channel_id, slug, name, kind in rows]
    for channel in channels:
        channel["total"] = sum(channel["series"])
    return sorted(channels, key=lambda channel: (-channel["total"], channel["slug"]))


def _ranked(by_value: dict[str, list[int]]) -> list[dict[str, Any]]:
    ranked = [{"value": value, "total": sum(series), "series": series} for value, series in by_value.items()]
    return sorted((row for row in ranked if row["total"]), key=lambda row: (-row["total"], row["value"]))


def _net(sentiments: dict[str, list[int]], n: int) -> float | None:
    """Positive minus negative, as a percentage of the bucket's triaged mentions (None when there are none)."""
    judged = sum(series[n] for series in sentiments.values())
    if not judged:
        return None
    return round(100 * (sentiments["positive"][n] - sentiments["negative"][n]) / judged, 1)


def _responses(by_team: dict[str, list[int]]) -> dict[str, Any]:
    overall = [sum(column) for column in zip(*by_team.values(), strict=True)] if by_team \
        else [0] * len(RESPONSE_BIN_LABELS)
    return {
        "count": sum(overall),
        "median_seconds": estimate_quantile(overall, 0.5),
        "p90_seconds": estimate_quantile(overall, 0.9),
        "histogram": [{"label": label, "min_seconds": ([0, *RESPONSE_BIN_EDGES])[n],
                       "max_seconds": RESPONSE_BIN_EDGES[n] if n < len(RESPONSE_BIN_EDGES) else None, "count": count}
                      for n, (label, count) in enumerate(zip(RESPONSE_BIN_LABELS, overall, strict=True))],
        "by_team": [{"team": team, "count": sum(bins), "median_seconds": estimate_quantile(bins, 0.5)}
                    for team, bins in sorted(by_team.items())],
    }


def estimate_quantile(bins: list[int], quantile: float) -> float | None:
    """The quantile of a response-time histogram, interpolated linearly inside its bin.

    Exact to the bin; within it, responses are taken as evenly spread. In the open last bin the
    estimate is its lower edge. None for an empty histogram.
    """
    total = sum(bins)
    if not total:
        return None
    wanted = quantile * total
    seen = 0
    lows = [0, *RESPONSE_BIN_EDGES]
    for n, count in enumerate(bins):
        if count and seen + count >= wanted:
            if n >= len(RESPONSE_BIN_EDGES):
                return float(lows[n])
            low, high = lows[n], RESPONSE_BIN_EDGES[n]
            return round(low + (high - low) * (wanted - seen) / count, 1)
        seen += count
    return float(lows[-1])


def _goals(by_team: dict[str, Counter[str]]) -> dict[str, Any]:
    teams = [{"team": team, "met": outcomes["met"], "breached": outcomes["breached"],
              "compliance": _percent(outcomes["met"], outcomes["met"] + outcomes["breached"])}
             for team, outcomes in sorted(by_team.items()) if outcomes["met"] + outcomes["breached"]]
    met = sum(team["met"] for team in teams)
    breached = sum(team["breached"] for team in teams)
    return {"met": met, "breached": breached, "compliance": _percent(met, met + breached), "by_team": teams}


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# ---------------------------------------------------------------------------------------------- live


def _work(session: Session, workspace_id: int, now: datetime) -> dict[str, Any]:
    """Open work now: by state, overdue (a running goal past due) and unassigned."""
    by_state = dict(session.execute(
        select(WorkItem.state, func.count()).where(WorkItem.workspace_id == workspace_id,
                                                   WorkItem.state.in_(OPEN_STATES)).group_by(WorkItem.state)).all())
    overdue = session.scalar(select(func.count()).select_from(WorkItem).where(
        WorkItem.workspace_id == workspace_id, WorkItem.state.in_(OPEN_STATES), WorkItem.sla_due_at < now))
    unassigned = session.scalar(select(func.count()).select_from(WorkItem).where(
        WorkItem.workspace_id == workspace_id, WorkItem.assignee_id.is_(None), WorkItem.state.in_(OPEN_STATES)))
    return {"open": sum(by_state.values()), "overdue": int(overdue or 0), "unassigned": int(unassigned or 0),
            "by_state": {state: int(by_state.get(state, 0)) for state in OPEN_STATES}}


def _issues(session: Session, workspace_id: int, runtime: WorkflowRuntime | None) -> dict[str, Any]:
    """Open issues by stage, in the playbook's order when known (stages no longer in it come last)."""
    counts = dict(session.execute(select(Issue.stage, func.count()).where(
        Issue.workspace_id == workspace_id, Issue.state == "open").group_by(Issue.stage)).all())
    stages: list[dict[str, Any]] = []
    if runtime is not None:
        for stage in issues_spec(runtime).stages:
            stages.append({"stage": stage.id, "label": stage.label, "count": int(counts.pop(stage.id, 0))})
    stages.extend({"stage": stage, "label": stage, "count": int(count)} for stage, count in sorted(counts.items()))
    return {"open": sum(stage["count"] for stage in stages), "by_stage": stages}
