"""Laws of business-time arithmetic, for fixed and randomly generated calendars, checked with hypothesis.

The random calendars are also checked against an independent, slow definition of "open": convert the
instant to local wall time and look the day and time up in the weekly hours and the holidays.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_tables
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firebreak.calendars import BusinessCalendar, CalendarSpec

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES = (
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",  # changes clocks at midnight
    "Asia/Tehran",  # changed clocks at midnight until 2022, then stopped
    "UTC",
)
ONE_MICROSECOND = timedelta(microseconds=1)
MAX_SECONDS = 30 * 86400.0

LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def clock_changes(zone_name: str) -> tuple[datetime, ...]:
    """Return the instants in 2020-2035 at which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)
    changes = []
    day = datetime(2020, 1, 1, tzinfo=UTC)
    while day.year < 2036:
        after = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            low, high = day, after
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == after.astimezone(zone).utcoffset():
                    high = middle
                else:
                    low = middle
            changes.append(high)
        day = after
    return tuple(changes)


def instants_near_clock_changes(zones: tuple[str, ...]) -> st.SearchStrategy[datetime]:
    """Instants within a day and a half of a daylight-saving change, where the arithmetic is hardest."""
    changes = sorted({change for zone in zones for change in clock_changes(zone)})
    return st.builds(
        lambda change, offset: change + timedelta(microseconds=offset),
        st.sampled_from(changes),
        st.integers(-36 * 3600 * 10**6, 36 * 3600 * 10**6),
    )


uniform_instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
instants = st.one_of(uniform_instants, instants_near_clock_changes(ZONES))
durations = st.floats(min_value=0, max_value=MAX_SECONDS, allow_nan=False)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def calendar_specs(draw: st.DrawFn) -> CalendarSpec:
    """A random weekly timetable in a random zone, sometimes with public and extra holidays."""
    hours: dict[str, list[str]] = {}
    for day in DAYS:
        points = sorted(draw(st.lists(st.integers(0, 96), unique=True, max_size=6)))
        spans = [f"{_hhmm(a * 15)}-{_hhmm(b * 15)}" for a, b in zip(points[::2], points[1::2], strict=False)]
        if spans:
            hours[day] = spans
    if not hours:
        hours["mon"] = ["09:00-17:00"]
    entry: dict[str, Any] = {"id": "random", "timezone": draw(st.sampled_from(ZONES)), "hours": hours}
    country = draw(st.sampled_from([None, "GB", "US", "AU"]))
    closed = draw(st.lists(st.dates(date(2020, 1, 1), date(2035, 12, 31)), max_size=20, unique=True))
    if country or closed:
        entry["holidays"] = {"country": country, "closed": closed}
    return CalendarSpec.model_validate(entry)


OFFICE = CalendarSpec.model_validate(
    {
        "id": "office",
        "timezone": "Europe/London",
        "hours": {day: ["08:00-20:00"] for day in DAYS[:5]},
        "holidays": {"country": "GB", "subdivision": "ENG"},
    }
)
NEW_YORK_SPLIT = CalendarSpec.model_validate(
    {
        "id": "split",
        "timezone": "America/New_York",
        "hours": {"mon": ["00:00-02:30", "09:00-17:00"], "sun": ["01:30-03:30", "22:00-24:00"]},
    }
)
calendars = st.one_of(
    st.sampled_from([OFFICE, NEW_YORK_SPLIT]).map(BusinessCalendar.from_spec),
    calendar_specs().map(BusinessCalendar.from_spec),
)


@LAWS
@given(calendars, instants, durations)
def test_between_undoes_add(cal: BusinessCalendar, start: datetime, seconds: float):
    assert cal.between(start, cal.add(start, seconds)) == pytest.approx(seconds, abs=1e-6)


@LAWS
@given(calendars, instants, durations, durations)
def test_add_is_monotonic_in_the_duration(cal: BusinessCalendar, start: datetime, s1: float, s2: float):
    shorter, longer = sorted((s1, s2))
    assert start <= cal.add(start, shorter) <= cal.add(start, longer)


@LAWS
@given(calendars, instants, instants, durations)
def test_add_is_monotonic_in_the_start(cal: BusinessCalendar, a1: datetime, a2: datetime, seconds: float):
    earlier, later = sorted((a1, a2))
    assert cal.add(earlier, seconds) <= cal.add(later, seconds)


