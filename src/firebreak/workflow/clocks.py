"""SLA clock arithmetic: start, pause, resume and stop a clock, and what it fires next. Pure functions.

A clock measures business time on its calendar. Its events fire in this order: `warning` (when
`warn_fraction` of the target has been used), `breach` (at the due time), then `escalation:1`,
`escalation:2`, ... at the escalation levels' delays after the breach. Escalation delays are real
minutes, not business minutes: once a promise is broken, the people above must hear of it now, even
out of hours. A paused clock fires nothing; resuming recomputes every moment from the business time
still left. Each function returns the columns to change, so callers can write many clocks in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

WARNING = "warning"
BREACH = "breach"
ESCALATION = "escalation:"
_MICROSECONDS = 1_000_000


class Calendar(Protocol):
    def add(self, start: datetime, seconds: float) -> datetime: ...

    def between(self, a: datetime, b: datetime) -> float: ...


class ClockLike(Protocol):
    state: str
    target_seconds: float
    warn_fraction: float
    started_at: datetime
    segment_started_at: datetime | None
    consumed_seconds: float
    due_at: datetime | None
    warn_at: datetime | None
    breached_at: datetime | None
    next_event: str | None
    escalation_level: int


@dataclass(frozen=True, slots=True)
class ClockView:
    """A clock as people read it: how much business time is used and left, and whether it is late."""

    state: str
    used_seconds: float
    remaining_seconds: float
    due_at: datetime | None
    breached: bool
    fraction_used: float


def start(calendar: Calendar, *, at: datetime, target_seconds: float, warn_fraction: float) -> dict[str, Any]:
    """Columns of a clock started at `at`."""
    due = calendar.add(at, target_seconds)
    warn = calendar.add(at, target_seconds * warn_fraction) if 0 < warn_fraction < 1 else None
    columns: dict[str, Any] = {
        "state": "running", "started_at": at, "segment_started_at": at, "consumed_seconds": 0.0,
        "target_seconds": target_seconds, "warn_fraction": warn_fraction, "due_at": due, "warn_at": warn,
        "breached_at": None, "escalation_level": 0, "stopped_at": None,
    }
    columns["next_event"], columns["next_fire_at"] = (WARNING, warn) if warn is not None else (BREACH, due)
    return columns


def used_seconds(calendar: Calendar, clock: ClockLike, now: datetime) -> float:
    """Business seconds the clock has used up to `now`."""
    used = clock.consumed_seconds
    if clock.state == "running" and clock.segment_started_at is not None and now > clock.segment_started_at:
        used += calendar.between(clock.segment_started_at, now)
    return used


def view(calendar: Calendar, clock: ClockLike, now: datetime) -> ClockView:
    """The clock at `now`. It is breached once its business time ran out, whether or not the scheduler has
    fired the breach yet; a clock met exactly at its deadline was met in time."""
    used = used_seconds(calendar, clock, now)
    target = clock.target_seconds
    # Compared in whole microseconds, as calendars count: a deadline is the target rounded to one.
    used_us, target_us = round(used * _MICROSECONDS), round(target * _MICROSECONDS)
    if clock.breached_at is not None:
        breached = True
    elif clock.state in ("running", "paused"):
        breached = used_us >= target_us
    else:
        breached = clock.state == "met" and used_us > target_us
    return ClockView(clock.state, used, target - used, clock.due_at, breached, used / (target or 1.0))


def pause(calendar: Calendar, clock: ClockLike, at: datetime) -> dict[str, Any]:
    """Stop the clock counting (waiting on the customer); nothing fires while paused."""
    if clock.state != "running":
        return {}
    return {"state": "paused", "consumed_seconds": used_seconds(calendar, clock, at), "segment_started_at": None,
            "due_at": None, "warn_at": None, "next_fire_at": None}


def resume(
    calendar: Calendar, clock: ClockLike, at: datetime, escalation_delays: Sequence[float] = ()
) -> dict[str, Any]:
    """Start counting again from `at` with the business time that was left."""
    if clock.state != "paused":
        return {}
    left = clock.target_seconds - clock.consumed_seconds
    due = calendar.add(at, max(left, 0.0))
    warn_left = clock.target_seconds * clock.warn_fraction - clock.consumed_seconds
    warned = clock.next_event not in (None, WARNING)
    # A warning that fell due before the pause but had not fired yet fires as the clock resumes.
    warn = calendar.add(at, max(warn_left, 0.0)) if 0 < clock.warn_fraction < 1 else None
    columns: dict[str, Any] = {"state": "running", "segment_started_at": at, "due_at": due,
                               "warn_at": warn if not warned else None}
    if clock.breached_at is not None:
        columns["next_event"], columns["next_fire_at"] = _next_escalation(
            clock.escalation_level, clock.breached_at, escalation_delays, not_before=at)
    elif warn is not None and not warned:
        columns["next_event"], columns["next_fire_at"] = WARNING, warn
    else:
        columns["next_event"], columns["next_fire_at"] = BREACH, due
    return columns


def stop(calendar: Calendar, clock: ClockLike, at: datetime, *, met: bool = True) -> dict[str, Any]:
    """End the clock: met (answered, resolved) or cancelled (closed without needing it).

    The running segment is folded into `consumed_seconds`, so the clock keeps saying how much business
    time the answer took."""
    if clock.state in ("met", "cancelled"):
        return {}
    return {"state": "met" if met else "cancelled", "stopped_at": at, "next_fire_at": None, "next_event": None,
            "consumed_seconds": used_seconds(calendar, clock, at), "segment_started_at": None}


def after_firing(clock: ClockLike, event: str, escalation_delays: Sequence[float]) -> dict[str, Any]:
    """Columns after `event` fired: record a breach and point the clock at its next event."""
    if event == WARNING:
        return {"next_event": BREACH, "next_fire_at": clock.due_at, "warn_at": clock.warn_at}
    if event == BREACH:
        breached_at = clock.due_at
        assert breached_at is not None
        event_name, fire_at = _next_escalation(0, breached_at, escalation_delays)
        return {"breached_at": breached_at, "next_event": event_name, "next_fire_at": fire_at}
    level = int(event.removeprefix(ESCALATION))
    assert clock.breached_at is not None
    event_name, fire_at = _next_escalation(level, clock.breached_at, escalation_delays)
    return {"escalation_level": level, "next_event": event_name, "next_fire_at": fire_at}


def _next_escalation(
    level_done: int, breached_at: datetime, delays: Sequence[float], not_before: datetime | None = None
) -> tuple[str | None, datetime | None]:
    if level_done >= len(delays):
        return None, None
    fire_at = breached_at + timedelta(seconds=delays[level_done])
    if not_before is not None and fire_at < not_before:
        fire_at = not_before
    return f"{ESCALATION}{level_done + 1}", fire_at
