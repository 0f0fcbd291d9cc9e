"""Turn a fetched RSS/Atom body into mentions; pure (time is passed in), so it is tested without HTTP."""

from __future__ import annotations

import calendar
import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser  # type: ignore[import-untyped]

from firebreak.connectors.base import RemoteError
from firebreak.mentions.schemas import AuthorIn, MentionIn

# Column limits of the mention and author tables; longer values are hashed or cut, never rejected.
MAX_EXTERNAL_ID = 300
MAX_HANDLE = 200
MAX_DISPLAY_NAME = 300
MAX_URL = 4000
MAX_RAW_FIELD = 2000

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Tags whose end starts a new line of text, so "<p>a</p><p>b</p>" reads "a b" and not "ab".
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
)


@dataclass(slots=True)
class ParsedFeed:
    """The mentions read from one feed body, the feed's title, and a warning if it was not well-formed."""

    items: list[MentionIn] = field(default_factory=list)
    title: str | None = None
    warning: str | None = None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def collapse(text: str) -> str:
    """Return `text` with every run of whitespace turned into one space, trimmed."""
    return " ".join(text.split())


def strip_html(markup: str) -> str:
    """Return the visible text of an HTML fragment, entities decoded and whitespace collapsed."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return collapse("".join(extractor.parts))


def _plain(value: Any, detail: Any) -> str:
    """Return a feed text field as plain text, stripping markup only when the feed says it is HTML."""
    if not value:
        return ""
    kind = detail.get("type") if isinstance(detail, dict) else None
    return strip_html(str(value)) if kind in _HTML_TYPES else collapse(str(value))


def truncate(text: str, limit: int) -> str:
    """Return `text` cut to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def external_id_of(entry: dict[str, Any], title: str) -> str:
    """Return the entry's id, else its link, else a stable hash of its title and link."""
    link = str(entry.get("link") or "")
    candidate = str(entry.get("id") or "").strip() or link.strip()
    if not candidate:
        return _digest(title, link)
    # A longer id cannot be stored as is; its hash is just as stable.
    return candidate if len(candidate) <= MAX_EXTERNAL_ID else _digest(candidate)


def _entry_time(entry: dict[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                at = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
            # Feeds with clocks or time zones set wrong post "from the future"; SLA clocks must not start later.
            return min(at, now)
    return now


def _author(entry: dict[str, Any]) -> AuthorIn | None:
    detail = entry.get("author_detail") or {}
    name = collapse(str(detail.get("name") or entry.get("author") or ""))
    email = collapse(str(detail.get("email") or ""))
    handle = name or email
    if not handle:
        return None
    return AuthorIn(handle=handle[:MAX_HANDLE], display_name=name[:MAX_DISPLAY_NAME] or None)


def _raw(entry: dict[str, Any], feed_title: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key in ("id", "title", "link", "author", "published", "updated"):
        value = entry.get(key)
        if value:
            raw[key] = str(value)[:MAX_RAW_FIELD]
    tags = [str(t.get("term")) for t in entry.get("tags") or [] if t.get("term")]
    if tags:
        raw["tags"] = tags[:50]
    if feed_title:
        raw["feed"] = feed_title[:MAX_RAW_FIELD]
    return raw


def entry_to_mention(
    entry: dict[str, Any],
    *,
    now: datetime,
    max_text_chars: int,
    feed_title: str | None = None,
    base_url: str | None = None,
) -> MentionIn | None:
    """Map one feedparser entry to a mention, or None when it carries no text at all."""
    # A plain dict view: feedparser's own lookups alias missing keys (updated → published) with warnings.
    entry = dict(entry)
    title = _plain(entry.get("title"), entry.get("title_detail"))
    # feedparser copies Atom <content> into `summary` without saying its type; read it from the content.
    if entry.get("summary_detail") or not entry.get("content"):
        summary = _plain(entry.get("summary"), entry.get("summary_detail"))
    else:
        first = entry["content"][0]
        summary = _plain(first.get("value"), first)
    link = str(entry.get("link") or "").strip()
    if link and base_url:
        link = urljoin(base_url, link)
    # Many feeds repeat the title as the summary's first words; say it once.
    if title and summary and summary.startswith(title):
        text = summary
    else:
        text = "\n\n".join(part for part in (title, summary) if part)
    text = text or link
    if not text:
        return None
    return MentionIn(
        external_id=external_id_of(entry, title),
        text=truncate(text, max_text_chars),
        created_at=_entry_time(entry, now),
        url=link if link and len(link) <= MAX_URL else None,
        author=_author(entry),
        raw=_raw(entry, feed_title),
    )


def parse_feed(body: bytes, *, url: str, content_type: str | None, now: datetime, max_text_chars: int) -> ParsedFeed:
    """Parse an RSS or Atom body into mentions, oldest first; raise RemoteError when it is not a feed."""
    # No Content-Location on purpose: feedparser would resolve relative guids against the feed URL,
    # and then moving a feed (http → https) would give every entry a new id and store it again.
    # Relative links are resolved below instead.
    headers = {"content-type": content_type} if content_type else {}
    # A BytesIO, never the bytes themselves: feedparser treats a string that looks like a URL or a
    # path as something to fetch or open.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        reason = f": {problem}" if problem else ""
        raise RemoteError(f"not an RSS or Atom feed{reason}", permanent=False, status=200)
    feed_title = collapse(str(parsed.feed.get("title") or "")) or None
    items = []
    for entry in reversed(parsed.entries):
        item = entry_to_mention(entry, now=now, max_text_chars=max_text_chars, feed_title=feed_title, base_url=url)
        if item is not None:
            items.append(item)
    # feedparser recovers what it can from a feed that is not well-formed (an unescaped "&" is
    # common) or declares the wrong encoding; keep those mentions rather than lose them, and say so.
    warning = f"feed read despite a problem: {problem}" if parsed.get("bozo") else None
    return ParsedFeed(items=items, title=feed_title, warning=warning)
