"""`BusinessCalendar.add_business_days`: open days counted by local date, landing at the same wall-clock time.

Fixed cases pin the rule down; hypothesis checks its laws on fixed and random calendars, and compares
it with a slow, independent reading of the rule (walk local dates, look the weekday and holidays up)
in zones without daylight saving, where wall time and instants convert one to one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_tables
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firebreak.calendars import BusinessCalendar, CalendarSpec

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ONE_MICROSECOND = timedelta(microseconds=1)

LAWS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def calendar(hours: dict[str, list[str]], timezone: str = "Europe/London", **extra: Any) -> BusinessCalendar:
    return BusinessCalendar.from_spec(CalendarSpec.model_validate({"id": "c", "timezone": timezone,
                                                                    "hours": hours, **extra}))


WEEKDAYS_9_TO_5 = calendar({day: ["09:00-17:00"] for day in DAYS[:5]},
                           holidays={"country": "GB", "subdivision": "ENG"})


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)  # type: ignore[misc]


def new_york(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK, fold=fold)  # type: ignore[misc]


# The rule, case by case ---------------------------------------------------------------------------


def test_friday_afternoon_plus_one_business_day_is_monday_afternoon():
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 15), 1) == london(2026, 6, 8, 15)


def test_results_are_utc():
    result = WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 15), 1)
    assert result.tzinfo == UTC


def test_two_business_days_from_wednesday_is_friday():
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 3, 10, 30), 2) == london(2026, 6, 5, 10, 30)


def test_christmas_boxing_day_and_the_weekend_are_skipped():
    # 2026: Christmas is a Friday and Boxing Day (Saturday) is observed on Monday 28 December.
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 12, 24, 15), 1) == london(2026, 12, 29, 15)


def test_extra_closed_dates_are_skipped():
    office = calendar({day: ["09:00-17:00"] for day in DAYS[:5]}, holidays={"closed": ["2026-06-08"]})
    assert office.add_business_days(london(2026, 6, 5, 15), 1) == london(2026, 6, 9, 15)


def test_the_dst_weekend_keeps_the_wall_clock_time():
    # Clocks go forward on Sunday 29 March 2026: Friday 15:00 GMT, Monday 15:00 BST (14:00 UTC).
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 3, 27, 15), 1) == london(2026, 3, 30, 15)
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 10, 23, 15), 1) == london(2026, 10, 26, 15)


def test_outside_hours_counting_starts_at_the_next_opening():
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 18), 1) == london(2026, 6, 9, 9)
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 6, 12), 1) == london(2026, 6, 9, 9)
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 8, 7), 1) == london(2026, 6, 9, 9)


def test_zero_days_is_the_counting_start():
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 15), 0) == london(2026, 6, 5, 15)
    assert WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 18), 0) == london(2026, 6, 8, 9)


def test_a_time_in_the_landing_days_break_moves_to_its_next_opening():
    mornings_and_afternoons = calendar({"mon": ["09:00-12:00", "13:00-17:00"], "tue": ["09:00-11:00", "14:00-17:00"]})
    assert mornings_and_afternoons.add_business_days(london(2026, 6, 8, 13, 30), 1) == london(2026, 6, 9, 14)
    assert mornings_and_afternoons.add_business_days(london(2026, 6, 8, 10), 1) == london(2026, 6, 9, 10)


def test_a_time_before_the_landing_days_opening_moves_to_it():
    weekdays_and_saturday = calendar({**{day: ["09:00-17:00"] for day in DAYS[:5]}, "sat": ["10:00-14:00"]})
    assert weekdays_and_saturday.add_business_days(london(2026, 6, 5, 9, 15), 1) == london(2026, 6, 6, 10)


def test_a_time_after_the_landing_days_hours_stops_at_its_last_closing():
    weekdays_and_saturday = calendar({**{day: ["09:00-17:00"] for day in DAYS[:5]}, "sat": ["10:00-14:00"]})
    assert weekdays_and_saturday.add_business_days(london(2026, 6, 5, 15), 1) == london(2026, 6, 6, 14)
    assert weekdays_and_saturday.add_business_days(london(2026, 6, 5, 15), 2) == london(2026, 6, 8, 15)


def test_hours_running_over_midnight_count_on_both_dates():
    nights = calendar({"mon": ["22:00-24:00"], "tue": ["00:00-06:00"], "thu": ["22:00-24:00"]})
    # Monday 23:00 -> Tuesday is the next date with open time; 23:00 is after its hours (00:00-06:00).
    assert nights.add_business_days(london(2026, 6, 8, 23), 1) == london(2026, 6, 9, 6)
    assert nights.add_business_days(london(2026, 6, 8, 23), 2) == london(2026, 6, 11, 23)


def test_the_24x7_calendar_adds_whole_days():
    always = BusinessCalendar.always()
    start = datetime(2026, 3, 28, 15, tzinfo=UTC)
    assert always.add_business_days(start, 2) == datetime(2026, 3, 30, 15, tzinfo=UTC)


def test_the_second_pass_of_a_repeated_hour_counts_as_the_end_of_the_repeat():
    every_day = calendar({day: ["00:00-24:00"] for day in DAYS}, timezone="America/New_York")
    # 1 November 2026: 01:00-02:00 happens twice in New York.
    first_pass = new_york(2026, 11, 1, 1, 30)
    second_pass = new_york(2026, 11, 1, 1, 30, fold=1)
    assert every_day.add_business_days(first_pass, 1) == new_york(2026, 11, 2, 1, 30)
    assert every_day.add_business_days(second_pass, 1) == new_york(2026, 11, 2, 2, 0)


def test_a_wall_time_missing_on_the_landing_day_is_when_the_clocks_jump():
    every_day = calendar({day: ["00:00-24:00"] for day in DAYS}, timezone="America/New_York")
    # 8 March 2026: 02:00-03:00 does not exist in New York.
    assert every_day.add_business_days(new_york(2026, 3, 7, 2, 30), 1) == new_york(2026, 3, 8, 3, 0)


@pytest.mark.parametrize("days", [-1, 1.5, True, "2"])
def test_days_must_be_a_whole_number_not_below_zero(days: Any):
    with pytest.raises(ValueError, match="business days must"):
        WEEKDAYS_9_TO_5.add_business_days(london(2026, 6, 5, 15), days)


def test_a_naive_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        WEEKDAYS_9_TO_5.add_business_days(datetime(2026, 6, 5, 15), 1)


def test_a_calendar_with_no_further_open_day_is_an_error():
    once = calendar({"mon": ["09:00-17:00"]}, holidays={"closed": [
        (date(2026, 6, 15) + timedelta(weeks=n)).isoformat() for n in range(600)]})
    with pytest.raises(ValueError, match="no open day"):
        once.add_business_days(london(2026, 6, 8, 10), 1)


# Laws, with hypothesis ----------------------------------------------------------------------------

DST_ZONES = ("Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago")
FIXED_ZONES = ("UTC", "Asia/Kolkata")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def calendar_specs(draw: st.DrawFn, zones: tuple[str, ...]) -> CalendarSpec:
    """A random weekly timetable in one of `zones`, sometimes with public and extra holidays."""
    hours: dict[str, list[str]] = {}
    for day in DAYS:
        points = sorted(draw(st.lists(st.integers(0, 96), unique=True, max_size=6)))
        spans = [f"{_hhmm(a * 15)}-{_hhmm(b * 15)}" for a, b in zip(points[::2], points[1::2], strict=False)]
        if spans:
            hours[day] = spans
    if not hours:
        hours["wed"] = ["09:00-17:00"]
    entry: dict[str, Any] = {"id": "random", "timezone": draw(st.sampled_from(zones)), "hours": hours}
    country = draw(st.sampled_from([None, "GB", "US"]))
    closed = draw(st.lists(st.dates(date(2024, 1, 1), date(2031, 12, 31)), max_size=20, unique=True))
    if country or closed:
        entry["holidays"] = {"country": country, "closed": closed}
    return CalendarSpec.model_validate(entry)


@cache
def clock_changes(zones: tuple[str, ...]) -> tuple[datetime, ...]:
    """Return the instants in 2024-2030 at which any of the zones changes its UTC offset (to the second)."""
    changes = []
    for zone in map(ZoneInfo, zones):
        hour = datetime(2024, 1, 1, tzinfo=UTC)
        while hour.year < 2031:
            after = hour + timedelta(hours=1)
            if hour.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
                low, high = hour, after
                while high - low > timedelta(seconds=1):
                    middle = low + (high - low) / 2
                    if middle.astimezone(zone).utcoffset() == after.astimezone(zone).utcoffset():
                        high = middle
                    else:
                        low = middle
                changes.append(high)
            hour = after
    return tuple(sorted(changes))


instants = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    # Near a daylight-saving change, where wall time and instants disagree.
    st.builds(lambda change, offset: change + timedelta(seconds=offset),
              st.sampled_from(clock_changes(DST_ZONES)), st.integers(-30 * 3600, 30 * 3600)),
)
day_counts = st.integers(0, 30)
calendars = st.one_of(
    st.just(WEEKDAYS_9_TO_5),
    st.just(calendar({day: ["00:00-24:00"] for day in DAYS}, timezone="America/New_York")),
    calendar_specs(DST_ZONES + FIXED_ZONES).map(BusinessCalendar.from_spec),
)


@LAWS
@given(calendars, instants, day_counts, day_counts)
def test_more_days_never_come_sooner(cal: BusinessCalendar, start: datetime, d1: int, d2: int):
    fewer, more = sorted((d1, d2))
    assert start <= cal.add_business_days(start, fewer) <= cal.add_business_days(start, more)
    if fewer < more:
        assert cal.add_business_days(start, fewer) < cal.add_business_days(start, more)


@LAWS
@given(calendars, instants, st.one_of(st.integers(0, 7200), st.integers(0, 36 * 3600)), day_counts)
def test_a_later_start_never_ends_sooner(cal: BusinessCalendar, start: datetime, later_by: int, days: int):
    later = start + timedelta(seconds=later_by)
    assert cal.add_business_days(start, days) <= cal.add_business_days(later, days)


@LAWS
@given(st.sampled_from(DST_ZONES), st.data(), st.integers(0, 7200), st.integers(1, 3))
def test_a_later_start_never_ends_sooner_across_clock_changes(zone_name: str, data: st.DataObject,
                                                                later_by: int, days: int):
    # Starts within two hours of the zone's own clock changes: inside the repeated hour and around it.
    change = data.draw(st.sampled_from(clock_changes((zone_name,))))
    start = change + timedelta(seconds=data.draw(st.integers(-2 * 3600, 2 * 3600)))
    every_day = calendar({day: ["00:00-24:00"] for day in DAYS}, timezone=zone_name)
    later = start + timedelta(seconds=later_by)
    assert every_day.add_business_days(start, days) <= every_day.add_business_days(later, days)


@LAWS
@given(calendars, instants, day_counts)
def test_the_result_is_open_or_exactly_at_a_closing(cal: BusinessCalendar, start: datetime, days: int):
    result = cal.add_business_days(start, days)
    assert cal.is_open(result) or cal.is_open(result - ONE_MICROSECOND)


def _exists_once(wall: datetime) -> bool:
    """Whether a local wall time names exactly one instant (not in a gap, not repeated)."""
    assert wall.tzinfo is not None
    round_trip = wall.astimezone(UTC).astimezone(wall.tzinfo)
    unrepeated = wall.replace(fold=1 - wall.fold).utcoffset() == wall.utcoffset()
    return unrepeated and round_trip.replace(tzinfo=None) == wall.replace(tzinfo=None)


@LAWS
@given(st.sampled_from(DST_ZONES), instants, st.integers(1, 30))
def test_a_calendar_open_all_day_keeps_the_wall_clock_time(zone_name: str, start: datetime, days: int):
    zone = ZoneInfo(zone_name)
    local = start.astimezone(zone)
    expected = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=zone)
    assume(_exists_once(local) and _exists_once(expected))
    every_day = calendar({day: ["00:00-24:00"] for day in DAYS}, timezone=zone_name)
    assert every_day.add_business_days(start, days) == expected


def _open_on(spec: CalendarSpec, day: date) -> list[tuple[time | None, time | None]]:
    """The slow reading: the weekday's spans, none on a holiday; an end of None means midnight."""
    assert spec.hours is not None
    rules = spec.holidays
    if rules is not None:
        if day in rules.closed:
            return []
        if rules.country and day in holiday_tables.country_holidays(rules.country, years=day.year):
            return []
    spans = spec.hours.spans()[day.weekday()]
    return [(time(a // 60, a % 60), None if b == 1440 else time(b // 60, b % 60)) for a, b in spans]


def _expected(spec: CalendarSpec, start: datetime, days: int) -> datetime:
    zone = ZoneInfo(spec.timezone or "UTC")
    counting_start = BusinessCalendar.from_spec(spec).next_open(start).astimezone(zone)
    day, wall = counting_start.date(), counting_start.time()
    for _ in range(days):
        day += timedelta(days=1)
        while not _open_on(spec, day):
            day += timedelta(days=1)

    def at(moment: time | None) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone) if moment is None else (
            datetime.combine(day, moment, tzinfo=zone))

    landing = datetime.combine(day, wall, tzinfo=zone)
    for opens, closes in _open_on(spec, day):
        if landing < at(opens):
            return at(opens)
        if landing < at(closes):
            return landing
    return at(_open_on(spec, day)[-1][1])


@LAWS
@given(calendar_specs(FIXED_ZONES), instants, day_counts)
def test_agrees_with_a_slow_reading_of_the_rule(spec: CalendarSpec, start: datetime, days: int):
    assert BusinessCalendar.from_spec(spec).add_business_days(start, days) == _expected(spec, start, days)
