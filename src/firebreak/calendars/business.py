"""Business-time arithmetic: which instants are open, and how much open time lies between two instants.

A calendar's open time is a set of half-open UTC intervals [opens, closes). They are built lazily one
local year at a time, with a running total of open time, so `add` and `between` are a couple of
binary searches plus one step per year crossed, never a walk over seconds or days.

Opening hours are wall-clock times in the calendar's zone. Around daylight-saving changes:

* A wall time that does not exist (inside a spring-forward gap) is taken as the instant the clocks
  jump, so an interval lying wholly inside the gap is empty and "00:00-24:00" on a spring-forward day
  in America/New_York is 23 real hours.
* A wall time that occurs twice (inside a fall-back overlap) opens at its first occurrence (fold=0)
  and closes at its second (fold=1): an interval is never shortened by the repeated hour, so
  "00:00-24:00" on a fall-back day is 25 real hours.

Holidays close whole local days. Instants are integer microseconds since the epoch internally, so
`between(a, add(a, s)) == s` holds to the microsecond.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_tables

from firebreak.calendars.schema import CalendarSpec, Span

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
MICROSECONDS = 1_000_000
# A calendar with no open time for this many consecutive years is treated as never open.
SEARCH_YEARS = 10


def _to_us(at: datetime, what: str) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {at.isoformat()}")
    return (at - EPOCH) // ONE_MICROSECOND


def _from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _duration_us(seconds: float) -> int:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"business seconds must be finite and not negative, got {seconds!r}")
    return round(seconds * MICROSECONDS)


@lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holiday_tables.country_holidays(country, subdiv=subdivision, years=year))


@dataclass(frozen=True, slots=True)
class _Year:
    """The open intervals of one local year, clipped to [start, end), with open time before each."""

    year: int
    start: int
    end: int
    opens: list[int]
    closes: list[int]
    before: list[int]  # open time in this year before opens[i]
    through: list[int]  # open time in this year up to closes[i]
    total: int

    def index(self, us: int) -> int:
        """Return the index of the last interval opening at or before `us` (-1 if none)."""
        return bisect_right(self.opens, us) - 1

    def open_before(self, us: int) -> int:
        """Return the open time in this year before `us`."""
        i = bisect_right(self.opens, us) - 1
        if i < 0:
            return 0
        return self.before[i] + min(us, self.closes[i]) - self.opens[i]

    def instant_after(self, open_time: int) -> int:
        """Return the first instant by which `open_time` (0 < open_time <= total) of this year has passed."""
        i = bisect_left(self.through, open_time)
        return self.opens[i] + open_time - self.before[i]


class BusinessCalendar:
    """Compiled opening hours; every method takes and returns timezone-aware datetimes (returns UTC)."""

    def __init__(
        self,
        *,
        id: str,
        zone: ZoneInfo | None,
        weekly: Sequence[Sequence[Span]] = (),
        closed: frozenset[date] = frozenset(),
        opened: frozenset[date] = frozenset(),
        country: str | None = None,
        subdivision: str | None = None,
    ) -> None:
        """Compile a calendar; `zone=None` means always open (the other arguments are then ignored)."""
        self.id = id
        self.zone = zone
        self._weekly = tuple(tuple(day) for day in weekly)
        self._closed = closed
        self._opened = opened
        self._country = country
        self._subdivision = subdivision
        self._years: dict[int, _Year] = {}

    @classmethod
    def from_spec(cls, spec: CalendarSpec) -> BusinessCalendar:
        """Compile a validated playbook calendar."""
        if spec.always_open:
            return cls(id=spec.id, zone=None)
        assert spec.hours is not None and spec.timezone is not None  # guaranteed by CalendarSpec
        rules = spec.holidays
        return cls(
            id=spec.id,
            zone=ZoneInfo(spec.timezone),
            weekly=spec.hours.spans(),
            closed=frozenset(rules.closed) if rules else frozenset(),
            opened=frozenset(rules.open) if rules else frozenset(),
            country=rules.country if rules else None,
            subdivision=rules.subdivision if rules else None,
        )

    @classmethod
    def always(cls, id: str = "always") -> BusinessCalendar:
        """Return a 24x7 calendar, where business time is plain elapsed time."""
        return cls(id=id, zone=None)

    @property
    def always_open(self) -> bool:
        """Whether this is the 24x7 calendar, where business time is elapsed time."""
        return self.zone is None

    def __repr__(self) -> str:
        where = "24x7" if self.zone is None else self.zone.key
        return f"BusinessCalendar({self.id!r}, {where})"

    # Public arithmetic -------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Return whether `at` falls inside opening hours."""
        us = _to_us(at, "at")
        if self.zone is None:
            return True
        year = self._year_of(us, at.year)
        i = year.index(us)
        return i >= 0 and us < year.closes[i]

    def add(self, start: datetime, seconds: float) -> datetime:
        """Return when `seconds` of business time have elapsed after `start` (counting from the next opening)."""
        us = _to_us(start, "start")
        need = _duration_us(seconds)
        if self.zone is None:
            return _from_us(us + need)
        if need == 0:
            return _from_us(self._next_open_us(us, start.year))
        year = self._year_of(us, start.year)
        target = year.open_before(us) + need
        empty_years = 0
        while target > year.total:
            # Skip the rest of this year in one step: its running total says how much open time it held.
            target -= year.total
            year = self._year(year.year + 1)
            empty_years = empty_years + 1 if year.total == 0 else 0
            if empty_years >= SEARCH_YEARS:
                raise ValueError(f"calendar {self.id!r} has no open time for {SEARCH_YEARS} years after {start}")
        return _from_us(year.instant_after(target))

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Return the moment `days` open days after `start`, at the same local wall-clock position.

        Goals such as "within 2 business days" mean "by this time of day, two working days on", not
        "after 2 x 12 hours of open time", so this counts local dates rather than open seconds:

        1. Counting starts from `start`, or from the next opening when `start` is outside opening hours
           (as `add` does); that moment gives the first date and the wall-clock time of day.
        2. Step over the following local dates, counting only those with some open time (closed
           weekdays and holidays are skipped), to the `days`-th.
        3. Land on the same wall-clock time that day. A time before an opening that day (before the
           first, or in a break) moves forward to that opening; a time after all its intervals moves
           back to its last closing, so the answer is open or exactly at a closing, and never on a
           later date.

        The wall-clock time survives a daylight-saving change in between. A start in the second pass
        of a repeated (fall-back) hour counts as the wall time at which the repeat ends, so that later
        starts never give earlier answers. On the 24x7 calendar a business day is 24 hours. `days=0`
        returns the counting start.
        """
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError(f"business days must be a whole number, got {days!r}")
        if days < 0:
            raise ValueError(f"business days must not be negative, got {days}")
        us = _to_us(start, "start")
        if self.zone is None:
            return _from_us(us) + timedelta(days=days)
        us = self._next_open_us(us, start.year)
        if days == 0:
            return _from_us(us)
        first_day, time_of_day = self._wall_position(us)
        day = first_day
        counted = 0
        limit = first_day + timedelta(days=366 * SEARCH_YEARS)
        while counted < days:
            day += timedelta(days=1)
            if day > limit:
                raise ValueError(f"calendar {self.id!r} has no open day for {SEARCH_YEARS} years after {first_day}")
            if self._day_intervals(day):
                counted += 1
        return _from_us(self._land(day, time_of_day))

    def between(self, a: datetime, b: datetime) -> float:
        """Return the business seconds in [a, b); 0 when b is not after a."""
        a_us, b_us = _to_us(a, "a"), _to_us(b, "b")
        if b_us <= a_us:
            return 0.0
        if self.zone is None:
            return (b_us - a_us) / MICROSECONDS
        first = self._year_of(a_us, a.year)
        last = self._year_of(b_us, b.year) if b_us >= first.end else first
        if first is last:
            return (first.open_before(b_us) - first.open_before(a_us)) / MICROSECONDS
        total = first.total - first.open_before(a_us) + last.open_before(b_us)
        for year in range(first.year + 1, last.year):
            total += self._year(year).total
        return total / MICROSECONDS

    def next_open(self, at: datetime) -> datetime:
        """Return `at` if open, else the next moment the calendar opens."""
        us = _to_us(at, "at")
        if self.zone is None:
            return at.astimezone(UTC)
        return _from_us(self._next_open_us(us, at.year))

    def next_close(self, at: datetime) -> datetime | None:
        """Return `at` if closed, else the moment the calendar next closes (None: open for 10+ years on end)."""
        us = _to_us(at, "at")
        if self.zone is None:
            return None
        year = self._year_of(us, at.year)
        i = year.index(us)
        if i < 0 or us >= year.closes[i]:
            return at.astimezone(UTC)
        closes = year.closes[i]
        # An interval ending exactly at the year boundary may carry on into the next year.
        for _ in range(SEARCH_YEARS + 1):
            if closes != year.end:
                return _from_us(closes)
            year = self._year(year.year + 1)
            if not year.opens or year.opens[0] != closes:
                return _from_us(closes)
            closes = year.closes[0]
        return None

    # Internals --------------------------------------------------------------------------------

    def _wall_position(self, us: int) -> tuple[date, timedelta]:
        """Return the local date of `us` and its wall-clock time after that date's midnight.

        In the second pass of a repeated hour the time is where the repeat ends (possibly 24:00), so
        the position never goes backwards as `us` moves forwards.
        """
        assert self.zone is not None
        local = _from_us(us).astimezone(self.zone)
        day = local.date()
        midnight = datetime.combine(day, time())
        earlier_offset = local.replace(fold=0).utcoffset()
        offset = local.utcoffset()
        assert earlier_offset is not None and offset is not None
        if local.fold == 1 and earlier_offset > offset:
            repeat = (earlier_offset - offset) // ONE_MICROSECOND
            repeat_ends = self._transition(us - repeat, us) + repeat
            wall = _from_us(repeat_ends).astimezone(self.zone).replace(tzinfo=None)
            return day, wall - midnight
        return day, local.replace(tzinfo=None) - midnight

    def _day_intervals(self, day: date) -> list[tuple[int, int]]:
        """Return the open intervals of one local date, clipped to its start and end."""
        year = self._year(day.year)
        day_starts = self._wall_to_us(datetime.combine(day, time()), earliest=True)
        day_ends = self._wall_to_us(datetime.combine(day + timedelta(days=1), time()), earliest=True)
        intervals = []
        i = bisect_right(year.closes, day_starts)
        while i < len(year.opens) and year.opens[i] < day_ends:
            intervals.append((max(year.opens[i], day_starts), min(year.closes[i], day_ends)))
            i += 1
        return intervals

    def _land(self, day: date, time_of_day: timedelta) -> int:
        """Return the wall time `time_of_day` on `day` (an open date), moved into that day's open hours."""
        wall = self._wall_to_us(datetime.combine(day, time()) + time_of_day, earliest=True)
        intervals = self._day_intervals(day)
        for opens, closes in intervals:
            if wall < opens:
                return opens
            if wall < closes:
                return wall
        # After all of the day's hours: its last closing. (A day whose hours run on past midnight
        # ends its last interval at the next midnight, which a time of day reaches only as 24:00.)
        return intervals[-1][1]

    def _next_open_us(self, us: int, year_hint: int) -> int:
        year = self._year_of(us, year_hint)
        i = year.index(us)
        if i >= 0 and us < year.closes[i]:
            return us
        if i + 1 < len(year.opens):
            return year.opens[i + 1]
        for _ in range(SEARCH_YEARS):
            year = self._year(year.year + 1)
            if year.opens:
                return year.opens[0]
        raise ValueError(f"calendar {self.id!r} does not open within {SEARCH_YEARS} years after {_from_us(us)}")

    def _year_of(self, us: int, hint: int) -> _Year:
        """Return the local year containing `us`; `hint` is a year within one of it."""
        year = self._year(hint)
        while us < year.start:
            year = self._year(year.year - 1)
        while us >= year.end:
            year = self._year(year.year + 1)
        return year

    def _year(self, number: int) -> _Year:
        year = self._years.get(number)
        if year is None:
            year = self._years[number] = self._build_year(number)
        return year

    def _build_year(self, number: int) -> _Year:
        start = self._wall_to_us(datetime(number, 1, 1), earliest=True)
        end = self._wall_to_us(datetime(number + 1, 1, 1), earliest=True)
        closed = self._closed_dates(number - 1) | self._closed_dates(number)
        # New Year's Eve of the year before is included and everything is clipped to the year: where
        # clocks go back at midnight, its hours run on into this year (America/Phoenix, 1 Jan 1944).
        pieces: list[tuple[int, int]] = []
        day = date(number - 1, 12, 31)
        last = date(number, 12, 31)
        while day <= last:
            if day not in closed:
                midnight = datetime.combine(day, time())
                for open_minute, close_minute in self._weekly[day.weekday()]:
                    opens = max(start, self._wall_to_us(midnight + timedelta(minutes=open_minute), earliest=True))
                    closes = min(end, self._wall_to_us(midnight + timedelta(minutes=close_minute), earliest=False))
                    if closes > opens:
                        pieces.append((opens, closes))
            day += timedelta(days=1)
        pieces.sort()
        opens_at: list[int] = []
        closes_at: list[int] = []
        for opens, closes in pieces:
            # Touching or overlapping intervals become one, so every `closes` is a real closing.
            if closes_at and opens <= closes_at[-1]:
                closes_at[-1] = max(closes_at[-1], closes)
            else:
                opens_at.append(opens)
                closes_at.append(closes)
        before: list[int] = []
        through: list[int] = []
        total = 0
        for opens, closes in zip(opens_at, closes_at, strict=True):
            before.append(total)
            total += closes - opens
            through.append(total)
        return _Year(number, start, end, opens_at, closes_at, before, through, total)

    def _closed_dates(self, year: int) -> frozenset[date]:
        closed = {day for day in self._closed if day.year == year}
        if self._country is not None:
            closed |= _public_holidays(self._country, self._subdivision, year) - self._opened
        return frozenset(closed)

    def _wall_to_us(self, wall: datetime, *, earliest: bool) -> int:
        """Return the instant a local wall time names, by the DST rule in the module docstring."""
        first = (wall.replace(tzinfo=self.zone, fold=0) - EPOCH) // ONE_MICROSECOND
        second = (wall.replace(tzinfo=self.zone, fold=1) - EPOCH) // ONE_MICROSECOND
        if first == second:
            return first
        if first < second:  # the wall time occurs twice
            return first if earliest else second
        return self._transition(second, first)

    def _transition(self, before: int, after: int) -> int:
        """Return the instant in (before, after] at which the zone's UTC offset changes."""
        assert self.zone is not None
        offset_after = _from_us(after).astimezone(self.zone).utcoffset()
        low, high = before // MICROSECONDS, -(-after // MICROSECONDS)
        # Offsets change on whole seconds: bisect for the first second with the later offset.
        while high - low > 1:
            middle = (low + high) // 2
            if _from_us(middle * MICROSECONDS).astimezone(self.zone).utcoffset() == offset_after:
                high = middle
            else:
                low = middle
        return high * MICROSECONDS
