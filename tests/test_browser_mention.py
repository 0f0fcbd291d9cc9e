"""The mention page in a real browser: the inbox's anchors put the cursor in their form, a saved reply fills the
text box, the SLA countdown keeps counting, nothing breaks the strict CSP, and it fits a phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.worker import BackgroundWorker
from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
from tests.outbox_support import connect
from tests.web_support import PASSWORD, add_cast_with_passwords, ingest_one, ingest_work

LONG_WORD = "Refundrefund" * 12  # one unbroken word: it must wrap, not widen the page


@pytest.fixture
def work(db, settings, acme, globex):  # type: ignore[no-untyped-def]
    add_cast_with_passwords(db, acme, globex)
    connect(db, acme, "x-main", "http://127.0.0.1:9/bridge")
    app = create_app(settings, db=db, run_worker=False)
    ids = ingest_work(app, db, acme, globex)
    now = utcnow()
    ids["long"] = ingest_one(db, acme, "long", f"Where is my refund? {LONG_WORD}", now,
                             author={"handle": "pat"}, reply_to="overdue_old", created_at=now + timedelta(seconds=1))
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    return ids


def sign_in(page, base_url: str, email: str = "lee@acme.test") -> None:  # type: ignore[no-untyped-def]
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(f"{base_url}/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_anchors_focus_their_form_saved_replies_fill_the_text_and_clocks_count(  # type: ignore[no-untyped-def]
        db, settings, work, page):
    from playwright.sync_api import expect  # here: the page fixture has checked that Playwright is installed

    with serve_firebreak(settings, db) as base_url:
        sign_in(page, base_url)
        mention = f"{base_url}/w/acme/mentions/{work['overdue_old']}"
        for anchor, field in (("reply", "select[name=template]"), ("escalate", "textarea[name=reason]"),
                              ("assign", "input[name=assignee]")):
            page.goto(f"{mention}#{anchor}")
            expect(page.locator(f"#{anchor} {field}")).to_be_focused()

        page.select_option("#reply select[name=template]", "thank")
        assert page.input_value("#reply textarea[name=text]").startswith("Thank you, @pat!")
        page.fill("#reply textarea[name=text]", "My own words")
        page.select_option("#reply select[name=template]", "apologise-and-help")
        assert page.input_value("#reply textarea[name=text]") == "My own words"  # never overwrites typing

        countdown = page.locator("td.countdown").first
        first = countdown.inner_text()
        assert re.fullmatch(r"OVERDUE (\d+m|\d+h \d+m)", first)
        page.evaluate("document.querySelector('td.countdown').textContent = 'stale'")
        expect(countdown).to_have_text(re.compile(r"OVERDUE (\d+m|\d+h \d+m)"), timeout=3000)  # the next tick

        page.fill("#reply textarea[name=text]", "Thanks @pat, sorted.")
        page.click("#reply button[type=submit]")
        page.wait_for_url("**done=reply#reply")
        assert page.get_by_text("Reply queued in the outbox").is_visible()
        assert page.locator("ul.outgoing li").count() == 1
        assert console_errors(page) == []


def test_the_page_fits_a_phone(db, settings, work, phone_page):  # type: ignore[no-untyped-def]
    with serve_firebreak(settings, db) as base_url:
        sign_in(phone_page, base_url)
        for name in ("overdue_old", "long"):
            phone_page.goto(f"{base_url}/w/acme/mentions/{work[name]}")
            assert horizontal_overflow(phone_page) <= 0, name
        assert phone_page.locator("ol.thread li.post").count() == 2
        assert console_errors(phone_page) == []
