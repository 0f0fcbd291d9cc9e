"""Fetch one RSS/Atom feed with conditional GET: the inbound connector for feeds.

The cursor is the pair of HTTP validators the server gave last time, {"etag": ..., "last_modified": ...};
sending them back lets the server answer 304 Not Modified with no body when nothing changed.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from firebreak import __version__
from firebreak.connectors.base import Cursor, FetchResult, RemoteError
from firebreak.connectors.rss.parse import parse_feed
from firebreak.core.clock import Clock, SystemClock, ensure_utc

DEFAULT_USER_AGENT = f"Firebreak/{__version__} (feed poller)"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 20_000
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
# Statuses that will not change by themselves: the feed is gone, moved without a redirect, or locked.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 451})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a Retry-After header asks for (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (ensure_utc(at) - now).total_seconds())


def new_client(*, user_agent: str = DEFAULT_USER_AGENT, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """Return an HTTP client suited to polling feeds (redirects followed, timeouts set)."""
    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent, "Accept": ACCEPT},
    )


class RssConnector:
    """Fetches one feed URL and maps its entries to mentions; implements `InboundConnector`."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        self.url = url
        self.client = client
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_text_chars = max_text_chars

    def fetch(self, cursor: Cursor) -> FetchResult:
        """Fetch the feed, sending the cursor's validators; a 304 returns no items and the same cursor."""
        headers = {}
        if cursor.get("etag"):
            headers["If-None-Match"] = str(cursor["etag"])
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = str(cursor["last_modified"])
        try:
            # Per-request settings too, so a client handed in by the caller still follows redirects
            # and times out.
            with self.client.stream(
                "GET", self.url, headers=headers, follow_redirects=True, timeout=self.timeout
            ) as response:
                status = response.status_code
                if status == 304:
                    # A 304 may carry fresher validators; otherwise the old ones stay valid.
                    return FetchResult(items=[], cursor=_validators(response, fallback=cursor), status=304)
                if status >= 400 or status < 200:
                    raise self._status_error(response)
                if status >= 300:
                    raise RemoteError(
                        f"HTTP {status} redirect without a usable Location", permanent=True, status=status
                    )
                body = self._read_capped(response)
                content_type = response.headers.get("content-type")
                new_cursor = _validators(response, fallback={})
        except httpx.TimeoutException as exc:
            raise RemoteError(f"timed out after {self.timeout:g}s ({type(exc).__name__})", permanent=False) from None
        except httpx.TooManyRedirects:
            raise RemoteError("too many redirects", permanent=True) from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"could not fetch: {str(exc) or type(exc).__name__}", permanent=False) from None
        parsed = parse_feed(
            body, url=self.url, content_type=content_type, now=self.clock.now(), max_text_chars=self.max_text_chars
        )
        return FetchResult(items=parsed.items, cursor=new_cursor, status=status, warning=parsed.warning)

    def _status_error(self, response: httpx.Response) -> RemoteError:
        status = response.status_code
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        reason = response.reason_phrase or ""
        return RemoteError(
            f"HTTP {status} {reason}".rstrip(),
            permanent=status in PERMANENT_STATUSES,
            status=status,
            retry_after=retry_after,
        )

    def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the body, refusing more than `max_bytes` (after decompression) or more than the timeout."""
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise RemoteError(
                f"feed is larger than the limit of {self.max_bytes} bytes (Content-Length {declared})",
                permanent=True,
                status=200,
            )
        # httpx's timeouts bound each read, not the whole body; a server dripping bytes must not hold us.
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise RemoteError(
                    f"feed is larger than the limit of {self.max_bytes} bytes", permanent=True, status=200
                )
            if time.monotonic() > deadline:
                raise RemoteError(f"feed took longer than {self.timeout:g}s to download", permanent=False, status=200)
            chunks.append(chunk)
        return b"".join(chunks)


def _validators(response: httpx.Response, *, fallback: Cursor) -> Cursor:
    return {
        "etag": response.headers.get("etag") or fallback.get("etag"),
        "last_modified": response.headers.get("last-modified") or fallback.get("last_modified"),
    }
