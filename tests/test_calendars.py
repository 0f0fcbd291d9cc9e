"""Business calendars by example: opening hours, holidays, daylight saving, and the errors a playbook author sees."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from firebreak.calendars import BusinessCalendar, CalendarSpec, validate_calendar_ids

HOUR = 3600.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def calendar(hours: dict[str, list[str]], timezone: str = "Europe/London", **extra: Any) -> BusinessCalendar:
    spec = CalendarSpec.model_validate({"id": "test", "timezone": timezone, "hours": hours, **extra})
    return BusinessCalendar.from_spec(spec)


def office(**extra: Any) -> BusinessCalendar:
    """Monday to Friday, 08:00-20:00 in London."""
    return calendar({day: ["08:00-20:00"] for day in WEEKDAYS}, **extra)


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)  # type: ignore[misc]


def new_york(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)  # type: ignore[misc]


def whole_day(day: str, timezone: str) -> BusinessCalendar:
    return calendar({day: ["00:00-24:00"]}, timezone)


# Adding business time --------------------------------------------------------------------------------


def test_friday_evening_plus_one_business_hour_is_monday_morning():
    assert office().add(london(2026, 3, 6, 19, 30), HOUR) == london(2026, 3, 9, 8, 30)


def test_the_same_in_summer_time_where_london_is_utc_plus_one():
    due = office().add(london(2026, 7, 3, 19, 30), HOUR)
    assert due == london(2026, 7, 6, 8, 30)
    assert due == datetime(2026, 7, 6, 7, 30, tzinfo=UTC)


def test_results_are_utc_whatever_zone_the_input_carries():
    due = office().add(london(2026, 7, 1, 10, 0), HOUR)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_counting_starts_at_the_next_opening_when_closed():
    assert office().add(london(2026, 3, 7, 12, 0), 30 * 60) == london(2026, 3, 9, 8, 30)
    assert office().add(london(2026, 3, 9, 6, 0), 30 * 60) == london(2026, 3, 9, 8, 30)


def test_adding_nothing_returns_the_start_if_open_else_the_next_opening():
    cal = office()
    assert cal.add(london(2026, 3, 9, 9, 15), 0) == london(2026, 3, 9, 9, 15)
    assert cal.add(london(2026, 3, 6, 20, 0), 0) == london(2026, 3, 9, 8, 0)


def test_time_that_exactly_fills_the_day_ends_at_closing_not_at_the_next_opening():
    assert office().add(london(2026, 3, 6, 8, 0), 12 * HOUR) == london(2026, 3, 6, 20, 0)


def test_a_lunch_break_is_skipped():
    cal = calendar({"tue": ["08:00-12:00", "13:00-20:00"]})
    assert cal.add(london(2026, 3, 3, 11, 30), HOUR) == london(2026, 3, 3, 13, 30)
    assert cal.between(london(2026, 3, 3, 8, 0), london(2026, 3, 3, 20, 0)) == 11 * HOUR


def test_many_weeks_of_business_time():
    cal = office()
    start = london(2026, 1, 5, 8, 0)
    # 100 weeks of 60 business hours, crossing two new years and their bank holidays (none here: no country).
    due = cal.add(start, 100 * 60 * HOUR)
    assert due == london(2027, 12, 3, 20, 0)
    assert cal.between(start, due) == 100 * 60 * HOUR


def test_between_counts_only_open_time():
    cal = office()
    assert cal.between(london(2026, 3, 6, 19, 0), london(2026, 3, 9, 9, 0)) == 2 * HOUR
    assert cal.between(london(2026, 3, 9, 9, 0), london(2026, 3, 6, 19, 0)) == 0.0
    assert cal.between(london(2026, 3, 7, 9, 0), london(2026, 3, 8, 9, 0)) == 0.0


def test_between_spans_years():
    cal = office()
    # Full weeks in 2026 from Mon 5 Jan to Fri 1 Jan 2027: 52 weeks of 5 days of 12 hours.
    assert cal.between(london(2026, 1, 5), london(2027, 1, 2)) == 52 * 5 * 12 * HOUR


# Open, next opening, next closing --------------------------------------------------------------------


def test_opening_instant_is_open_and_closing_instant_is_closed():
    cal = office()
    assert cal.is_open(london(2026, 3, 9, 8, 0))
    assert cal.is_open(london(2026, 3, 9, 19, 59, 59))
    assert not cal.is_open(london(2026, 3, 9, 20, 0))
    assert not cal.is_open(london(2026, 3, 9, 7, 59, 59))


def test_next_open_and_next_close():
    cal = office()
    assert cal.next_open(london(2026, 3, 9, 10, 0)) == london(2026, 3, 9, 10, 0)
    assert cal.next_open(london(2026, 3, 6, 21, 0)) == london(2026, 3, 9, 8, 0)
    assert cal.next_close(london(2026, 3, 9, 10, 0)) == london(2026, 3, 9, 20, 0)
    # Closed already: the next closing is now.
    assert cal.next_close(london(2026, 3, 7, 10, 0)) == london(2026, 3, 7, 10, 0)


def test_hours_running_over_midnight_close_only_once():
    cal = calendar({"mon": ["20:00-24:00"], "tue": ["00:00-08:00"]})
    assert cal.next_close(london(2026, 3, 9, 21, 0)) == london(2026, 3, 10, 8, 0)
    assert cal.is_open(london(2026, 3, 10, 0, 0))


def test_next_close_carries_over_the_new_year():
    cal = calendar(
        {day: ["00:00-24:00"] for day in (*WEEKDAYS, "sat", "sun")}, "UTC", holidays={"closed": ["2027-01-02"]}
    )
    assert cal.next_close(datetime(2026, 12, 30, 12, tzinfo=UTC)) == datetime(2027, 1, 2, tzinfo=UTC)


def test_a_calendar_open_around_the_clock_never_closes():
    cal = calendar({day: ["00:00-24:00"] for day in (*WEEKDAYS, "sat", "sun")}, "Asia/Kolkata")
    assert cal.next_close(datetime(2026, 5, 1, tzinfo=UTC)) is None
    assert cal.add(datetime(2026, 5, 1, tzinfo=UTC), 90 * 86400) == datetime(2026, 7, 30, tzinfo=UTC)


# Holidays ------------------------------------------------------------------------------------------


def test_christmas_and_boxing_day_are_skipped():
    cal = office(holidays={"country": "GB", "subdivision": "ENG"})
    # Thu 24 Dec 2026, half an hour before closing; Fri 25 is Christmas, Mon 28 is Boxing Day (observed).
    assert cal.add(london(2026, 12, 24, 19, 30), HOUR) == london(2026, 12, 29, 8, 30)
    assert not cal.is_open(london(2026, 12, 25, 12, 0))


def test_an_open_date_overrides_a_public_holiday():
    cal = office(holidays={"country": "GB", "subdivision": "ENG", "open": [date(2026, 12, 28)]})
    assert cal.add(london(2026, 12, 24, 19, 30), HOUR) == london(2026, 12, 28, 8, 30)


def test_an_open_date_keeps_the_weekdays_hours_so_a_sunday_stays_closed():
    cal = office(holidays={"country": "GB", "open": [date(2026, 12, 27)]})
    assert not cal.is_open(london(2026, 12, 27, 12, 0))


def test_extra_closed_dates():
    cal = office(holidays={"closed": [date(2026, 12, 24)]})
    assert cal.add(london(2026, 12, 23, 19, 30), HOUR) == london(2026, 12, 25, 8, 30)


def test_subdivisions_have_their_own_holidays():
    # 30 November (St Andrew's Day, a Monday in 2026) is a bank holiday in Scotland, not in England.
    scotland = office(holidays={"country": "GB", "subdivision": "SCT"})
    england = office(holidays={"country": "GB", "subdivision": "ENG"})
    assert not scotland.is_open(london(2026, 11, 30, 12, 0))
    assert england.is_open(london(2026, 11, 30, 12, 0))


def test_a_calendar_that_never_opens_within_ten_years_is_an_error():
    mondays = [date(2026, 1, 5) + timedelta(weeks=week) for week in range(52 * 12)]
    cal = calendar({"mon": ["09:00-17:00"]}, holidays={"closed": mondays})
    with pytest.raises(ValueError, match="no open time for 10 years"):
        cal.add(london(2026, 1, 1), HOUR)
    with pytest.raises(ValueError, match="does not open within 10 years"):
        cal.next_open(london(2026, 1, 1))


# Daylight saving -----------------------------------------------------------------------------------


def test_london_spring_forward_sunday_is_23_hours_and_autumn_sunday_25():
    cal = whole_day("sun", "Europe/London")
    assert cal.between(london(2026, 3, 28), london(2026, 3, 30)) == 23 * HOUR
    assert cal.between(london(2026, 10, 24), london(2026, 10, 26)) == 25 * HOUR


def test_office_hours_on_a_dst_weekend_stay_wall_clock():
    cal = office()
    # Clocks go forward on Sunday 29 March 2026; Monday still opens at 08:00 local, now 07:00 UTC.
    due = cal.add(london(2026, 3, 27, 19, 30), HOUR)
    assert due == london(2026, 3, 30, 8, 30) == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    assert cal.between(london(2026, 3, 27, 8), london(2026, 3, 31, 8)) == 24 * HOUR


def test_new_york_spring_forward_day_is_23_hours():
    cal = whole_day("sun", "America/New_York")
    assert cal.between(new_york(2026, 3, 7), new_york(2026, 3, 9)) == 23 * HOUR
    assert cal.between(new_york(2026, 3, 14), new_york(2026, 3, 16)) == 24 * HOUR


def test_new_york_fall_back_day_is_25_hours():
    cal = whole_day("sun", "America/New_York")
    assert cal.between(new_york(2026, 10, 31), new_york(2026, 11, 2)) == 25 * HOUR


def test_hours_inside_the_spring_forward_gap_do_not_exist():
    cal = calendar({"sun": ["02:00-03:00"]}, "America/New_York")
    assert cal.between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 0.0
    assert cal.next_open(new_york(2026, 3, 8)) == new_york(2026, 3, 15, 2, 0)


def test_an_opening_inside_the_gap_opens_when_the_clocks_jump():
    cal = calendar({"sun": ["02:30-05:00"]}, "America/New_York")
    # 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    assert cal.next_open(new_york(2026, 3, 8)) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert cal.between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 2 * HOUR


def test_hours_spanning_the_gap_lose_the_skipped_hour():
    cal = calendar({"sun": ["01:00-04:00"]}, "America/New_York")
    assert cal.between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 2 * HOUR


def test_a_repeated_hour_opens_at_its_first_occurrence_and_closes_at_its_second():
    cal = calendar({"sun": ["01:00-01:30"]}, "America/New_York")
    # 01:00 EDT is 05:00 UTC; the second 01:30, in EST, is 06:30 UTC.
    assert cal.next_open(new_york(2026, 11, 1)) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert cal.next_close(datetime(2026, 11, 1, 5, 0, tzinfo=UTC)) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert cal.between(new_york(2026, 11, 1), new_york(2026, 11, 2)) == 1.5 * HOUR


def test_lord_howe_shifts_by_half_an_hour():
    cal = whole_day("sun", "Australia/Lord_Howe")
    zone = ZoneInfo("Australia/Lord_Howe")
    # Summer time ends on Sunday 5 April 2026 (02:00 back to 01:30) and starts on Sunday 4 October.
    assert cal.between(datetime(2026, 4, 4, tzinfo=zone), datetime(2026, 4, 6, tzinfo=zone)) == 24.5 * HOUR
    assert cal.between(datetime(2026, 10, 3, tzinfo=zone), datetime(2026, 10, 5, tzinfo=zone)) == 23.5 * HOUR


def test_a_zone_that_changes_clocks_at_midnight():
    # Chile starts summer time at 24:00 on Saturday 5 September 2026: Sunday begins at 01:00.
    santiago = ZoneInfo("America/Santiago")
    cal = calendar({"sat": ["20:00-24:00"], "sun": ["00:00-02:00"]}, "America/Santiago")
    saturday_evening = datetime(2026, 9, 5, 20, 0, tzinfo=santiago)
    assert cal.between(saturday_evening, saturday_evening + timedelta(days=1)) == 5 * HOUR
    assert cal.next_close(saturday_evening) == datetime(2026, 9, 6, 2, 0, tzinfo=santiago)


def test_hours_run_on_into_a_new_year_whose_midnight_happens_twice():
    # Arizona left war time at 00:01 on 1 January 1944, so midnight came twice (06:00 and 07:00 UTC);
    # New Year's Eve hours until 24:00 close at the second midnight.
    cal = calendar({"fri": ["20:00-24:00"]}, "America/Phoenix")
    new_years_eve = datetime(1943, 12, 31, 20, 0, tzinfo=ZoneInfo("America/Phoenix"))
    assert new_years_eve == datetime(1944, 1, 1, 2, 0, tzinfo=UTC)
    assert cal.between(new_years_eve, datetime(1944, 1, 1, 12, tzinfo=UTC)) == 5 * HOUR
    assert cal.next_close(new_years_eve) == datetime(1944, 1, 1, 7, 0, tzinfo=UTC)
    assert cal.add(new_years_eve, 4.5 * HOUR) == datetime(1944, 1, 1, 6, 30, tzinfo=UTC)


# Always open ---------------------------------------------------------------------------------------


def test_always_open_is_plain_arithmetic():
    cal = BusinessCalendar.from_spec(CalendarSpec(id="always", always_open=True))
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert cal.add(start, 5 * 86400 + 0.25) == start + timedelta(days=5, microseconds=250_000)
    assert cal.between(start, start + timedelta(hours=30)) == 30 * HOUR
    assert cal.is_open(start)
    assert cal.next_open(start) == start
    assert cal.next_close(start) is None
    assert BusinessCalendar.always().always_open


# Refusals ------------------------------------------------------------------------------------------


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 9, 10, 0)
    for cal in (office(), BusinessCalendar.always()):
        with pytest.raises(ValueError, match="must be timezone-aware"):
            cal.add(naive, HOUR)
        with pytest.raises(ValueError, match="must be timezone-aware"):
            cal.between(datetime(2026, 3, 9, tzinfo=UTC), naive)
        with pytest.raises(ValueError, match="must be timezone-aware"):
            cal.is_open(naive)


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_durations_are_refused(seconds: float):
    with pytest.raises(ValueError, match="finite and not negative"):
        office().add(datetime(2026, 3, 9, tzinfo=UTC), seconds)


# The YAML a playbook author writes ------------------------------------------------------------------

PLAYBOOK_YAML = """
calendars:
  - id: support_hours
    label: Public hours of operation
    timezone: Europe/London
    hours:
      mon: ["08:00-20:00"]
      tue: ["08:00-12:00", "13:00-20:00"]
      sat: ["10:00-16:00"]
      sun:
    holidays:
      country: GB
      subdivision: ENG
      closed: [2026-12-24]
      open: [2026-12-26]
  - id: always
    always_open: true
