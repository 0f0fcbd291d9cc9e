"""Exponential backoff for anything sent to the outside world that can fail and be tried again."""

from __future__ import annotations

from datetime import timedelta

RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)


def retry_delay(attempts: int, *, base: timedelta = RETRY_BASE, cap: timedelta = RETRY_CAP) -> timedelta:
    """Return the wait after the `attempts`-th failed try: base, 2×base, 4×base… never more than `cap`."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    # Past 2**20 the cap has long been reached; stopping there keeps the arithmetic finite.
    return min(base * 2 ** min(attempts - 1, 20), cap)
