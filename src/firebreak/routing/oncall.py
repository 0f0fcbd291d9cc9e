"""Who is on call at a given instant, and when the next handover is.

The rule: handover k happens at the local wall-clock time `handover + k × shift` in the rotation's
time zone, and person k mod n of the rotation is on call from handover k until handover k + 1. Shifts
are counted in wall-clock time, so a weekly rotation always hands over on Monday at 09:00 local time;
the shift that spans a daylight-saving change is an hour shorter or longer in real time.

Two wall-clock times need a reading: one the clocks skip (01:30 when they jump from 01:00 to 02:00)
happens as soon as they have jumped, shifted forward by the jump (at 02:30 new time); one that occurs
twice (when the clocks go back) happens the first time. The rotation also runs backwards from its
first handover, so every instant has someone on call.
"""

from __future__ import annotations

from datetime import UTC, datetime

from firebreak.routing.schema import OnCallSpec


def on_call_at(spec: OnCallSpec, at: datetime) -> str:
    """Return the e-mail of the person on call at the timezone-aware instant `at`."""
    return spec.rotation[_shift_number(spec, at) % len(spec.rotation)]


def next_handover(spec: OnCallSpec, at: datetime) -> datetime:
    """Return the first handover strictly after `at`, in UTC."""
    return _handover(spec, _shift_number(spec, at) + 1)


def _handover(spec: OnCallSpec, number: int) -> datetime:
    # fold=0 (the default) gives both readings described in the module docstring.
    local = spec.handover + number * spec.shift_delta
    return local.replace(tzinfo=spec.zone).astimezone(UTC)


def _shift_number(spec: OnCallSpec, at: datetime) -> int:
    """Return k such that handover k <= at < handover k + 1."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware instant")
    wall = at.astimezone(spec.zone).replace(tzinfo=None)
    number = (wall - spec.handover) // spec.shift_delta
    # The wall-clock estimate can be one shift off next to a daylight-saving change; settle it on
    # real instants. Shifts last an hour or more and clocks jump by an hour at most (bar a few polar
    # stations), so handovers stay in order and each loop runs at most once.
    while _handover(spec, number) > at:
        number -= 1
    while _handover(spec, number + 1) <= at:
        number += 1
    return number
