"""The public newsroom: escaped, accessible HTML of our own, a valid Atom feed, caching validators, and 404s."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from firebreak.app import create_app
from firebreak.issues import newsroom
from firebreak.issues.models import Publication
from firebreak.issues.publishing import publish
from firebreak.workflow.actions import Actor
from firebreak.workspaces.models import Workspace
from tests.outbox_support import add_version, make_issue
from tests.workflow_support import services_for

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROOM = newsroom.Newsroom(workspace_id=1, slug="acme", name="Acme & Co", base_url="https://status.acme.example",
                         timezone="Europe/London", created_at=T0 - timedelta(days=30))
HOSTILE = 'Checkout <script>alert("x")</script> & "errors"'


def _entry(n: int, *, title: str = "Checkout errors", body: str = "We fixed it.", at: datetime = T0
           ) -> newsroom.Entry:
    return newsroom.Entry(id=n, slug=f"update-{n}", title=title, body=body, published_at=at, updated_at=at)


class _Tags(HTMLParser):
    """Collects the tags and attributes of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(fragment: str) -> _Tags:
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    return parser


# ---------------------------------------------------------------------------------------------- text


def test_the_summary_is_the_first_paragraph_cut_at_a_word():
    assert newsroom.summarize("\n\n  First   line\nsame paragraph.\n\nSecond.") == "First line same paragraph."
    long = "word " * 100
    cut = newsroom.summarize(long, limit=50)
    assert cut.endswith("…") and len(cut) <= 50 and not cut.startswith(" ")
    assert newsroom.summarize("") == ""


def test_the_body_becomes_paragraphs_lists_and_links_with_everything_else_escaped():
    body = ("We know <b>checkout</b> failed & we're sorry.\nDetails: https://acme.example/incident/7.\n\n"
            "- try again\n* write to https://acme.example/help?a=1&b=2\n\n"
            "javascript:alert(1) and www.example.com stay text")
    html = newsroom.body_html(body)
    assert "<b>" not in html and "&lt;b&gt;checkout&lt;/b&gt;" in html
    assert '<a href="https://acme.example/incident/7">https://acme.example/incident/7</a>.' in html
    assert '<a href="https://acme.example/help?a=1&amp;b=2">' in html
    assert "<ul><li>try again</li><li>write to <a" in html
    assert "<p>javascript:alert(1) and www.example.com stay text</p>" in html


@given(st.text(max_size=400))
def test_any_body_renders_to_only_our_tags_and_http_links(body):
    parsed = _parse(newsroom.body_html(body))
    assert {tag for tag, _ in parsed.tags} <= {"p", "br", "ul", "li", "a"}
    for tag, attributes in parsed.tags:
        if tag == "a":
            assert list(attributes) == ["href"]
            assert re.match(r"^https?://", attributes["href"] or "", re.IGNORECASE)
        else:
            assert attributes == {}


@given(st.text(max_size=120), st.text(max_size=400))
def test_any_title_and_body_make_well_formed_atom(title, body):
    feed = ET.fromstring(newsroom.render_feed(ROOM, [_entry(1, title=title, body=body)]))
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    assert (entry.findtext(f"{ATOM}title") or "") == newsroom.one_line(title)


# ---------------------------------------------------------------------------------------------- pages


def test_the_index_lists_entries_newest_first_escaped_with_landmarks_and_no_third_party_files():
    entries = [_entry(2, title=HOSTILE, at=T0 + timedelta(hours=1)), _entry(1, at=T0)]
    page = newsroom.render_index(ROOM, entries)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert page.index("update-2") < page.index("update-1")
    assert '<html lang="en">' in page and '<main id="main">' in page and 'href="#main">Skip to content' in page
    assert '<time datetime="2026-11-20T10:00:00Z">20 November 2026, 10:00 GMT</time>' in page
    assert '<link rel="alternate" type="application/atom+xml" title="Acme &amp; Co newsroom"' in page
    parsed = _parse(page)
    assert not [a for tag, a in parsed.tags if tag in ("script", "img", "iframe")]
    assert not [a for tag, a in parsed.tags if tag == "link" and a.get("rel") == "stylesheet"]
    external = [a.get("href") for tag, a in parsed.tags if tag == "a" and (a.get("href") or "").startswith("http")]
    assert external == []
    assert newsroom.render_index(ROOM, []).count("Nothing has been published here yet.") == 1


