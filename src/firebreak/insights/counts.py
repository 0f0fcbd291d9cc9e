"""What the dashboard counters hold, and a recount from the rows themselves to check them against.

The counters (`insight_counts`, written by the triggers of migration 0008) are per workspace and
UTC hour (the "slot": epoch seconds // 3600). Dimensions and values:

    channel    inbound mentions that arrived, by channel id
    flag       ... of those with a triage verdict, by flag (red / yellow / green)
    category   ... by category
    sentiment  ... by sentiment label
    response   first responses given, "team|bin": bin i holds response times below RESPONSE_BIN_EDGES[i]
               seconds (and at least the edge before it); the last bin holds the rest
    sla        first-response goals settled, "team|met" or "team|breached": breached when the breach was
               recorded or the answer used more business time than the goal; counted at the breach, or
               at the answer when it was in time

`recount` computes the same numbers in Python from the rows, independently of the triggers' SQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.insights.models import InsightCount
from firebreak.mentions.models import Mention
from firebreak.triage.models import MentionTriage
from firebreak.workflow.models import SlaClock, WorkItem

SLOT_SECONDS = 3600
RESPONSE_BIN_EDGES = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
RESPONSE_BIN_LABELS = ("<1m", "1–2m", "2–5m", "5–10m", "10–15m", "15–30m", "30–60m", "1–2h", "2–4h", "4–8h",
                       "8–24h", "1–2d", "2d+")
VOLUME_DIMENSIONS = ("channel", "flag", "category", "sentiment")
DIMENSIONS = (*VOLUME_DIMENSIONS, "response", "sla")

Key = tuple[int, str, str]  # slot, dimension, value


def slot_of(at: datetime) -> int:
    """The UTC hour slot holding `at` (whole epoch seconds, as both databases truncate them)."""
    return int(at.timestamp()) // SLOT_SECONDS


def response_bin(seconds: float) -> int:
    """The index of the response-time bin for `seconds` (to the millisecond, as the triggers round)."""
    rounded = round(seconds, 3)
    return next((index for index, edge in enumerate(RESPONSE_BIN_EDGES) if rounded < edge), len(RESPONSE_BIN_EDGES))


def stored(session: Session, workspace_id: int) -> Counter[Key]:
    """The workspace's counters as stored (zero counts left out)."""
    rows = session.execute(select(InsightCount.slot, InsightCount.dimension, InsightCount.value, InsightCount.count)
                           .where(InsightCount.workspace_id == workspace_id, InsightCount.count != 0))
    return Counter({(slot, dimension, value): count for slot, dimension, value, count in rows})


def recount(session: Session, workspace_id: int) -> Counter[Key]:
    """Count the workspace's rows as the triggers should have (for tests and for checking a database).

    Reads every row of the workspace: a check, not something a page may call.
    """
    counts: Counter[Key] = Counter()
    mentions = session.execute(select(Mention.id, Mention.channel_id, Mention.received_at).where(
        Mention.workspace_id == workspace_id, Mention.direction == "inbound"))
    arrived: dict[int, int] = {}
    for mention_id, channel_id, received_at in mentions:
        arrived[mention_id] = slot_of(received_at)
        counts[(arrived[mention_id], "channel", str(channel_id))] += 1
    verdicts = session.execute(select(MentionTriage.mention_id, MentionTriage.flag, MentionTriage.category,
                                      MentionTriage.sentiment).where(MentionTriage.workspace_id == workspace_id))
    for mention_id, flag, category, sentiment in verdicts:
        if mention_id in arrived:
            for dimension, value in (("flag", flag), ("category", category), ("sentiment", sentiment)):
                counts[(arrived[mention_id], dimension, value)] += 1
    teams: dict[int, str] = {}
    work = session.execute(select(WorkItem.mention_id, WorkItem.team, WorkItem.opened_at, WorkItem.first_response_at)
                           .where(WorkItem.workspace_id == workspace_id))
    for mention_id, team, opened_at, first_response_at in work:
        teams[mention_id] = team
        if first_response_at is not None:
            seconds = (first_response_at - opened_at).total_seconds()
            counts[(slot_of(first_response_at), "response", f"{team}|{response_bin(seconds)}")] += 1
    clocks = session.scalars(select(SlaClock).where(SlaClock.workspace_id == workspace_id,
                                                    SlaClock.metric == "first_response"))
    for clock in clocks:
        settled = goal_outcome(clock)
        if settled is not None and clock.mention_id in teams:
            outcome, at = settled
            counts[(slot_of(at), "sla", f"{teams[clock.mention_id]}|{outcome}")] += 1
    return +counts


def goal_outcome(clock: SlaClock) -> tuple[str, datetime] | None:
    """("breached", when) or ("met", when) for a settled first-response clock; None while it runs."""
    if clock.breached_at is not None:
        return "breached", clock.breached_at
    if clock.state != "met" or clock.stopped_at is None:
        return None
    late = round(clock.consumed_seconds * 1_000_000) > round(clock.target_seconds * 1_000_000)
    return ("breached" if late else "met"), clock.stopped_at
