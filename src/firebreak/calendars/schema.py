"""The `calendars:` section of the playbook: named weekly opening hours, a time zone and holidays.

    calendars:
      - id: support_hours
        label: Public hours of operation
        timezone: Europe/London          # IANA name; the hours below are wall-clock times there
        hours:                           # mon..sun, each a list of "HH:MM-HH:MM"; missing days are closed
          mon: ["08:00-20:00"]
          tue: ["08:00-12:00", "13:00-20:00"]
          sat: ["10:00-16:00"]           # "00:00-24:00" is the whole day
        holidays:
          country: GB                    # public holidays from the `holidays` package
          subdivision: ENG
          closed: [2026-12-24]           # extra closed dates
          open: [2026-12-28]             # public holidays that are business days all the same
      - id: always
        always_open: true                # 24x7; no hours, no holidays

Ids are unique within a playbook; the playbook's list checks that with `validate_calendar_ids`, which
works as a pydantic `AfterValidator` on `list[CalendarSpec]` so the check travels with the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_tables
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CalendarId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
MINUTES_PER_DAY = 24 * 60

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

# Minutes after local midnight, start inclusive and end exclusive; 1440 is "24:00".
Span = tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_interval(day: str, text: str) -> Span:
    """Return "HH:MM-HH:MM" as minutes after midnight; errors name the day and the interval."""
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(f"{day}: {text!r} is not an interval like 08:00-20:00")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_m > 59 or end_m > 59:
        raise ValueError(f"{day}: {text!r} has minutes past 59")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start > MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise ValueError(f"{day}: {text.strip()} is outside 00:00-24:00")
    if end <= start:
        raise ValueError(
            f"{day}: {_clock(start)}-{_clock(end)} must end after it starts "
            "(split a span over midnight into ...-24:00 and 00:00-... on the next day)"
        )
    return start, end


class WeeklyHours(_Strict):
    """Opening hours for each day of the week, in the calendar's local wall-clock time."""

    mon: tuple[str, ...] = ()
    tue: tuple[str, ...] = ()
    wed: tuple[str, ...] = ()
    thu: tuple[str, ...] = ()
    fri: tuple[str, ...] = ()
    sat: tuple[str, ...] = ()
    sun: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _known_days(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [str(key) for key in data if key not in DAYS]
            if unknown:
                raise ValueError(f"unknown day {', '.join(map(repr, unknown))}; days are {', '.join(DAYS)}")
            # A bare `sun:` in YAML means the day is closed, as an empty list would.
            return {day: () if value is None else value for day, value in data.items()}
        return data

    @field_validator(*DAYS)
    @classmethod
    def _intervals_are_sound(cls, intervals: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        day = str(info.field_name)
        spans = sorted(parse_interval(day, text) for text in intervals)
        for earlier, later in zip(spans, spans[1:], strict=False):
            if later[0] < earlier[1]:
                raise ValueError(
                    f"{day}: {_clock(earlier[0])}-{_clock(earlier[1])} overlaps {_clock(later[0])}-{_clock(later[1])}"
                )
        return intervals

    def spans(self) -> tuple[tuple[Span, ...], ...]:
        """Return the sorted spans of each day, Monday first (the index is `date.weekday()`)."""
        return tuple(tuple(sorted(parse_interval(day, text) for text in getattr(self, day))) for day in DAYS)


class HolidayRules(_Strict):
    """Whole local days on which the calendar is closed (or open despite a public holiday)."""

    country: str | None = None
    subdivision: str | None = None
    closed: tuple[date, ...] = ()
    # A business day with the weekday's usual hours even though it is a public holiday.
    open: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _country_is_known(self) -> HolidayRules:
        if self.subdivision is not None and self.country is None:
            raise ValueError(f"holidays.subdivision {self.subdivision!r} needs holidays.country")
        if self.country is not None:
            try:
                holiday_tables.country_holidays(self.country)
            except NotImplementedError:
                raise ValueError(
                    f"unknown holiday country {self.country!r}; use an ISO 3166-1 alpha-2 code such as GB, US or DE"
                ) from None
            if self.subdivision is not None:
                try:
                    holiday_tables.country_holidays(self.country, subdiv=self.subdivision)
                except NotImplementedError:
                    known = holiday_tables.list_supported_countries().get(self.country, [])
                    raise ValueError(
                        f"unknown subdivision {self.subdivision!r} of {self.country}; "
                        f"known: {', '.join(known) or 'none'}"
                    ) from None
        both = sorted(set(self.closed) & set(self.open))
        if both:
            raise ValueError(f"holidays: {', '.join(map(str, both))} listed as both closed and open")
        return self


class CalendarSpec(_Strict):
    """One business calendar of the playbook; compile it with `BusinessCalendar.from_spec`."""

    id: CalendarId
    label: str = Field("", max_length=80)
    # Required with hours: opening hours without a zone would silently mean UTC.
    timezone: str | None = None
    always_open: bool = False
    hours: WeeklyHours | None = None
    holidays: HolidayRules | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/London") from None
        return name

    @model_validator(mode="after")
    def _hours_or_always_open(self) -> CalendarSpec:
        if self.always_open:
            if self.hours is not None:
                raise ValueError(f"calendar {self.id!r}: always_open cannot be combined with hours")
            if self.holidays is not None:
                raise ValueError(f"calendar {self.id!r}: always_open cannot be combined with holidays")
            return self
        if self.hours is None or not any(self.hours.spans()):
            raise ValueError(
                f'calendar {self.id!r} has no opening hours; give hours (e.g. mon: ["09:00-17:00"]) '
                "or always_open: true"
            )
        if self.timezone is None:
            raise ValueError(f"calendar {self.id!r} needs a timezone (an IANA name such as Europe/London)")
        return self


def validate_calendar_ids(specs: Sequence[CalendarSpec]) -> list[CalendarSpec]:
    """Return the specs unchanged, refusing repeated ids (usable as a pydantic AfterValidator)."""
    ids = [spec.id for spec in specs]
    repeated = sorted({calendar_id for calendar_id in ids if ids.count(calendar_id) > 1})
    if repeated:
        raise ValueError(f"calendar ids must be unique; repeated: {', '.join(repeated)}")
    return list(specs)
