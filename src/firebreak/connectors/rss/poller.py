"""Placeholder; replaced by the real feed poller in this same change."""

from __future__ import annotations

from dataclasses import dataclass

from firebreak.db.engine import Database


@dataclass(slots=True)
class PollSummary:
    feeds: int = 0
    new_mentions: int = 0


class FeedPoller:
    def __init__(self, db: Database) -> None:
        self.db = db

    def poll_due(self) -> PollSummary:
        return PollSummary()
