"""RSS/Atom polling against feeds served by a real HTTP server on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from firebreak.channels import service as channel_service
from firebreak.channels.models import FeedState
from firebreak.cli.main import app as cli_app
from firebreak.connectors.base import RemoteError
from firebreak.connectors.rss.connector import parse_retry_after
from firebreak.connectors.rss.parse import entry_to_mention, parse_feed, strip_html
from firebreak.connectors.rss.poller import FeedPoller, backoff_delay
from firebreak.core.clock import FixedClock, utcnow
from firebreak.db.engine import Database
from firebreak.mentions.models import Author, Mention
from firebreak.settings import get_settings

FEEDS = Path(__file__).parent / "feeds"
RSS = (FEEDS / "rss.xml").read_bytes()
ATOM = (FEEDS / "atom.xml").read_bytes()
NOT_A_FEED = (FEEDS / "not-a-feed.html").read_bytes()


# ------------------------------------------------------------------------------ a real feed server


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # False sends no Content-Length (HTTP/1.0 close-delimited), so only the streamed size gives it away.
    length: bool = True


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # The poller hangs up on oversized bodies on purpose; that is not a server error.
        pass


class FeedServer:
    """Serves routes over HTTP, honouring If-None-Match / If-Modified-Since, and records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with server._lock:
                    server.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                    route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"no such feed", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    time.sleep(route.delay)
                headers = dict(route.headers)
                if route.status != 200:
                    self._send(route.status, b"", headers)
                    return
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                # RFC 9110: If-None-Match wins; If-Modified-Since counts only when it is absent.
                if (inm is not None and route.etag and inm == route.etag) or (
                    inm is None and ims is not None and route.last_modified and ims == route.last_modified
                ):
                    self._send(304, b"", headers)
                    return
                headers["Content-Type"] = route.content_type
                self._send(200, route.body, headers, length=route.length)

            def _send(self, status: int, body: bytes, headers: dict[str, str], length: bool = True) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304 and length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def clock() -> FixedClock:
    # After the real time `add_feed` stamps as the first due time, so new feeds are due at once.
    return FixedClock(utcnow().replace(microsecond=0) + timedelta(minutes=1))


@pytest.fixture
def poller(db: Database, clock: FixedClock) -> Iterator[FeedPoller]:
    with FeedPoller(db, clock=clock, timeout=5.0) as p:
        yield p


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


def add_feed(db: Database, ws, slug: str, url: str, interval: int = 300) -> int:  # type: ignore[no-untyped-def]
    with db.write() as session:
        return channel_service.add_feed(
            session=session, workspace_id=ws.id, slug=slug, url=url, interval_seconds=interval
        ).id


def state(db: Database, channel_id: int) -> FeedState:
    with db.read() as session:
        row = session.get(FeedState, channel_id)
        assert row is not None
        return row


def mentions(db: Database, channel_id: int) -> list[Mention]:
    with db.read() as session:
        return list(session.scalars(select(Mention).where(Mention.channel_id == channel_id).order_by(Mention.id)))


def rss_with_extra_item(guid: str, title: str) -> bytes:
    item = f"<item><title>{title}</title><guid>{guid}</guid><pubDate>Fri, 03 May 2024 07:00:00 GMT</pubDate></item>"
    return RSS.replace(b"<item>", item.encode() + b"\n    <item>", 1)


# --------------------------------------------------------------------------------- poller, both databases