"""


def test_the_documented_yaml_loads():
    entries = yaml.safe_load(PLAYBOOK_YAML)["calendars"]
    support, always = (CalendarSpec.model_validate(entry) for entry in entries)
    assert support.holidays is not None and support.holidays.closed == (date(2026, 12, 24),)
    assert support.hours is not None and support.hours.sun == ()
    cal = BusinessCalendar.from_spec(support)
    assert cal.add(london(2026, 3, 3, 11, 30), HOUR) == london(2026, 3, 3, 13, 30)
    assert not cal.is_open(london(2026, 3, 4, 12, 0))  # Wednesday: no hours given
    assert BusinessCalendar.from_spec(always).always_open


def invalid(entry: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        CalendarSpec.model_validate({"id": "support", **entry})
    return str(caught.value)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": ["08:00-12:00", "11:00-14:00"]}, "mon: 08:00-12:00 overlaps 11:00-14:00"),
        ({"wed": ["13:00-20:00", "08:00-13:30"]}, "wed: 08:00-13:30 overlaps 13:00-20:00"),
        ({"mon": ["20:00-08:00"]}, "mon: 20:00-08:00 must end after it starts"),
        ({"fri": ["09:00-09:00"]}, "fri: 09:00-09:00 must end after it starts"),
        ({"tue": ["8am-5pm"]}, "tue: '8am-5pm' is not an interval like 08:00-20:00"),
        ({"tue": ["08:00"]}, "tue: '08:00' is not an interval like 08:00-20:00"),
        ({"thu": ["08:60-20:00"]}, "thu: '08:60-20:00' has minutes past 59"),
        ({"sat": ["10:00-25:00"]}, "sat: 10:00-25:00 is outside 00:00-24:00"),
        ({"sun": ["00:00-24:30"]}, "sun: 00:00-24:30 is outside 00:00-24:00"),
        ({"funday": ["08:00-20:00"]}, "unknown day 'funday'; days are mon, tue, wed, thu, fri, sat, sun"),
        ({"Mon": ["08:00-20:00"]}, "unknown day 'Mon'"),
    ],
)
def test_bad_hours_are_named(hours: dict[str, list[str]], message: str):
    assert message in invalid({"timezone": "Europe/London", "hours": hours})


def test_touching_intervals_are_fine():
    cal = calendar({"mon": ["08:00-12:00", "12:00-20:00"]})
    assert cal.next_close(london(2026, 3, 9, 9, 0)) == london(2026, 3, 9, 20, 0)


def test_a_calendar_without_opening_hours_is_refused():
    assert "calendar 'support' has no opening hours" in invalid({"timezone": "Europe/London"})
    assert "has no opening hours" in invalid({"timezone": "Europe/London", "hours": {"mon": [], "sun": None}})


def test_always_open_excludes_hours_and_holidays():
    message = invalid({"always_open": True, "hours": {"mon": ["08:00-20:00"]}})
    assert "calendar 'support': always_open cannot be combined with hours" in message
    message = invalid({"always_open": True, "holidays": {"country": "GB"}})
    assert "always_open cannot be combined with holidays" in message


def test_the_time_zone_must_exist_and_be_given():
    hours = {"mon": ["08:00-20:00"]}
    assert "unknown time zone 'Europe/Londn'" in invalid({"timezone": "Europe/Londn", "hours": hours})
    assert "unknown time zone '../etc/passwd'" in invalid({"timezone": "../etc/passwd", "hours": hours})
    assert "calendar 'support' needs a timezone" in invalid({"hours": hours})


@pytest.mark.parametrize(
    ("holidays", "message"),
    [
        ({"country": "ZZ"}, "unknown holiday country 'ZZ'"),
        ({"country": "GB", "subdivision": "XX"}, "unknown subdivision 'XX' of GB; known: ENG, NIR, SCT, WLS"),
        ({"subdivision": "ENG"}, "holidays.subdivision 'ENG' needs holidays.country"),
        ({"closed": ["2026-12-24"], "open": ["2026-12-24"]}, "2026-12-24 listed as both closed and open"),
        ({"closed": ["24/12/2026"]}, "closed.0"),
        ({"country": "GB", "region": "ENG"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_holidays_are_named(holidays: dict[str, Any], message: str):
    assert message in invalid({"timezone": "Europe/London", "hours": {"mon": ["08:00-20:00"]}, "holidays": holidays})


def test_ids_and_unknown_keys():
    assert "String should match pattern" in invalid({"id": "Support Hours", "always_open": True})
    assert "Extra inputs are not permitted" in invalid({"always_open": True, "open": True})


def test_calendar_ids_are_unique_in_a_list():
    class Playbookish(BaseModel):
        calendars: Annotated[list[CalendarSpec], AfterValidator(validate_calendar_ids)] = []

    entries = [{"id": "support", "always_open": True}, {"id": "support", "always_open": True}]
    with pytest.raises(ValidationError, match="calendar ids must be unique; repeated: support"):
        Playbookish.model_validate({"calendars": entries})
    assert len(Playbookish.model_validate({"calendars": entries[:1]}).calendars) == 1
