"""Choose who gets new work in a queue: round robin, least loaded, or nobody (manual).

round_robin gives work to the available person assigned longest ago (people never assigned first),
least_loaded to the one with the fewest open items (ties: longest ago, then lowest user id). People
marked unavailable never get work. `choose` picks once; `Assigner` hands out a whole batch, counting
each pick as it goes so that 100 items are shared out rather than all given to whoever was first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from firebreak.routing.schema import ASSIGNMENT_STRATEGIES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NEVER = -(1 << 62)  # earlier than any real moment

_Key = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member of the queue's team as assignment sees them."""

    user_id: int
    available: bool
    open_items: int
    last_assigned_at: datetime | None

    def __post_init__(self) -> None:
        if self.last_assigned_at is not None and self.last_assigned_at.utcoffset() is None:
            raise ValueError(f"last_assigned_at of user {self.user_id} has no time zone; pass an aware instant")


def _stamp(moment: datetime | None) -> int:
    return _NEVER if moment is None else (moment - _EPOCH) // _MICROSECOND


def _round_robin_key(candidate: Candidate) -> _Key:
    return _stamp(candidate.last_assigned_at), candidate.user_id


def _least_loaded_key(candidate: Candidate) -> _Key:
    return candidate.open_items, _stamp(candidate.last_assigned_at), candidate.user_id


_KEYS: dict[str, Callable[[Candidate], _Key]] = {"round_robin": _round_robin_key, "least_loaded": _least_loaded_key}


def _key_for(strategy: str) -> Callable[[Candidate], _Key] | None:
    if strategy not in ASSIGNMENT_STRATEGIES:
        raise ValueError(f"unknown assignment {strategy!r}; use {', '.join(ASSIGNMENT_STRATEGIES)}")
    return _KEYS.get(strategy)  # None for manual


def choose(strategy: str, candidates: Sequence[Candidate]) -> Candidate | None:
    """Return who should get the next item, or None (manual queue, or nobody available)."""
    key = _key_for(strategy)
    if key is None:
        return None
    return min((candidate for candidate in candidates if candidate.available), key=key, default=None)


class Assigner:
    """Assign a batch of items one after another, keeping each person's load and turn up to date in memory.

    Each pick is stamped `now`, made one microsecond later than every stamp seen before, so the order
    of picks within one batch survives when the stamps are stored and the next batch reads them back.
    A pick costs O(log n) in the number of people.
    """

    def __init__(self, strategy: str, candidates: Sequence[Candidate], *, now: datetime) -> None:
        key = _key_for(strategy)
        if now.utcoffset() is None:
            raise ValueError(f"{now.isoformat()} has no time zone; pass an aware instant")
        self._people: dict[int, Candidate] = {}
        for candidate in candidates:
            if candidate.user_id in self._people:
                raise ValueError(f"user {candidate.user_id} is a candidate twice")
            self._people[candidate.user_id] = candidate
        self._by_load = strategy == "least_loaded"
        self._now = _stamp(now)
        self._latest = max((_stamp(c.last_assigned_at) for c in candidates), default=_NEVER)
        self._given: dict[int, tuple[int, int]] = {}  # user id -> (items given in this batch, last stamp)
        # Manual queues get an empty heap: nobody is ever picked.
        self._heap: list[_Key] = [] if key is None else [key(c) for c in candidates if c.available]
        heapq.heapify(self._heap)

    def pick(self) -> int | None:
        """Assign one item: return the user id of who takes it, or None for nobody."""
        if not self._heap:
            return None
        top = self._heap[0]
        user_id = top[-1]
        self._latest = stamp = max(self._now, self._latest + 1)
        given = self._given.get(user_id, (0, 0))[0] + 1
        self._given[user_id] = (given, stamp)
        heapq.heapreplace(self._heap, (top[0] + 1, stamp, user_id) if self._by_load else (stamp, user_id))
        return user_id

    def changed(self) -> list[Candidate]:
        """Return the people this batch gave work to, with their open counts and last stamps to store."""
        return [
            replace(self._people[user_id], open_items=self._people[user_id].open_items + given,
                    last_assigned_at=_EPOCH + stamp * _MICROSECOND)
            for user_id, (given, stamp) in self._given.items()
        ]