def test_rss_and_atom_are_parsed_and_stored(db, acme, server, poller, clock):
    server.routes["/rss.xml"] = Route(RSS, etag='"r1"')
    server.routes["/old-atom"] = Route(status=301, headers={"Location": "/atom.xml"})
    server.routes["/atom.xml"] = Route(ATOM, content_type="application/atom+xml")
    rss_id = add_feed(db, acme, "travel-news", server.url("/rss.xml"))
    atom_id = add_feed(db, acme, "forum", server.url("/old-atom"))

    summary = poller.poll_due()

    assert (summary.feeds, summary.new_mentions, summary.failed) == (2, 4, 0)
    lisbon, app_outage = sorted(mentions(db, rss_id), key=lambda m: m.external_id, reverse=True)
    assert lisbon.external_id == "news-1001"
    assert (
        lisbon.text
        == "Acme Air cancels flights to Lisbon\n\nPassengers were left stranded at the airport. Acme said sorry."
    )
    assert lisbon.url == "https://news.example.org/2024/05/acme-lisbon"
    assert lisbon.created_at == datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    assert lisbon.received_at == clock.now()
    assert lisbon.raw["tags"] == ["airlines"] and lisbon.raw["feed"] == "Travel Desk"
    # No guid: the link is the id.
    assert app_outage.external_id == "https://news.example.org/2024/05/acme-app"
    assert app_outage.created_at == datetime(2024, 5, 1, 15, 5, tzinfo=UTC)
    assert app_outage.author_id is None

    order, refund = sorted(mentions(db, atom_id), key=lambda m: m.external_id)
    assert order.external_id == "tag:forum.example.org,2024:post-123"
    assert order.text == "My Acme order never arrived\n\nThree weeks and nothing."
    assert order.created_at == datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    assert refund.text == "Refund policy question\n\nCan I get a refund on a delayed order?"
    assert refund.created_at == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    with db.read() as session:
        authors = {a.id: a for a in session.scalars(select(Author).where(Author.workspace_id == acme.id))}
    assert authors[lisbon.author_id].handle == "Jane Reporter"
    assert (authors[order.author_id].handle, authors[order.author_id].network) == ("ann", "rss")

    rss_state = state(db, rss_id)
    assert (rss_state.last_status, rss_state.etag, rss_state.consecutive_failures) == (200, '"r1"', 0)
    assert rss_state.last_polled_at == clock.now()
    assert rss_state.next_poll_at == clock.now() + timedelta(seconds=300)
    assert len(server.hits("/atom.xml")) == 1  # reached through the redirect


def test_second_poll_sends_validators_and_a_304_stores_nothing(db, acme, server, poller, clock):
    server.routes["/etag.xml"] = Route(RSS, etag='W/"v1"')
    server.routes["/lm.xml"] = Route(ATOM, last_modified="Thu, 02 May 2024 10:00:00 GMT")
    etag_id = add_feed(db, acme, "etag-feed", server.url("/etag.xml"), interval=60)
    lm_id = add_feed(db, acme, "lm-feed", server.url("/lm.xml"), interval=60)
    assert poller.poll_due().new_mentions == 4
    first = server.hits("/etag.xml")[0].headers
    assert "if-none-match" not in first and "if-modified-since" not in first
    assert first["user-agent"].startswith("Firebreak/")

    clock.advance(timedelta(seconds=60))
    summary = poller.poll_due()

    assert (summary.feeds, summary.new_mentions) == (2, 0)
    assert [r.status for r in summary.results] == [304, 304]
    assert server.hits("/etag.xml")[1].headers["if-none-match"] == 'W/"v1"'
    assert server.hits("/lm.xml")[1].headers["if-modified-since"] == "Thu, 02 May 2024 10:00:00 GMT"
    etag_state, lm_state = state(db, etag_id), state(db, lm_id)
    assert (etag_state.last_status, etag_state.etag) == (304, 'W/"v1"')
    assert (lm_state.last_status, lm_state.last_modified) == (304, "Thu, 02 May 2024 10:00:00 GMT")
    assert lm_state.last_polled_at == clock.now()
    assert len(mentions(db, etag_id)) == 2 and len(mentions(db, lm_id)) == 2


def test_a_new_entry_is_the_only_thing_stored(db, acme, server, poller, clock):
    server.routes["/rss.xml"] = Route(RSS, etag='"v1"')
    channel_id = add_feed(db, acme, "news", server.url("/rss.xml"), interval=60)
    poller.poll_due()
    before = {m.external_id: m.id for m in mentions(db, channel_id)}

    server.routes["/rss.xml"] = Route(rss_with_extra_item("news-1002", "Acme Air apologises"), etag='"v2"')
    clock.advance(timedelta(seconds=60))
    summary = poller.poll_due()

    assert (summary.new_mentions, summary.results[0].entries) == (1, 3)
    assert summary.results[0].previews == ["Acme Air apologises"]
    after = {m.external_id: m.id for m in mentions(db, channel_id)}
    assert set(after) - set(before) == {"news-1002"}
    assert all(after[key] == before[key] for key in before)
    assert state(db, channel_id).etag == '"v2"'


