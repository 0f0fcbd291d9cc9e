"""The whole day in a real browser: a red mention arrives live, is taken, becomes an issue, is approved and published.

Chromium (Playwright) against the real app under uvicorn with its in-process worker, on both databases:
lee (team lead) watches the inbox; a legal threat arrives through the signed webhook and shows up without
a reload; lee opens it, takes it, opens an issue from it, drafts the acknowledgement; lex (legal) approves
it in a browser of her own; cora (communications) publishes it; the issue moves through every stage; the
public newsroom page shows the words. Then gus, who works for globex, finds nothing of acme's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Page, expect

from firebreak.accounts import service as accounts
from firebreak.mentions.webhook import sign
from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
from tests.factories import WorkspaceFixture
from tests.web_support import PASSWORD, add_cast_with_passwords
from tests.workflow_support import add_member

pytestmark = pytest.mark.slow

THREAT = "Your app leaked my card details. My lawyer will be in touch about this."
ACKNOWLEDGEMENT = "We know some customers saw a payment error today. We are investigating and will update here."


@contextmanager
def person(browser: Browser, base_url: str, email: str, *, expected_404s: bool = False) -> Iterator[Page]:
    """A desktop browser context signed in as `email` (its own cookies, like a second person's laptop).

    Chromium logs every 404 page it loads as a console error; `expected_404s` lets those (and only those) pass.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, base_url, email)
        yield page
        unexpected = [error for error in errors if not (expected_404s and "status of 404" in error)]
        assert unexpected == [], unexpected
    finally:
        context.close()


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/w/[a-z0-9-]+/inbox.*"))


def deliver(base_url: str, ws: WorkspaceFixture, external_id: str, text: str) -> int:
    """POST one mention to the workspace's webhook as a bridge would, signed with the channel's secret."""
    body = orjson.dumps({"external_id": external_id, "text": text,
                         "author": {"handle": "angry_customer", "followers": 5400}})
    ts = int(time.time())
    response = httpx.post(f"{base_url}/api/v1/workspaces/{ws.slug}/mentions", content=body, headers={
        "Content-Type": "application/json", "X-Firebreak-Channel": "hooks", "X-Firebreak-Timestamp": str(ts),
        "X-Firebreak-Signature": sign(ws.webhook_secret, ts, body)})
    assert response.status_code == 202, response.text
    return int(response.json()["ids"][0])


def submit_form(page: Page, form_selector: str, button: str | None = None) -> None:
    """Click a form's submit button and wait for the page it leads to."""
    form = page.locator(form_selector)
    target = form.get_by_role("button", name=button) if button else form.locator("button[type=submit]").first
    with page.expect_navigation():
        target.click()


def move_to(page: Page, stage: str, *, override: str | None = None) -> None:
    page.locator("#move-stage").select_option(stage)
    if override and page.locator("#override-reason").count():  # shown only while something blocks the gate
        page.locator("#override-reason").fill(override)
    submit_form(page, "#move", "Move")
    expect(page.locator("#move [role=alert]")).to_have_count(0)


def tick_current_tasks(page: Page) -> None:
    """Tick off every open task of the current stage, one plain form post at a time."""
    while True:
        current = page.locator("h3.task-stage.current + ul.tasks button.complete")
        if current.count() == 0:
            return
        with page.expect_navigation():
            current.first.click()


