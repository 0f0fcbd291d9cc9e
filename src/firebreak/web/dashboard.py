"""The dashboard: headline numbers and server-drawn charts of the last 7, 30 or 90 days (?days= in the URL).

Everything comes from insights.dashboard, which reads counters rather than mentions, so the page costs
the same whatever the workspace holds; the charts are SVG drawn here (web/charts.py), so the page needs
no script. Every member of the workspace may see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.insights import dashboard as insights
from firebreak.web import charts
from firebreak.web.common import PageError, PlaceDep, db, render_page, runtime_for

WINDOWS = (7, 30, 90)
TOP_CHANNELS = 6
TOP_CATEGORIES = 8
# The histogram's 13 bins, merged into 8 that fit a phone: (label, first bin, last bin).
RESPONSE_GROUPS = (("<5m", 0, 2), ("5–15m", 3, 4), ("15–30m", 5, 5), ("30–60m", 6, 6), ("1–4h", 7, 8),
                   ("4–24h", 9, 10), ("1–2d", 11, 11), ("2d+", 12, 12))
SENTIMENT_COLOURS = {"negative": "red", "neutral": "6", "positive": "green"}

router = APIRouter(include_in_schema=False)


@router.get("/w/{slug}/dashboard")
def dashboard_page(request: Request, where: PlaceDep, days: str = "7") -> Response:
    if not days.isdigit():
        raise PageError(422, "Unknown time window",
                        f"days must be a whole number from 1 to {insights.MAX_DAYS}, not {days!r}.")
    with db(request).read() as session:
        runtime = runtime_for(request, session, where)
        try:
            numbers = insights.dashboard(session, workspace_id=where.workspace_id, days=int(days), now=utcnow(),
                                         runtime=runtime)
        except InvalidInput as refused:
            raise PageError(422, "Unknown time window", f"{refused.message}.") from None
    return render_page(
        request, where, "dashboard.html", title="Dashboard", section="dashboard",
        numbers=numbers, windows=WINDOWS, headline=headline(numbers), charts=draw(numbers),
        period=_period(numbers),
    )


def headline(numbers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The six figures at the top, each with the page that shows what it counts."""
    work, sla, first = numbers["work"], numbers["sla"], numbers["first_response"]
    compliance = sla["compliance"]
    return [
        {"label": "Mentions", "value": f"{numbers['mentions']['total']:,}", "tone": "", "link": ""},
        {"label": "Red flags", "value": f"{numbers['mentions']['by_flag']['red']['total']:,}", "tone": "red",
         "link": "inbox?flag=red"},
        {"label": "Open work", "value": f"{work['open']:,}", "tone": "", "link": "inbox"},
        {"label": "Overdue", "value": f"{work['overdue']:,}", "tone": "red" if work["overdue"] else "",
         "link": "inbox"},
        {"label": "First response, median", "value": _duration(first["median_seconds"]), "tone": "", "link": ""},
        {"label": "First responses in time", "value": "—" if compliance is None else f"{compliance:g}%",
         "tone": "" if compliance is None or compliance >= 90 else "amber", "link": ""},
    ]


def draw(numbers: Mapping[str, Any]) -> dict[str, Markup]:
    """Every chart of the page, drawn from the numbers."""
    labels = [bucket["label"] for bucket in numbers["buckets"]]
    mentions = numbers["mentions"]
    by_flag = {flag: row["series"] for flag, row in mentions["by_flag"].items()}
    flag_colours = {flag: flag for flag in by_flag if flag in charts.NAMED_COLOURS}
    triaged = [sum(column) for column in zip(*by_flag.values(), strict=True)]
    untriaged = [total - judged for total, judged in zip(mentions["series"], triaged, strict=True)]
    if any(untriaged):
        by_flag["not triaged yet"] = untriaged
        flag_colours["not triaged yet"] = "6"
    sentiments = {label: row["series"] for label, row in mentions["by_sentiment"].items()}
    first = numbers["first_response"]
    bins = [row["count"] for row in first["histogram"]]
    return {
        "flags": charts.stacked_bars(labels, by_flag, title="Mentions by flag", colors=flag_colours),
        "channels": charts.lines(labels, _top_channels(mentions["by_channel"], len(labels)),
                                 title="Mentions by channel"),
        "sentiment": charts.stacked_bars(
            labels, sentiments, title="Sentiment",
            colors={label: colour for label, colour in SENTIMENT_COLOURS.items() if label in sentiments}),
        "categories": charts.horizontal_bars(
            [(row["value"].replace("_", " "), row["total"]) for row in mentions["by_category"][:TOP_CATEGORIES]],
            title="Top categories", unit="", key_heading="Category"),
        "responses": charts.histogram([label for label, _, _ in RESPONSE_GROUPS],
                                      [sum(bins[low:high + 1]) for _, low, high in RESPONSE_GROUPS],
                                      title="Time to first response", key_heading="Answered within"),
        "goals": charts.horizontal_bars(
            [(row["team"], row["compliance"]) for row in numbers["sla"]["by_team"]],
            title="First responses in time, by team", key_heading="Team"),
    }


def _top_channels(channels: Sequence[Mapping[str, Any]], length: int) -> dict[str, list[int]]:
    """The busiest channels by name (channels with nothing left out), the rest summed as "other"."""
    busy = [channel for channel in channels if channel["total"]]
    series = {channel["name"]: list(channel["series"]) for channel in busy[:TOP_CHANNELS]}
    rest = busy[TOP_CHANNELS:]
    if rest:
        series["other"] = [sum(channel["series"][n] for channel in rest) for n in range(length)]
    return series


def _period(numbers: Mapping[str, Any]) -> str:
    start, now = numbers["start"], numbers["now"]
    span = "the last 24 hours" if numbers["days"] == 1 else f"the last {numbers['days']} days"
    text = f"{span}: {start:%-d %b %Y %H:%M} to now ({now:%-d %b %H:%M}), {numbers['timezone']} time"
    if numbers["bucket_offset_minutes"]:
        unit = "hour" if numbers["bucket"] == "hour" else "day"
        text += f"; each {unit} is counted from {numbers['bucket_offset_minutes']} minutes past"
    return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"