@LAWS
@given(calendars, instants, durations)
def test_add_lands_on_open_time_or_a_closing(cal: BusinessCalendar, start: datetime, seconds: float):
    due = cal.add(start, seconds)
    assert cal.is_open(due) or cal.is_open(due - ONE_MICROSECOND)


@LAWS
@given(calendars, instants, instants, instants)
def test_between_adds_up(cal: BusinessCalendar, x: datetime, y: datetime, z: datetime):
    a, b, c = sorted((x, y, z))
    assert cal.between(a, b) + cal.between(b, c) == pytest.approx(cal.between(a, c), abs=1e-6)
    assert 0 <= cal.between(a, b) <= (b - a).total_seconds()


@LAWS
@given(calendars, instants)
def test_next_open_and_next_close_bracket_an_open_stretch(cal: BusinessCalendar, at: datetime):
    opens = cal.next_open(at)
    assert cal.is_open(opens)
    assert cal.between(at, opens) == 0
    closes = cal.next_close(opens)
    assert closes is not None and closes > opens
    assert not cal.is_open(closes)
    assert cal.between(opens, closes) == (closes - opens).total_seconds()


@LAWS
@given(instants, durations)
def test_always_open_is_elapsed_time(start: datetime, seconds: float):
    cal = BusinessCalendar.always()
    assert cal.add(start, seconds) == start + timedelta(microseconds=round(seconds * 1e6))
    assert cal.between(start, cal.add(start, seconds)) == pytest.approx(seconds, abs=1e-6)


# Against the slow definition -------------------------------------------------------------------------


@cache
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holiday_tables.country_holidays(country, subdiv=subdivision, years=year))


def wall_clock_open(spec: CalendarSpec, at: datetime) -> bool:
    """Whether the local wall clock at `at` shows a time inside the day's hours on a business day."""
    assert spec.timezone is not None and spec.hours is not None
    local = at.astimezone(ZoneInfo(spec.timezone))
    day = local.date()
    rules = spec.holidays
    if rules is not None:
        public = public_holidays(rules.country, rules.subdivision, day.year) if rules.country else frozenset()
        if day in rules.closed or (day in public and day not in rules.open):
            return False
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return any(start * 60 <= seconds < end * 60 for start, end in spec.hours.spans()[day.weekday()])


def repeated_wall_time(spec: CalendarSpec, at: datetime) -> bool:
    """Whether `at` falls in a fall-back hour, where the calendar deliberately differs from the slow definition."""
    assert spec.timezone is not None
    local = at.astimezone(ZoneInfo(spec.timezone))
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


@st.composite
def calendars_with_instants(draw: st.DrawFn, count: int) -> tuple[CalendarSpec, list[datetime]]:
    """A random calendar and instants drawn mostly around its own zone's clock changes."""
    spec = draw(calendar_specs())
    assert spec.timezone is not None
    near = instants_near_clock_changes((spec.timezone,)) if clock_changes(spec.timezone) else uniform_instants
    moments = draw(st.lists(st.one_of(uniform_instants, near), min_size=count, max_size=count))
    return spec, moments


@settings(max_examples=100, deadline=None)
@given(calendars_with_instants(count=20))
def test_is_open_matches_the_wall_clock(drawn: tuple[CalendarSpec, list[datetime]]):
    spec, moments = drawn
    cal = BusinessCalendar.from_spec(spec)
    for at in moments:
        if not repeated_wall_time(spec, at):
            assert cal.is_open(at) == wall_clock_open(spec, at), at


@settings(max_examples=40, deadline=None)
@given(calendars_with_instants(count=1), st.integers(1, 3 * 24 * 60))
def test_between_matches_minute_by_minute_count(drawn: tuple[CalendarSpec, list[datetime]], minutes: int):
    # Hours are on quarter hours and every zone here is offset by whole minutes, so openness is
    # constant within each whole minute and counting minutes is exact.
    spec, (start,) = drawn
    start = start.replace(second=0, microsecond=0)
    moments = [start + timedelta(minutes=m) for m in range(minutes)]
    assume(not any(repeated_wall_time(spec, at) for at in moments))
    expected = 60 * sum(wall_clock_open(spec, at) for at in moments)
    assert BusinessCalendar.from_spec(spec).between(start, moments[-1] + timedelta(minutes=1)) == expected