def test_a_red_mention_arrives_live_and_runs_to_a_published_answer(browser, db, settings, acme, globex):
    add_cast_with_passwords(db, acme, globex)
    add_member(db, acme, "cora@acme.test", ["communications"])
    with db.write() as session:
        accounts.get_user(session=session, email="cora@acme.test").password_hash = accounts.hash_password(PASSWORD)

    with serve_firebreak(settings, db, run_worker=True) as base_url, \
            person(browser, base_url, "lee@acme.test") as lee:
        # The inbox is open when the threat arrives; it appears without a reload.
        lee.goto(f"{base_url}/w/acme/inbox")
        expect(lee.locator("#inbox-rows tbody tr[data-mention]")).to_have_count(0)
        mention_id = deliver(base_url, acme, "threat-1", THREAT)
        banner = lee.locator("#live")
        expect(banner).to_be_visible(timeout=15_000)
        expect(banner).to_contain_text("1 new")
        with lee.expect_navigation():
            banner.get_by_role("link", name="show").click()
        row = lee.locator(f"tr[data-mention='{mention_id}']")
        expect(row).to_be_visible()
        expect(row.locator(".flag")).to_have_text("red")
        assert horizontal_overflow(lee) <= 0  # eleven columns fit 1280 px

        # Open it, take it.
        row.get_by_role("link").first.click()
        lee.wait_for_url(f"**/w/acme/mentions/{mention_id}")
        expect(lee.locator("blockquote").first).to_contain_text("My lawyer will be in touch")
        submit_form(lee, "#assign", "Assign to me")
        expect(lee.locator("dl", has_text="Assignee")).to_contain_text("lee@acme.test")

        # Open an issue from it.
        lee.locator("#open-issue").get_by_label("Title").fill("Payment data leak claims")
        lee.locator("#open-issue").get_by_label("Severity").select_option("critical")
        submit_form(lee, "#open-issue", "Open issue")
        lee.wait_for_url(re.compile(r".*/w/acme/issues/\d+"))
        issue_url = lee.url.split("#")[0]
        issue_path = urlsplit(issue_url).path
        expect(lee.locator("h1")).to_contain_text("Payment data leak claims")
        expect(lee.locator("#mentions")).to_contain_text("My lawyer will be in touch")

        # The acknowledgement: drafted by the lead, sent to legal review.
        lee.locator("#new-draft").get_by_label("Kind").select_option("acknowledgement")
        lee.locator("#draft-title").fill("We're aware")
        lee.locator("#draft-body").fill(ACKNOWLEDGEMENT)
        submit_form(lee, "#new-draft", "Start draft")
        submit_form(lee, "#drafts form[action$='/submit']", "Send to legal review")
        expect(lee.locator("#drafts .legal-review").get_by_role("button", name="Approve")).to_be_disabled()  # lead: no

        # Legal approves in her own browser.
        with person(browser, base_url, "lex@acme.test") as lex:
            lex.goto(issue_url + "#drafts")
            lex.locator("#drafts .legal-review textarea").fill("Accurate and careful. Approved.")
            submit_form(lex, "#drafts .legal-review", "Approve")
            expect(lex.locator("#drafts .locked-note")).to_contain_text("Approved by lex@acme.test")

        # Communications publishes it to the newsroom.
        with person(browser, base_url, "cora@acme.test") as cora:
            cora.goto(issue_url + "#publish")
            cora.locator("#publish-slug").fill("payment-error-update")
            reply_box = cora.locator("#publish-form input[name=reply_in_threads]")
            if reply_box.is_checked():
                reply_box.uncheck()
            submit_form(cora, "#publish-form", "Publish")
            expect(cora.locator("#publish a[href$='/newsroom/acme/payment-error-update']")).to_have_count(1)

        # The lead runs the stages: ticks the checklists, records the decision, moves on.
        lee.goto(issue_url)
        tick_current_tasks(lee)
        move_to(lee, "discovery")
        tick_current_tasks(lee)
        lee.locator("#decision input[value=one_off]").check()
        lee.locator("#decision-reason").fill("One customer's card was used elsewhere; no breach found.")
        submit_form(lee, "#decision form")
        move_to(lee, "internal_discussion")
        tick_current_tasks(lee)
        move_to(lee, "content_approval", override="The acknowledgement is the whole answer for a one-off.")
        move_to(lee, "publishing", override="Published already at acknowledgement.")
        move_to(lee, "aftermath", override="Nothing more to publish.")
        expect(lee.locator("#aftermath")).to_be_visible()
        expect(lee.locator("#timeline")).to_contain_text("stage")

        # The public page, with no sign-in.
        public = lee.context.browser.new_context()
        try:
            reader = public.new_page()
            reader.goto(f"{base_url}/newsroom/acme/payment-error-update")
            expect(reader.locator("main")).to_contain_text("We are investigating")
        finally:
            public.close()

    # globex's agent sees nothing of acme's, through the UI either.
    with serve_firebreak(settings, db) as base_url, person(browser, base_url, "gus@globex.test",
                                                                expected_404s=True) as gus:
        assert "/w/globex/inbox" in gus.url
        expect(gus.locator("main")).not_to_contain_text("My lawyer will be in touch")
        for path in ("/w/acme/inbox", f"/w/acme/mentions/{mention_id}", issue_path,
                     "/w/acme/dashboard", "/w/acme/settings"):
            response = gus.goto(base_url + path)
            assert response is not None and response.status == 404, path
            expect(gus.locator("h1")).to_contain_text("not found", ignore_case=True)
        gus.goto(f"{base_url}/w/globex/mentions/{mention_id}")
        expect(gus.locator("h1")).to_contain_text("not found", ignore_case=True)


def test_every_main_page_fits_a_phone(browser, db, settings, acme, globex, phone_page):
    add_cast_with_passwords(db, acme, globex)
    with serve_firebreak(settings, db) as base_url:
        sign_in(phone_page, base_url, "lee@acme.test")
        for path in ("/w/acme/inbox", "/w/acme/issues", "/w/acme/dashboard", "/w/acme/settings",
                     "/w/acme/settings/playbook", "/account/password"):
            response = phone_page.goto(base_url + path)
            assert response is not None and response.status == 200, path
            assert horizontal_overflow(phone_page) <= 0, path
        assert console_errors(phone_page) == []
