"""When to try again: retry backoff and the per-target rate-limit window (pure arithmetic)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from firebreak.core.backoff import RETRY_BASE, RETRY_CAP, retry_delay

__all__ = ["RETRY_BASE", "RETRY_CAP", "rate_limit_frees_at", "retry_delay"]

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
