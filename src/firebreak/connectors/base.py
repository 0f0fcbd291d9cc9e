"""The seam every network connector fits: inbound fetches posts, outbound (later) acts on them.

A connector talks to one remote source and knows nothing about the database. Whoever drives it
(the feed poller today; a job per channel for X, Reddit, Mastodon, Bluesky and Facebook later)
loads the saved cursor, calls the connector, stores the posts with `mentions.service.ingest_mentions`
(idempotent, so handing back a post twice is harmless) and saves the new cursor in the same
transaction. The cursor is whatever small JSON object the connector needs to resume: HTTP
validators for a feed, a `since_id` for X, a timestamp for Reddit.

Failures raise `ConnectorError(permanent=...)`: permanent means "retrying will not help until a
person changes something" (bad credentials, a feed that is gone); anything else is retried later
with a backoff. `RemoteError` adds the remote's status code and the pause it asked for, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from firebreak.core.errors import ConnectorError
from firebreak.mentions.schemas import MentionIn

Cursor = dict[str, Any]

__all__ = ["ConnectorError", "Cursor", "FetchResult", "InboundConnector", "OutboundConnector", "RemoteError"]


class RemoteError(ConnectorError):
    """A remote call failed; carries the status code (if it answered) and its Retry-After (if it sent one)."""

    def __init__(
        self, message: str, *, permanent: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, permanent=permanent)
        self.status = status
        self.retry_after = retry_after


@dataclass(slots=True)
class FetchResult:
    """Posts fetched since a cursor, the cursor to save for next time, and the remote's status code."""

    items: list[MentionIn] = field(default_factory=list)
    cursor: Cursor = field(default_factory=dict)
    # The HTTP status behind the answer (304 for "nothing new"), shown to operators; None if not HTTP.
    status: int | None = None
    # Something odd the connector worked around (a feed that is not well-formed but still readable).
    warning: str | None = None


class InboundConnector(Protocol):
    """Pulls new posts from one remote source."""

    def fetch(self, cursor: Cursor) -> FetchResult:
        """Return the posts published since `cursor` (an empty dict the first time) and the next cursor.

        Raise `ConnectorError` (or `RemoteError`) on failure; the caller keeps the old cursor.
        """
        ...


class OutboundConnector(Protocol):
    """Acts on a network as the brand: replies, posts and hides. No implementation yet."""

    def reply(self, *, in_reply_to: str, text: str) -> str:
        """Publish `text` as a reply to the post with external id `in_reply_to`; return the reply's external id."""
        ...

    def post(self, *, text: str) -> str:
        """Publish `text` as a new post; return its external id."""
        ...

    def hide(self, *, external_id: str) -> None:
        """Hide a post from public view where the network allows it (Facebook, Instagram, X replies)."""
        ...