def test_an_entry_page_shows_the_body_and_when_it_was_updated():
    entry = newsroom.Entry(id=1, slug="checkout-errors", title="Checkout errors", body="Fixed.\n\n- retry",
                           published_at=T0, updated_at=T0 + timedelta(days=1))
    page = newsroom.render_entry(ROOM, entry)
    assert "<h1>Checkout errors</h1>" in page
    assert "<p>Fixed.</p>\n<ul><li>retry</li></ul>" in page
    assert "Published <time" in page and "· Updated <time" in page
    assert "<title>Checkout errors · Acme &amp; Co</title>" in page


def test_the_feed_is_atom_with_ids_dates_links_and_an_author():
    entries = [_entry(2, title=HOSTILE, body="Fixed <now>.", at=T0 + timedelta(hours=1)), _entry(1, at=T0)]
    feed = ET.fromstring(newsroom.render_feed(ROOM, entries))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "https://status.acme.example/newsroom/acme"
    assert feed.findtext(f"{ATOM}title") == "Acme & Co newsroom"
    assert feed.findtext(f"{ATOM}updated") == "2026-11-20T10:00:00Z"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Acme & Co"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": "https://status.acme.example/newsroom/acme/feed.atom",
                     "alternate": "https://status.acme.example/newsroom/acme"}
    first = feed.findall(f"{ATOM}entry")[0]
    assert first.findtext(f"{ATOM}title") == HOSTILE
    assert first.findtext(f"{ATOM}id") == "https://status.acme.example/newsroom/acme/update-2"
    assert first.findtext(f"{ATOM}published") == "2026-11-20T10:00:00Z"
    assert first.findtext(f"{ATOM}updated") == "2026-11-20T10:00:00Z"
    content = first.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html" and content.text == "<p>Fixed &lt;now&gt;.</p>"
    assert first.findtext(f"{ATOM}summary") == "Fixed <now>."
    empty = ET.fromstring(newsroom.render_feed(ROOM, []))
    assert empty.findtext(f"{ATOM}updated") == "2026-10-21T09:00:00Z", "an empty feed dates from the newsroom"


# ---------------------------------------------------------------------------------------------- HTTP


def _publish(db, settings, ws, issue_id, *, at, slug=None):  # type: ignore[no-untyped-def]
    with db.write() as session:
        runtime = services_for(settings).workflow(session, ws.id)
        return publish(session, runtime=runtime, workspace_id=ws.id, issue_id=issue_id,
                       actor=Actor("cora@acme.test", frozenset({"communications"})), now=at,
                       base_url=settings.base_url, slug=slug, reply_in_threads=False)


@pytest.fixture
def published(db, settings, acme):  # type: ignore[no-untyped-def]
    """Two publications of acme: 'checkout-errors' (older) and 'refunds' (newer)."""
    issue_id, _ = make_issue(db, acme, at=T0, title=HOSTILE, body="We fixed <it>.\n\nDetails: https://acme.example/7")
    _publish(db, settings, acme, issue_id, at=T0, slug="checkout-errors")
    with db.write() as session:
        add_version(session, acme, issue_id, body="Refunds are on their way.", at=T0 + timedelta(hours=2))
    _publish(db, settings, acme, issue_id, at=T0 + timedelta(hours=2), slug="refunds")
    return issue_id


