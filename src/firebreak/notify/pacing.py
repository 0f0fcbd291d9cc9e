"""When to try again: retry backoff and the per-target rate-limit window (pure arithmetic)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)


def retry_delay(attempts: int, *, base: timedelta = RETRY_BASE, cap: timedelta = RETRY_CAP) -> timedelta:
    """Return the wait after the `attempts`-th failed try: base, 2×base, 4×base… never more than `cap`."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    # Past 2**20 the cap has long been reached; stopping there keeps the float arithmetic finite.
    return min(base * 2 ** min(attempts - 1, 20), cap)


def rate_limit_frees_at(
    sent_at: Iterable[datetime], *, count: int, per: timedelta, now: datetime
) -> datetime | None:
    """Return None when one more message may go out at `now`, else the first moment one may.

    `sent_at` are the times of earlier messages to the target; a message counts against the limit
    while less than `per` has passed since it was sent.
    """
    recent = sorted(t for t in sent_at if t > now - per)
    if len(recent) < count:
        return None
    # Once the (len - count + 1) oldest have aged out, fewer than `count` remain in the window.
    return recent[len(recent) - count] + per
