"""The inbox in a real browser: new work announces itself without a reload, the keys move and tick rows, the
countdowns tick, nothing breaks the strict CSP, and it fits a phone."""

from __future__ import annotations

import re

import pytest

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.worker import BackgroundWorker
from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
from tests.web_support import PASSWORD, add_cast_with_passwords, ingest_one, ingest_work

LONG_WORD = "Latchbattery" * 12  # one unbroken word: it must wrap, not widen the page


@pytest.fixture
def work(db, settings, acme, globex):  # type: ignore[no-untyped-def]
    add_cast_with_passwords(db, acme, globex)
    app = create_app(settings, db=db, run_worker=False)
    ids = ingest_work(app, db, acme, globex)
    ids["long"] = ingest_one(db, acme, "long", f"My order never arrived {LONG_WORD}", utcnow(),
                             author={"handle": "averyveryverylonghandle" * 3, "followers": 123456789,
                                     "tags": ["journalist", "key_customer"]})
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    ids["app"] = app  # type: ignore[assignment]
    return ids


def sign_in(page, base_url: str, email: str = "lee@acme.test") -> None:  # type: ignore[no-untyped-def]
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(f"{base_url}/sign-in?next=/w/acme/inbox")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/w/acme/inbox")


def test_new_work_shows_a_banner_and_the_keys_move_the_selection(db, settings, acme, work, page):
    from playwright.sync_api import expect  # here: the page fixture has checked that Playwright is installed

    with serve_firebreak(settings, db) as base_url:
        sign_in(page, base_url)
        banner = page.locator("#live")
        expect(banner).to_be_hidden()
        rows = page.locator("#inbox-rows tbody tr[data-mention]")
        assert rows.count() == 6

        # Work arriving from another process (here: the test's own pipeline run) is announced within seconds.
        ingest_one(db, acme, "breaking", "see you in court, acme", utcnow())
        BackgroundWorker(db, work["app"].state.services.pipeline()).drain()
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text(re.compile(r"1 new"))
        assert rows.count() == 6, "the page did not reload itself"

        page.keyboard.press("j")
        expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
        page.keyboard.press("j")
        expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
        expect(rows.nth(0)).not_to_have_class(re.compile(r"\bcurrent\b"))
        page.keyboard.press("k")
        expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))

        page.keyboard.press("x")
        expect(rows.nth(0).locator("input[type=checkbox]")).to_be_checked()
        page.keyboard.press("x")
        expect(rows.nth(0).locator("input[type=checkbox]")).not_to_be_checked()

        page.keyboard.press("?")
        expect(page.locator("#keys-help")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#keys-help")).to_be_hidden()

        # Typing in a field is typing, not shortcuts.
        page.fill("input[name=q]", "")
        page.type("input[name=q]", "jk")
        expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
        assert page.input_value("input[name=q]") == "jk"

        # The countdown keeps counting without a reload.
        countdown = rows.nth(0).locator("td.sla")
        page.evaluate("document.querySelector('#inbox-rows td[data-due]').textContent = 'stale'")
        expect(countdown).to_have_text(re.compile(r"OVERDUE (\d+m|\d+h \d+m)"), timeout=3000)

        # Clicking the banner shows the first page again, with the new work on it.
        banner.locator("a").click()
        page.wait_for_load_state()
        expect(rows).to_have_count(7)

        # a takes the selected row (its own small form), o opens it, e goes to its escalate form.
        page.keyboard.press("j")
        taken = rows.nth(0).get_attribute("data-mention")
        page.keyboard.press("a")
        page.wait_for_url("**done=assign_me&count=1")
        expect(page.locator("p.notice")).to_have_text("1 assigned to you.")
        expect(page.locator(f"#inbox-rows tr[data-mention='{taken}'] td.state")).to_have_text("assigned")
        page.keyboard.press("j")
        page.keyboard.press("o")
        page.wait_for_url(re.compile(r"/w/acme/mentions/\d+$"))
        page.go_back()
        page.keyboard.press("j")
        page.keyboard.press("e")
        page.wait_for_url(re.compile(r"/w/acme/mentions/\d+#escalate$"))
        assert console_errors(page) == []


def test_the_inbox_fits_a_phone(db, settings, work, phone_page):
    with serve_firebreak(settings, db) as base_url:
        sign_in(phone_page, base_url)
        assert phone_page.evaluate("window.innerWidth") == 390
        assert horizontal_overflow(phone_page) <= 0
        phone_page.goto(f"{base_url}/w/acme/inbox?sort=newest&flag=red&q=court%20lawyer")
        assert horizontal_overflow(phone_page) <= 0
        assert console_errors(phone_page) == []