def test_the_newsroom_is_public_cached_and_revalidated(db, settings, acme, globex, published):
    with TestClient(create_app(settings, db=db, run_worker=False)) as client:
        index = client.get("/newsroom/acme")
        assert index.status_code == 200
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert index.headers["cache-control"] == "public, max-age=60"
        assert index.headers["last-modified"] == "Fri, 20 Nov 2026 11:00:00 GMT"
        assert newsroom.STYLE_HASH in index.headers["content-security-policy"]
        assert "default-src 'none'" in index.headers["content-security-policy"]
        assert index.text.index("/newsroom/acme/refunds") < index.text.index("/newsroom/acme/checkout-errors")
        assert "&lt;script&gt;" in index.text and "<script" not in index.text
        etag = index.headers["etag"]
        assert client.get("/newsroom/acme", headers={"If-None-Match": etag}).status_code == 304
        assert client.get("/newsroom/acme", headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
        assert client.get("/newsroom/acme", headers={"If-None-Match": '"stale"'}).status_code == 200
        since = format_datetime(T0 + timedelta(hours=2), usegmt=True)
        not_modified = client.get("/newsroom/acme", headers={"If-Modified-Since": since})
        assert (not_modified.status_code, not_modified.content) == (304, b"")
        assert not_modified.headers["etag"] == etag
        earlier = format_datetime(T0 + timedelta(hours=1), usegmt=True)
        assert client.get("/newsroom/acme", headers={"If-Modified-Since": earlier}).status_code == 200
        assert client.get("/newsroom/acme", headers={"If-Modified-Since": "yesterday"}).status_code == 200
        head = client.head("/newsroom/acme")
        assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)

        page = client.get("/newsroom/acme/checkout-errors")
        assert page.status_code == 200
        assert "<p>We fixed &lt;it&gt;.</p>" in page.text
        assert '<a href="https://acme.example/7">' in page.text
        assert page.headers["last-modified"] == "Fri, 20 Nov 2026 09:00:00 GMT"
        assert client.get("/newsroom/acme/checkout-errors",
                          headers={"If-None-Match": page.headers["etag"]}).status_code == 304

        feed = client.get("/newsroom/acme/feed.atom")
        assert feed.status_code == 200
        assert feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
        root = ET.fromstring(feed.content)
        assert [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")] == [
            f"{settings.base_url}/newsroom/acme/refunds", f"{settings.base_url}/newsroom/acme/checkout-errors"]
        assert client.get("/newsroom/acme/feed.atom", headers={"If-None-Match": feed.headers["etag"]}
                          ).status_code == 304

        # An update to a publication changes its validators.
        with db.write() as session:
            session.execute(update(Publication).where(Publication.slug == "refunds").values(
                updated_at=T0 + timedelta(hours=5)))
        assert client.get("/newsroom/acme", headers={"If-None-Match": etag}).status_code == 200
        assert client.get("/newsroom/acme").headers["last-modified"] == "Fri, 20 Nov 2026 14:00:00 GMT"


def test_unknown_newsrooms_and_pages_are_404_and_workspaces_do_not_share(db, settings, acme, globex, published):
    with TestClient(create_app(settings, db=db, run_worker=False)) as client:
        for path in ("/newsroom/nobody", "/newsroom/acme/no-such-page", "/newsroom/globex/checkout-errors",
                     "/newsroom/acme/Bad%20Slug", "/newsroom/%00", "/newsroom/acme/%00x"):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"] == "text/html; charset=utf-8"
            assert "<h1>Not found</h1>" in answer.text
        missing_feed = client.get("/newsroom/nobody/feed.atom")
        assert missing_feed.status_code == 404
        assert missing_feed.text == "There is no newsroom called 'nobody'.\n"
        empty = client.get("/newsroom/globex")
        assert empty.status_code == 200 and "Nothing has been published here yet." in empty.text
        assert ET.fromstring(client.get("/newsroom/globex/feed.atom").content).find(f"{ATOM}entry") is None


def test_the_newsroom_shows_times_in_the_workspace_time_zone(db, settings, acme, published):
    with db.write() as session:
        session.execute(update(Workspace).where(Workspace.id == acme.id).values(timezone="America/New_York"))
    with TestClient(create_app(settings, db=db, run_worker=False)) as client:
        page = client.get("/newsroom/acme/checkout-errors").text
    assert '<time datetime="2026-11-20T09:00:00Z">20 November 2026, 04:00 EST</time>' in page
