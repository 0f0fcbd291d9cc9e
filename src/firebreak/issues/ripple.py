"""The ripple map: where an issue's conversation spreads, as counts by channel and site over time.

    ripple_map(session, workspace_id=ws, issue_id=7, now=now)            # bucket chosen by the issue's age
    ripple_map(session, workspace_id=ws, issue_id=7, now=now, bucket="day")

Everything is plain data (counts, ISO times) for the UI and the API to chart: totals and first / last
seen per channel and per site, a dense series of time buckets (empty buckets included, so a chart
shows the quiet hours too), and the threads the conversation happened in, so the final answer can be
posted back into each of them. Buckets follow the workspace's wall clock: a day is a local calendar
day, an hour a local hour. Posts are placed by when they were posted, not when they were linked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.errors import InvalidInput
from firebreak.issues.access import get_issue
from firebreak.issues.models import IssueMention
from firebreak.mentions.models import Mention
from firebreak.workspaces.models import Workspace

Bucket = Literal["hour", "day"]
BUCKETS: tuple[Bucket, ...] = get_args(Bucket)
# An issue younger than this is charted by the hour; older, by the day.
HOURLY_UNTIL = timedelta(days=3)
# The most buckets one series may have: 92 days by the hour, or about six years by the day.
MAX_BUCKETS = 92 * 24
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Post:
    """One linked post, as the counts see it."""

    channel: str
    site: str
    posted_at: datetime


@dataclass(slots=True)
class Reach:
    """How much of the conversation one channel or site carried, and when it started and last spoke."""

    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def add(self, at: datetime) -> None:
        self.count += 1
        self.first_seen = at if self.first_seen is None or at < self.first_seen else self.first_seen
        self.last_seen = at if self.last_seen is None or at > self.last_seen else self.last_seen


@dataclass(slots=True)
class Slot:
    """One time bucket: posts in it, by channel and by site."""

    start: datetime
    total: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Tally:
    total: int
    channels: dict[str, Reach]
    sites: dict[str, Reach]
    series: list[Slot]


def bucket_start(at: datetime, bucket: Bucket, tz: tzinfo) -> datetime:
    """Return the start (in UTC) of the local hour or day that holds `at`."""
    local = at.astimezone(tz)
    if bucket == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return _midnight(local.date(), tz)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def bucket_starts(first: datetime, last: datetime, bucket: Bucket, tz: tzinfo) -> list[datetime]:
    """Return every bucket start (UTC) from the bucket holding `first` to the one holding `last`."""
    if bucket == "day":
        start, end = first.astimezone(tz).date(), last.astimezone(tz).date()
        return [_midnight(start + timedelta(days=n), tz) for n in range((end - start).days + 1)]
    # Stepping an hour of real time and flooring locally finds each local hour once, DST changes included.
    starts = {bucket_start(first, bucket, tz)}
    step, end = bucket_start(first, bucket, tz), bucket_start(last, bucket, tz)
    while step < end:
        step += _HOUR
        starts.add(bucket_start(step, bucket, tz))
    return sorted(starts)


def bucket_count(first: datetime, last: datetime, bucket: Bucket, tz: tzinfo) -> int:
    """Return about how many buckets a series from `first` to `last` has (to refuse huge ones cheaply)."""
    if bucket == "day":
        return (last.astimezone(tz).date() - first.astimezone(tz).date()).days + 1
    return int((last - first) / _HOUR) + 2


def tally(posts: Iterable[Post], *, bucket: Bucket, tz: tzinfo) -> Tally:
    """Count posts by channel, by site and per time bucket; the series is dense from first to last post."""
    channels: dict[str, Reach] = {}
    sites: dict[str, Reach] = {}
    slots: dict[datetime, Slot] = {}
    total = 0
    for post in posts:
        total += 1
        channels.setdefault(post.channel, Reach()).add(post.posted_at)
        sites.setdefault(post.site, Reach()).add(post.posted_at)
        start = bucket_start(post.posted_at, bucket, tz)
        slot = slots.get(start)
        if slot is None:
            slot = slots[start] = Slot(start)
        slot.total += 1
        slot.channels[post.channel] = slot.channels.get(post.channel, 0) + 1
        slot.sites[post.site] = slot.sites.get(post.site, 0) + 1
    series: list[Slot] = []
    if slots:
        series = [slots.get(start) or Slot(start) for start in bucket_starts(min(slots), max(slots), bucket, tz)]
    return Tally(total, channels, sites, series)


def choose_bucket(*, opened_at: datetime, now: datetime, first: datetime | None, last: datetime | None,
                  tz: tzinfo, asked: Bucket | None = None) -> Bucket:
    """Return the bucket to chart with: the one asked for, else hours for a young issue and days after.

    An asked-for bucket that would make the series longer than MAX_BUCKETS is refused; a chosen hour
    that would is widened to a day.
    """
    if asked is not None and asked not in BUCKETS:
        raise InvalidInput(f"unknown bucket {asked!r}; use {' or '.join(BUCKETS)}", field="bucket")
    bucket: Bucket = asked or ("hour" if now - opened_at <= HOURLY_UNTIL else "day")
    if first is None or last is None or bucket_count(first, last, bucket, tz) <= MAX_BUCKETS:
        return bucket
    if asked is None and bucket == "hour" and bucket_count(first, last, "day", tz) <= MAX_BUCKETS:
        return "day"
    raise InvalidInput(f"the linked posts span {first:%Y-%m-%d} to {last:%Y-%m-%d}: more than {MAX_BUCKETS} "
                       f"{bucket}s; ask for {'days' if bucket == 'hour' else 'a shorter span'}", field="bucket")


def workspace_zone(session: Session, workspace_id: int) -> ZoneInfo:
    """Return the workspace's time zone (UTC when its name is unknown to this machine)."""
    name = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id)) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class _Row:
    mention_id: int
    external_id: str
    url: str | None
    channel_id: int
    channel: str
    kind: str
    channel_name: str
    site: str
    conversation_id: str | None
    posted_at: datetime


