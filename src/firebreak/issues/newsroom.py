"""The workspace's public newsroom: what has been published, as plain HTML pages and an Atom feed.

    room = find_newsroom(session, "acme", base_url="https://firebreak.example")
    entries = latest_entries(session, room)              # newest first
    html = render_index(room, entries)                    # /newsroom/acme
    html = render_entry(room, entries[0])                 # /newsroom/acme/<slug>
    xml = render_feed(room, entries)                      # /newsroom/acme/feed.atom (RFC 4287)

The pages are the product's own: no script, no third-party files, one small inline style sheet
(allowed by hash in the Content-Security-Policy), landmarks, a skip link and real <time> elements.
Every text is escaped; a publication's body is plain text in which blank lines separate paragraphs,
lines starting with "- " or "* " make a list, and http(s) URLs become links.

Nothing here names who pressed "publish": the public sees the brand, never its staff.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.issues.models import Publication
from firebreak.workspaces.models import Workspace
from firebreak.workspaces.service import SLUG_RE

FEED_ENTRIES = 50
INDEX_ENTRIES = 100
SUMMARY_CHARS = 200
ATOM_NS = "http://www.w3.org/2005/Atom"

# Characters XML 1.0 forbids (and HTML should never carry): C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_BULLET = re.compile(r"^\s*[-*]\s+")
_SLUG_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")

STYLE = (
    ":root{color-scheme:light dark;--muted:#555}"
    "@media (prefers-color-scheme:dark){:root{--muted:#aaa}}"
    "body{font:1.0625rem/1.6 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;"
    "max-width:42rem;padding:1rem 1.25rem 3rem}"
    "a{color:inherit;text-underline-offset:.15em}a:focus-visible{outline:3px solid;outline-offset:2px}"
    ".skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem}"
    "header{border-bottom:1px solid;padding-bottom:.5rem;margin-bottom:1.5rem}"
    ".site{font-weight:700;margin:0}"
    "h1{font-size:1.75rem;line-height:1.25;margin:.5rem 0}h2{font-size:1.25rem;margin:0}"
    "ol.entries{list-style:none;padding:0}ol.entries li{margin:0 0 1.75rem}"
    ".meta{color:var(--muted);font-size:.9375rem;margin:.25rem 0}"
    "footer{border-top:1px solid;margin-top:2.5rem;padding-top:.5rem;font-size:.9375rem}"
)
# Lets the inline style sheet through a Content-Security-Policy that allows nothing else.
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


@dataclass(frozen=True, slots=True)
class Newsroom:
    """A workspace's newsroom: its name, where it lives, and the time zone its pages show times in."""

    workspace_id: int
    slug: str
    name: str
    base_url: str
    timezone: str
    created_at: datetime

    @property
    def path(self) -> str:
        return f"/newsroom/{self.slug}"

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    @property
    def feed_path(self) -> str:
        return f"{self.path}/feed.atom"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}{self.feed_path}"

    def entry_path(self, slug: str) -> str:
        return f"{self.path}/{slug}"

    def entry_url(self, slug: str) -> str:
        return f"{self.base_url}{self.entry_path(slug)}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One publication as the public sees it."""

    id: int
    slug: str
    title: str
    body: str
    published_at: datetime
    updated_at: datetime

    @property
    def summary(self) -> str:
        return summarize(self.body)


def link_for(base_url: str, workspace_slug: str, slug: str) -> str:
    """Return the public URL of a publication."""
    return f"{base_url.rstrip('/')}/newsroom/{workspace_slug}/{slug}"


def find_newsroom(session: Session, workspace_slug: str, *, base_url: str) -> Newsroom | None:
    """Return the newsroom of the workspace with this slug, or None when there is no such workspace."""
    # A path segment may hold anything (NUL included, which PostgreSQL refuses to compare).
    if not SLUG_RE.match(workspace_slug):
        return None
    workspace = session.scalar(select(Workspace).where(Workspace.slug == workspace_slug))
    if workspace is None:
        return None
    return Newsroom(workspace.id, workspace.slug, workspace.name, base_url.rstrip("/"), workspace.timezone,
                    workspace.created_at)


def latest_entries(session: Session, room: Newsroom, *, limit: int = FEED_ENTRIES) -> list[Entry]:
    """Return the newsroom's publications, newest first."""
    rows = session.execute(
        select(Publication.id, Publication.slug, Publication.title, Publication.body, Publication.published_at,
               Publication.updated_at)
        .where(Publication.workspace_id == room.workspace_id)
        .order_by(Publication.published_at.desc(), Publication.id.desc())
        .limit(limit)
    )
    return [Entry(*row) for row in rows]


def find_entry(session: Session, room: Newsroom, slug: str) -> Entry | None:
    """Return the publication with this slug, or None (a slug that could not exist is not even looked up)."""
    if not _SLUG_SEGMENT.match(slug):
        return None
    row = session.execute(
        select(Publication.id, Publication.slug, Publication.title, Publication.body, Publication.published_at,
               Publication.updated_at)
        .where(Publication.workspace_id == room.workspace_id, Publication.slug == slug)
    ).one_or_none()
    return None if row is None else Entry(*row)


def last_modified(room: Newsroom, entries: list[Entry]) -> datetime:
    """Return when what the entries show last changed (the newsroom's creation when it is empty)."""
    return max((entry.updated_at for entry in entries), default=room.created_at)


# ---------------------------------------------------------------------------------------------- text


def clean(text: str) -> str:
    """Drop the characters XML 1.0 and HTML cannot carry."""
    return _FORBIDDEN.sub("", text)


def one_line(text: str) -> str:
    """Return the text cleaned, with its whitespace runs (newlines included) made single spaces."""
    return " ".join(clean(text).split())


