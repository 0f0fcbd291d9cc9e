"""The public newsroom in a real browser: it renders, links its Atom feed, fits a phone, and logs no errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import feedparser
import pytest

from firebreak.issues.publishing import publish
from firebreak.workflow.actions import Actor
from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
from tests.outbox_support import add_version, make_issue
from tests.workflow_support import services_for

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TITLE = "Checkout errors & refunds"
FIRST = "Some customers could not pay.\n\nWe fixed it at 10:00. Details: https://acme.example/incident/7"
SECOND = "Refunds for every failed payment are on their way and will arrive within five working days."

@pytest.fixture
def newsroom(db, settings, acme):  # type: ignore[no-untyped-def]
    """acme's newsroom with two publications of one issue: 'checkout-errors' (older) and 'refunds' (newer)."""
    issue_id, _ = make_issue(db, acme, at=T0, title=TITLE, body=FIRST)
    _publish(db, settings, acme, issue_id, at=T0, slug="checkout-errors")
    with db.write() as session:
        add_version(session, acme, issue_id, body=SECOND, at=T0 + timedelta(hours=2))
    _publish(db, settings, acme, issue_id, at=T0 + timedelta(hours=2), slug="refunds")
    return acme


def _publish(db, settings, ws, issue_id, *, at, slug):  # type: ignore[no-untyped-def]
    with db.write() as session:
        runtime = services_for(settings).workflow(session, ws.id)
        publish(session, runtime=runtime, workspace_id=ws.id, issue_id=issue_id,
                actor=Actor("cora@acme.test", frozenset({"communications"})), now=at,
                base_url=settings.base_url, slug=slug, reply_in_threads=False)


def test_the_newsroom_renders_links_its_feed_and_logs_no_errors(db, settings, newsroom, page):
    with serve_firebreak(settings, db) as base_url:
        page.goto(f"{base_url}/newsroom/acme")
        assert page.locator("h1").inner_text() == "Updates from Acme"
        links = page.locator("main a[href*='/newsroom/acme/']")
        assert [link.get_attribute("href").rsplit("/", 1)[-1] for link in links.all()] == [
            "refunds", "checkout-errors"]

        feed_link = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
        assert feed_link.count() == 1
        answer = page.request.get(urljoin(page.url, feed_link.get_attribute("href")))
        assert answer.ok and answer.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(answer.body())
        assert not feed.bozo, feed.get("bozo_exception")
        assert [entry.link for entry in feed.entries] == [
            f"{settings.base_url}/newsroom/acme/refunds", f"{settings.base_url}/newsroom/acme/checkout-errors"]
        assert {entry.title for entry in feed.entries} == {TITLE}

        links.last.click()
        page.wait_for_url("**/newsroom/acme/checkout-errors")
        assert page.title().startswith(TITLE)
        assert page.locator("article h1").inner_text() == TITLE
        assert page.get_by_text("We fixed it at 10:00.").is_visible()
        assert page.locator("article a[href='https://acme.example/incident/7']").is_visible()
        assert console_errors(page) == []


def test_the_newsroom_fits_a_phone_without_sideways_scrolling(db, settings, newsroom, phone_page):
    with serve_firebreak(settings, db) as base_url:
        for path in ("/newsroom/acme", "/newsroom/acme/refunds", "/newsroom/acme/checkout-errors"):
            phone_page.goto(f"{base_url}{path}")
            assert phone_page.evaluate("window.innerWidth") == 390, path
            assert horizontal_overflow(phone_page) <= 0, path
        assert console_errors(phone_page) == []