def _rows(session: Session, workspace_id: int, issue_id: int) -> list[_Row]:
    stmt = (
        select(IssueMention.mention_id, Mention.external_id, Mention.url, IssueMention.channel_id, Channel.slug,
               Channel.kind, Channel.name, IssueMention.site, IssueMention.conversation_id, IssueMention.posted_at)
        .join(Mention, Mention.id == IssueMention.mention_id)
        .join(Channel, Channel.id == IssueMention.channel_id)
        .where(IssueMention.workspace_id == workspace_id, IssueMention.issue_id == issue_id)
        .order_by(IssueMention.posted_at, IssueMention.mention_id)
    )
    return [_Row(*row) for row in session.execute(stmt)]


def threads(rows: Sequence[_Row], tz: tzinfo) -> list[dict[str, Any]]:
    """Return the conversations the linked posts belong to, first started first, with where to answer."""
    grouped: dict[tuple[int, str], list[_Row]] = {}
    for row in rows:  # in posting order
        grouped.setdefault((row.channel_id, row.conversation_id or row.external_id), []).append(row)
    result = []
    for (channel_id, conversation), posts in grouped.items():
        root = next((post for post in posts if post.external_id == conversation), None)
        first, latest = posts[0], posts[-1]
        result.append({
            "channel_id": channel_id,
            "channel": first.channel,
            "kind": first.kind,
            "site": (root or first).site,
            "conversation_id": conversation,
            "first_post_at": first.posted_at.astimezone(tz),
            "last_post_at": latest.posted_at.astimezone(tz),
            "count": len(posts),
            # Where people read the thread, and the post a reply into it answers: the latest one linked.
            "url": next((post.url for post in ([root] if root else []) + posts if post.url), None),
            "reply_to_mention_id": latest.mention_id,
            "reply_to_external_id": latest.external_id,
        })
    return result


def _reach(items: dict[str, Reach], tz: tzinfo, key: str) -> list[dict[str, Any]]:
    ordered = sorted(items.items(), key=lambda pair: (-pair[1].count, pair[0]))
    return [{key: name, "count": reach.count, "first_seen": _local(reach.first_seen, tz),
             "last_seen": _local(reach.last_seen, tz)} for name, reach in ordered]


def _local(at: datetime | None, tz: tzinfo) -> datetime | None:
    return None if at is None else at.astimezone(tz)


def ripple_map(session: Session, *, workspace_id: int, issue_id: int, now: datetime,
               bucket: Bucket | None = None) -> dict[str, Any]:
    """Return the issue's ripple map: totals, per channel and site, a time series, and the threads."""
    issue = get_issue(session, workspace_id, issue_id)
    tz = workspace_zone(session, workspace_id)
    rows = _rows(session, workspace_id, issue_id)
    chosen = choose_bucket(opened_at=issue.created_at, now=now, tz=tz, asked=bucket,
                           first=rows[0].posted_at if rows else None, last=rows[-1].posted_at if rows else None)
    counted = tally((Post(row.channel, row.site, row.posted_at) for row in rows), bucket=chosen, tz=tz)
    kinds = {row.channel: (row.channel_id, row.kind, row.channel_name) for row in rows}
    channels = _reach(counted.channels, tz, "channel")
    for entry in channels:
        channel_id, kind, name = kinds[entry["channel"]]
        entry.update(channel_id=channel_id, kind=kind, name=name)
    return {
        "issue_id": issue.id,
        "issue_number": issue.number,
        "bucket": chosen,
        "timezone": str(tz),
        "total": counted.total,
        "channels": channels,
        "sites": _reach(counted.sites, tz, "site"),
        "series": [{"start": slot.start.astimezone(tz), "total": slot.total, "channels": slot.channels,
                    "sites": slot.sites} for slot in counted.series],
        "threads": threads(rows, tz),
    }