def summarize(body: str, limit: int = SUMMARY_CHARS) -> str:
    """Return the first paragraph on one line, cut at a word boundary to at most `limit` characters."""
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", clean(body))]
    first = next((paragraph for paragraph in paragraphs if paragraph), "")
    if len(first) <= limit:
        return first
    cut = first[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _inline(text: str) -> str:
    """Escape a line of text, turning http(s) URLs into links."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if not urlsplit(url).netloc:
            continue
        out.append(html.escape(text[position:match.start()]))
        escaped = html.escape(url)
        out.append(f'<a href="{escaped}">{escaped}</a>')
        position = match.start() + len(url)
    out.append(html.escape(text[position:]))
    return "".join(out)


def body_html(body: str) -> str:
    """Return the body as HTML: paragraphs, bullet lists and links; everything else escaped."""
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", clean(body).replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        if all(_BULLET.match(line) for line in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', line))}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append("<p>" + "<br>\n".join(_inline(line) for line in lines) + "</p>")
    return "\n".join(blocks)


# ---------------------------------------------------------------------------------------------- HTML


def _zone(room: Newsroom) -> ZoneInfo:
    try:
        return ZoneInfo(room.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _time(room: Newsroom, moment: datetime) -> str:
    local = moment.astimezone(_zone(room))
    shown = f"{local.day} {local:%B %Y, %H:%M} {local.tzname() or room.timezone}"
    return f'<time datetime="{_rfc3339(moment)}">{html.escape(shown)}</time>'


def _updated(room: Newsroom, entry: Entry) -> str:
    return f" · Updated {_time(room, entry.updated_at)}" if entry.updated_at > entry.published_at else ""


def _page(room: Newsroom, *, title: str, main: str) -> str:
    name = html.escape(one_line(room.name))
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(clean(title))}</title>\n"
        f'<link rel="alternate" type="application/atom+xml" title="{name} newsroom" '
        f'href="{html.escape(room.feed_path)}">\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        '<a class="skip" href="#main">Skip to content</a>\n'
        f'<header><p class="site"><a href="{html.escape(room.path)}">{name} newsroom</a></p></header>\n'
        f'<main id="main">\n{main}\n</main>\n'
        f'<footer><p>Follow these updates with the <a href="{html.escape(room.feed_path)}">Atom feed</a>.</p>'
        "</footer>\n</body>\n</html>\n"
    )


def render_index(room: Newsroom, entries: list[Entry]) -> str:
    """Return the newsroom's front page: every publication, newest first, with its summary."""
    if entries:
        items = "\n".join(
            f'<li><article><h2><a href="{html.escape(room.entry_path(entry.slug))}">'
            f"{html.escape(one_line(entry.title))}</a></h2>\n"
            f'<p class="meta">{_time(room, entry.published_at)}{_updated(room, entry)}</p>\n'
            f"<p>{html.escape(entry.summary)}</p></article></li>"
            for entry in entries
        )
        listing = f'<ol class="entries" aria-label="Updates, newest first">\n{items}\n</ol>'
    else:
        listing = "<p>Nothing has been published here yet.</p>"
    name = one_line(room.name)
    return _page(room, title=f"{name} newsroom",
                 main=f"<h1>Updates from {html.escape(name)}</h1>\n{listing}")


def render_entry(room: Newsroom, entry: Entry) -> str:
    """Return one publication's page."""
    main = (
        f"<article>\n<h1>{html.escape(one_line(entry.title))}</h1>\n"
        f'<p class="meta">Published {_time(room, entry.published_at)}{_updated(room, entry)}</p>\n'
        f"{body_html(entry.body)}\n</article>\n"
        f'<p><a href="{html.escape(room.path)}">All updates</a></p>'
    )
    return _page(room, title=f"{one_line(entry.title)} · {one_line(room.name)}", main=main)


def render_not_found(room: Newsroom | None, what: str) -> str:
    """Return a small page saying what does not exist (for a 404)."""
    main = f"<h1>Not found</h1>\n<p>{html.escape(clean(what))}</p>"
    if room is None:
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>Not found</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<main id="main">\n{main}\n</main>\n</body>\n</html>\n'
        )
    return _page(room, title="Not found", main=main + f'\n<p><a href="{html.escape(room.path)}">All updates</a></p>')


# ---------------------------------------------------------------------------------------------- Atom


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_feed(room: Newsroom, entries: list[Entry]) -> bytes:
    """Return the Atom feed (RFC 4287) of the entries, as UTF-8 XML."""

    def child(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
        element = ET.SubElement(parent, name, attributes)
        if text is not None:
            element.text = clean(text)
        return element

    name = clean(room.name)
    # Plain names under a default namespace declared by hand: no global prefix registry to touch.
    feed = ET.Element("feed", xmlns=ATOM_NS)
    child(feed, "title", f"{name} newsroom")
    child(feed, "subtitle", f"Updates from {name}")
    child(feed, "id", room.url)
    child(feed, "updated", _rfc3339(last_modified(room, entries)))
    child(feed, "link", rel="self", type="application/atom+xml", href=room.feed_url)
    child(feed, "link", rel="alternate", type="text/html", href=room.url)
    author = child(feed, "author")
    child(author, "name", name)
    child(author, "uri", room.url)
    child(feed, "generator", "Firebreak")
    for entry in entries:
        item = child(feed, "entry")
        child(item, "title", one_line(entry.title))
        child(item, "id", room.entry_url(entry.slug))
        child(item, "link", rel="alternate", type="text/html", href=room.entry_url(entry.slug))
        child(item, "published", _rfc3339(entry.published_at))
        child(item, "updated", _rfc3339(entry.updated_at))
        child(item, "summary", entry.summary, type="text")
        child(item, "content", body_html(entry.body), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