def test_the_same_entry_twice_is_never_duplicated(db, acme, server, poller, clock):
    doubled = rss_with_extra_item("dup-1", "Twice in one feed")
    doubled = doubled.replace(
        b"<item>", b'<item><title>Twice in one feed</title><guid isPermaLink="false">dup-1</guid></item><item>', 1
    )
    # No validators: the server sends the whole feed every time.
    server.routes["/dup.xml"] = Route(doubled)
    channel_id = add_feed(db, acme, "dup", server.url("/dup.xml"), interval=60)

    first = poller.poll_due()
    clock.advance(timedelta(seconds=60))
    second = poller.poll_due()

    assert (first.new_mentions, second.new_mentions) == (3, 0)
    assert second.results[0].status == 200 and second.results[0].entries == 4
    assert sorted(m.external_id for m in mentions(db, channel_id)) == sorted(
        ["dup-1", "news-1001", "https://news.example.org/2024/05/acme-app"]
    )


def test_each_feed_keeps_its_own_interval(db, acme, server, poller, clock):
    server.routes["/fast.xml"] = Route(RSS, etag='"f"')
    server.routes["/slow.xml"] = Route(ATOM, etag='"s"')
    fast = add_feed(db, acme, "fast", server.url("/fast.xml"), interval=60)
    slow = add_feed(db, acme, "slow", server.url("/slow.xml"), interval=600)

    assert poller.poll_due().feeds == 2
    clock.advance(timedelta(seconds=30))
    assert poller.poll_due().feeds == 0
    clock.advance(timedelta(seconds=30))
    polled = poller.poll_due()
    assert [r.channel_id for r in polled.results] == [fast]
    clock.advance(timedelta(seconds=539))
    assert [r.channel_id for r in poller.poll_due().results] == [fast]
    clock.advance(timedelta(seconds=1))
    assert {r.channel_id for r in poller.poll_due().results} == {slow}  # fast was polled 1s ago
    assert (len(server.hits("/fast.xml")), len(server.hits("/slow.xml"))) == (3, 2)


def test_failures_are_recorded_backed_off_and_do_not_stop_other_feeds(db, acme, server, clock):
    padding = b"<!--" + b"x" * 200_000 + b"-->"
    server.routes["/boom.xml"] = Route(status=500)
    server.routes["/maintenance.html"] = Route(NOT_A_FEED, content_type="text/html")
    server.routes["/huge.xml"] = Route(RSS + padding, length=False)
    server.routes["/declared.xml"] = Route(RSS + padding)
    server.routes["/good.xml"] = Route(RSS)
    boom = add_feed(db, acme, "boom", server.url("/boom.xml"), interval=60)
    refused = add_feed(db, acme, "refused", closed_port_url(), interval=60)
    html = add_feed(db, acme, "html", server.url("/maintenance.html"), interval=60)
    huge = add_feed(db, acme, "huge", server.url("/huge.xml"), interval=60)
    declared = add_feed(db, acme, "declared", server.url("/declared.xml"), interval=60)
    good = add_feed(db, acme, "good", server.url("/good.xml"), interval=60)
    poller = FeedPoller(db, clock=clock, timeout=5.0, max_bytes=100_000)
    t0 = clock.now()

    summary = poller.poll_due()

    assert (summary.feeds, summary.failed, summary.new_mentions) == (6, 5, 2)
    assert len(mentions(db, good)) == 2
    expected = {
        boom: (500, "HTTP 500"),
        refused: (None, "could not fetch"),
        html: (200, "not an RSS or Atom feed"),
        huge: (200, "larger than the limit of 100000 bytes"),
        declared: (200, "larger than the limit of 100000 bytes (Content-Length"),
    }
    for channel_id, (status, error) in expected.items():
        row = state(db, channel_id)
        assert row.last_status == status and error in (row.last_error or ""), (channel_id, row.last_error)
        assert row.consecutive_failures == 1
        assert row.next_poll_at == t0 + timedelta(seconds=120)  # interval * 2**1
        assert mentions(db, channel_id) == []

    clock.advance(timedelta(seconds=120))
    poller.poll_due()
    assert state(db, boom).consecutive_failures == 2
    assert state(db, boom).next_poll_at == clock.now() + timedelta(seconds=240)

    server.routes["/boom.xml"] = Route(ATOM)
    clock.advance(timedelta(seconds=240))
    poller.poll_due()
    recovered = state(db, boom)
    assert (recovered.last_status, recovered.consecutive_failures, recovered.last_error) == (200, 0, None)
    assert recovered.next_poll_at == clock.now() + timedelta(seconds=60)
    assert len(mentions(db, boom)) == 2
    poller.close()


