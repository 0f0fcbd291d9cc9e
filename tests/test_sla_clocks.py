"""Laws of SLA clocks (firebreak.workflow.clocks), pure and checked with hypothesis on two calendars.

A clock is business time on a calendar: the 24x7 `always` calendar, and the shipped public hours
(Europe/London, Monday to Saturday, English bank holidays closed), so pauses span nights, weekends,
holidays and daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firebreak.calendars import BusinessCalendar, CalendarSpec
from firebreak.workflow import clocks

SUPPORT_HOURS = BusinessCalendar.from_spec(CalendarSpec.model_validate({
    "id": "support_hours", "timezone": "Europe/London",
    "hours": {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["10:00-16:00"]},
    "holidays": {"country": "GB", "subdivision": "ENG"},
}))
ALWAYS = BusinessCalendar.always()
CALENDARS = {"always": ALWAYS, "support_hours": SUPPORT_HOURS}
DELAYS = (0.0, 900.0, 1800.0)  # the shipped escalation levels: +0, +15m, +30m after the breach
TOLERANCE = 1e-5  # seconds: instants are whole microseconds, sums of business seconds are floats

LAWS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

calendars = st.sampled_from(sorted(CALENDARS))
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                        timezones=st.just(UTC))
targets = st.floats(min_value=60.0, max_value=3 * 86400.0, allow_nan=False)
fractions = st.floats(min_value=0.05, max_value=0.95)
# (when in the remaining time to pause, as a fraction of it; how long to wait before resuming)
pauses = st.lists(st.tuples(st.floats(min_value=0.0, max_value=0.999),
                            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12))), max_size=6)


@dataclass
class Clock:
    """A clock row as the functions see it (the ORM row has the same columns)."""

    state: str = "running"
    target_seconds: float = 0.0
    warn_fraction: float = 0.75
    started_at: datetime | None = None
    segment_started_at: datetime | None = None
    consumed_seconds: float = 0.0
    due_at: datetime | None = None
    warn_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    next_event: str | None = None
    next_fire_at: datetime | None = None
    escalation_level: int = 0

    def apply(self, columns: dict[str, Any]) -> Clock:
        for key, value in columns.items():
            setattr(self, key, value)
        return self


def started(calendar: BusinessCalendar, at: datetime, target: float, warn: float = 0.75) -> Clock:
    return Clock().apply(clocks.start(calendar, at=at, target_seconds=target, warn_fraction=warn))


def fire_all(clock: Clock, until: datetime) -> list[tuple[str, datetime]]:
    """Fire every event due by `until`, as the scheduler does, and return (event, moment) in order."""
    fired = []
    while clock.next_fire_at is not None and clock.next_fire_at <= until and clock.next_event:
        fired.append((clock.next_event, clock.next_fire_at))
        clock.apply(clocks.after_firing(clock, clock.next_event, DELAYS))
    return fired


@LAWS
@given(name=calendars, start=instants, target=targets, warn=fractions, breaks=pauses)
def test_pausing_and_resuming_never_changes_the_business_time_allowed(name, start, target, warn, breaks):
    calendar = CALENDARS[name]
    clock = started(calendar, start, target, warn)
    paused_business = 0.0
    for share, wait in breaks:
        assert clock.segment_started_at is not None and clock.due_at is not None
        pause_at = clock.segment_started_at + (clock.due_at - clock.segment_started_at) * share
        clock.apply(clocks.pause(calendar, clock, pause_at))
        assert (clock.state, clock.next_fire_at, clock.due_at) == ("paused", None, None)
        resume_at = pause_at + wait
        paused_business += calendar.between(pause_at, resume_at)
        # Nothing counts while paused.
        assert clocks.used_seconds(calendar, clock, resume_at) == clock.consumed_seconds
        clock.apply(clocks.resume(calendar, clock, resume_at, DELAYS))
        assert clock.state == "running"

    due = clock.due_at
    assert due is not None
    # All the business time allowed is used exactly at the deadline, however often the clock stopped...
    assert abs(clocks.used_seconds(calendar, clock, due) - target) < TOLERANCE
    # ...and the deadline is the original one moved by the business time spent waiting.
    assert abs(calendar.between(start, due) - paused_business - target) < TOLERANCE
    seen = clocks.view(calendar, clock, due)
    assert seen.breached and abs(seen.used_seconds + seen.remaining_seconds - target) < TOLERANCE
    before = clocks.view(calendar, clock, due - timedelta(milliseconds=1))
    assert not before.breached or calendar.between(due - timedelta(milliseconds=1), due) == 0


@LAWS
@given(name=calendars, start=instants, target=targets, warn=fractions, breaks=pauses)
def test_the_warning_comes_before_the_breach_and_escalations_follow_the_breach(name, start, target, warn, breaks):
    calendar = CALENDARS[name]
    clock = started(calendar, start, target, warn)
    for share, wait in breaks:  # pauses that may fall before or after the warning fired
        assert clock.segment_started_at is not None and clock.due_at is not None
        pause_at = clock.segment_started_at + (clock.due_at - clock.segment_started_at) * share
        fire_all(clock, pause_at)
        clock.apply(clocks.pause(calendar, clock, pause_at))
        clock.apply(clocks.resume(calendar, clock, pause_at + wait, DELAYS))

    fired = fire_all(clock, datetime(2100, 1, 1, tzinfo=UTC))
    events = [event for event, _ in fired]
    assert events[-4:] == ["breach", "escalation:1", "escalation:2", "escalation:3"]
    assert events.count("warning") <= 1 and set(events[:-4]) <= {"warning"}
    assert [moment for _, moment in fired] == sorted(moment for _, moment in fired)
    breach_at = dict(fired)["breach"]
    assert clock.breached_at == breach_at
    for level, delay in enumerate(DELAYS, 1):
        # Escalations are real minutes after the breach, even when the calendar is closed.
        assert dict(fired)[f"escalation:{level}"] == breach_at + timedelta(seconds=delay)
    assert (clock.next_event, clock.next_fire_at, clock.escalation_level) == (None, None, 3)


@LAWS
@given(name=calendars, start=instants, target=targets, warn=fractions)
def test_a_fresh_clock_warns_at_its_fraction_and_breaches_at_its_target(name, start, target, warn):
    calendar = CALENDARS[name]
    clock = started(calendar, start, target, warn)
    assert clock.warn_at is not None and clock.due_at is not None
    assert start <= clock.warn_at <= clock.due_at
    assert (clock.next_event, clock.next_fire_at) == ("warning", clock.warn_at)
    assert abs(clocks.used_seconds(calendar, clock, clock.warn_at) - target * warn) < TOLERANCE
    assert fire_all(clock, clock.warn_at) == [("warning", clock.warn_at)]
    assert (clock.next_event, clock.next_fire_at) == ("breach", clock.due_at)


@LAWS
@given(name=calendars, start=instants, target=targets, share=st.floats(min_value=0.0, max_value=2.0))
def test_a_stopped_clock_keeps_the_business_time_it_took(name, start, target, share):
    calendar = CALENDARS[name]
    clock = started(calendar, start, target)
    assert clock.due_at is not None
    stop_at = start + (clock.due_at - start) * share
    clock.apply(clocks.stop(calendar, clock, stop_at))
    took = calendar.between(start, stop_at)
    later = stop_at + timedelta(days=30)
    assert (clock.state, clock.next_fire_at, clock.stopped_at) == ("met", None, stop_at)
    assert abs(clocks.used_seconds(calendar, clock, later) - took) < TOLERANCE
    assert clocks.view(calendar, clock, later).breached == (took > target + TOLERANCE)
    assert clocks.stop(calendar, clock, later) == {}  # stopping twice changes nothing


def test_escalations_go_on_after_a_pause_at_the_levels_still_due():
    start = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, start, 300.0)
    assert fire_all(clock, start + timedelta(minutes=10)) == [
        ("warning", start + timedelta(minutes=3, seconds=45)), ("breach", start + timedelta(minutes=5)),
        ("escalation:1", start + timedelta(minutes=5))]
    clock.apply(clocks.pause(ALWAYS, clock, start + timedelta(minutes=10)))
    # Waiting on the customer for an hour: level 2 (due at +20m) fires as soon as the clock runs again,
    # level 3 at its own time if that is still ahead.
    clock.apply(clocks.resume(ALWAYS, clock, start + timedelta(minutes=30), DELAYS))
    assert (clock.next_event, clock.next_fire_at) == ("escalation:2", start + timedelta(minutes=30))
    assert fire_all(clock, start + timedelta(minutes=34)) == [("escalation:2", start + timedelta(minutes=30))]
    assert (clock.next_event, clock.next_fire_at) == ("escalation:3", start + timedelta(minutes=35))


def test_a_warning_due_before_a_pause_but_not_yet_fired_fires_on_resume():
    start = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, start, 3600.0)
    # Paused at 50 minutes, after the 45-minute warning fell due but before the scheduler fired it.
    clock.apply(clocks.pause(ALWAYS, clock, start + timedelta(minutes=50)))
    resume_at = start + timedelta(hours=2)
    clock.apply(clocks.resume(ALWAYS, clock, resume_at, DELAYS))
    assert (clock.next_event, clock.next_fire_at, clock.warn_at) == ("warning", resume_at, resume_at)
    assert clock.due_at == resume_at + timedelta(minutes=10)
    assert [e for e, _ in fire_all(clock, resume_at + timedelta(minutes=10))] == ["warning", "breach", "escalation:1"]


def test_a_warning_already_fired_is_not_repeated_after_a_pause():
    start = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, start, 3600.0)
    assert [e for e, _ in fire_all(clock, start + timedelta(minutes=50))] == ["warning"]
    clock.apply(clocks.pause(ALWAYS, clock, start + timedelta(minutes=50)))
    clock.apply(clocks.resume(ALWAYS, clock, start + timedelta(hours=2), DELAYS))
    assert (clock.next_event, clock.warn_at) == ("breach", None)


@pytest.mark.parametrize(("used", "state", "breached"), [
    (3599.0, "running", False), (3600.0, "running", True), (3600.0, "met", False), (3601.0, "met", True),
    (3700.0, "paused", True), (3700.0, "cancelled", False),
])
def test_a_clock_is_breached_once_its_time_ran_out(used, state, breached):
    start = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, start, 3600.0)
    at = start + timedelta(seconds=used)
    if state == "paused":
        clock.apply(clocks.pause(ALWAYS, clock, at))
    elif state in ("met", "cancelled"):
        clock.apply(clocks.stop(ALWAYS, clock, at, met=state == "met"))
    seen = clocks.view(ALWAYS, clock, at + timedelta(hours=1) if state != "running" else at)
    assert (seen.state, seen.used_seconds, seen.breached) == (state, used, breached)
    assert seen.remaining_seconds == 3600.0 - used