def test_429_honours_retry_after(db, acme, server, poller, clock):
    server.routes["/limited.xml"] = Route(status=429, headers={"Retry-After": "1800"})
    channel_id = add_feed(db, acme, "limited", server.url("/limited.xml"), interval=60)

    summary = poller.poll_due()

    row = state(db, channel_id)
    assert (row.last_status, row.consecutive_failures) == (429, 1)
    assert row.next_poll_at == clock.now() + timedelta(seconds=1800)
    assert summary.results[0].next_poll_at == row.next_poll_at
    clock.advance(timedelta(seconds=1799))
    assert poller.poll_due().feeds == 0
    clock.advance(timedelta(seconds=1))
    assert poller.poll_due().feeds == 1
    assert len(server.hits("/limited.xml")) == 2


def test_concurrent_pollers_fetch_a_feed_once(db, acme, server, clock):
    server.routes["/slow.xml"] = Route(RSS, delay=0.3)
    channel_id = add_feed(db, acme, "contended", server.url("/slow.xml"), interval=60)
    pollers = [FeedPoller(db, clock=clock, timeout=5.0) for _ in range(4)]
    start = threading.Barrier(len(pollers))
    results: list[int] = []

    def run(p: FeedPoller) -> None:
        start.wait()
        results.append(p.poll_due().feeds)

    threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for p in pollers:
        p.close()

    assert sorted(results) == [0, 0, 0, 1]
    assert len(server.hits("/slow.xml")) == 1
    assert len(mentions(db, channel_id)) == 2
    assert state(db, channel_id).next_poll_at == clock.now() + timedelta(seconds=60)


def test_workspace_filter_and_force(db, acme, globex, server, poller, clock):
    server.routes["/a.xml"] = Route(RSS)
    server.routes["/g.xml"] = Route(ATOM)
    a = add_feed(db, acme, "a", server.url("/a.xml"), interval=600)
    g = add_feed(db, globex, "g", server.url("/g.xml"), interval=600)

    assert [r.channel_id for r in poller.poll_due(workspace_id=globex.id).results] == [g]
    assert poller.poll_due(workspace_id=globex.id).feeds == 0
    assert {r.channel_id for r in poller.poll_due(force=True).results} == {a, g}
    assert len(server.hits("/g.xml")) == 2


def test_cli_polls_and_lists_feeds(db, acme, server, database_url, monkeypatch, tmp_path):
    server.routes["/rss.xml"] = Route(RSS, etag='"cli"')
    server.routes["/gone.xml"] = Route(status=410)
    add_feed(db, acme, "news", server.url("/rss.xml"))
    add_feed(db, acme, "gone", server.url("/gone.xml"))
    monkeypatch.setenv("FIREBREAK_DATABASE_URL", database_url)
    monkeypatch.setenv("FIREBREAK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        polled = runner.invoke(cli_app, ["feeds", "poll", "--workspace", "acme"])
        again = runner.invoke(cli_app, ["feeds", "poll"])
        forced = runner.invoke(cli_app, ["feeds", "poll", "--all"])
        listed = runner.invoke(cli_app, ["feeds", "list", "-w", "acme"])
        unknown = runner.invoke(cli_app, ["feeds", "list", "-w", "nope"])
    finally:
        get_settings.cache_clear()

    assert polled.exit_code == 0, polled.output
    assert "acme/news  200  2 entries, 2 new" in polled.output
    assert "+ Acme Air cancels flights to Lisbon" in polled.output
    assert "acme/gone  410  error: HTTP 410 Gone" in polled.output
    assert "Polled 2 feed(s): 2 new mention(s), 1 failed." in polled.output
    assert "No feeds due." in again.output
    assert "acme/news  304  not modified" in forced.output
    assert listed.exit_code == 0, listed.output
    assert "acme/news  every 300s  status 304  failures 0" in listed.output
    assert f"url:        {server.url('/rss.xml')}" in listed.output
    assert "acme/gone  every 300s  status 410  failures 2" in listed.output
    assert "last error: HTTP 410 Gone" in listed.output
    assert unknown.exit_code == 2 and "does not exist" in unknown.output


# ---------------------------------------------------------------------------------- pure pieces


NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_entry_mapping_fallbacks_and_limits():
    no_ids = {"title": "Hello", "summary": "<p>Hello world</p>", "summary_detail": {"type": "text/html"}}
    first = entry_to_mention(no_ids, now=NOW, max_text_chars=100)
    again = entry_to_mention(dict(no_ids), now=NOW, max_text_chars=100)
    assert first is not None and again is not None
    assert str(first.external_id).startswith("sha256:") and first.external_id == again.external_id
    # The summary repeats the title, so the title is not said twice; no date means "now".
    assert (first.text, first.created_at) == ("Hello world", NOW)

    long_id = entry_to_mention({"id": "x" * 400, "title": "t"}, now=NOW, max_text_chars=100)
    assert long_id is not None and len(str(long_id.external_id)) <= 300

    long_text = entry_to_mention({"id": "1", "title": "word " * 100}, now=NOW, max_text_chars=50)
    assert long_text is not None and len(long_text.text) == 50 and long_text.text.endswith("…")

    future = entry_to_mention(
        {"id": "2", "title": "t", "published_parsed": (2030, 1, 1, 0, 0, 0, 1, 1, 0)}, now=NOW, max_text_chars=50
    )
    assert future is not None and future.created_at == NOW

    # Plain-text titles keep their angle brackets; only HTML is stripped.
    plain = entry_to_mention(
        {"id": "3", "title": "a <b> c", "title_detail": {"type": "text/plain"}}, now=NOW, max_text_chars=50
    )
    assert plain is not None and plain.text == "a <b> c"
    assert entry_to_mention({"id": "4"}, now=NOW, max_text_chars=50) is None
    assert strip_html("<div>one</div><div>two&amp;three</div><style>p{}</style>") == "one two&three"


def test_not_well_formed_feed_keeps_what_feedparser_recovers():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>A & B</title><item><title>Tom & Jerry</title>'
        b"<guid>tj</guid></item></channel></rss>"
    )
    parsed = parse_feed(body, url="http://x/feed", content_type="application/xml", now=NOW, max_text_chars=100)
    assert [m.external_id for m in parsed.items] == ["tj"] and parsed.items[0].text == "Tom & Jerry"
    assert parsed.warning and "not well-formed" in parsed.warning
    with pytest.raises(RemoteError, match="not an RSS or Atom feed"):
        parse_feed(b"{not xml", url="http://x/feed", content_type="application/json", now=NOW, max_text_chars=100)
    # A body that looks like a path or URL is data, never something feedparser opens or fetches.
    with pytest.raises(RemoteError):
        parse_feed(str(FEEDS / "rss.xml").encode(), url="http://x/feed", content_type=None, now=NOW, max_text_chars=100)


def test_backoff_and_retry_after():
    assert backoff_delay(interval_seconds=60, failures=1) == timedelta(seconds=120)
    assert backoff_delay(interval_seconds=60, failures=3) == timedelta(seconds=480)
    assert backoff_delay(interval_seconds=60, failures=50) == timedelta(hours=6)
    assert backoff_delay(interval_seconds=86_400, failures=2) == timedelta(days=1)
    assert backoff_delay(interval_seconds=60, failures=4, retry_after=10) == timedelta(seconds=60)
    assert backoff_delay(interval_seconds=60, failures=4, retry_after=900) == timedelta(seconds=900)
    assert backoff_delay(interval_seconds=60, failures=1, retry_after=10**9) == timedelta(hours=6)
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sat, 01 Jun 2024 12:05:00 GMT", NOW) == 300
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None
