"""The issues board and an issue page in a real browser: they fit a desktop and a phone without sideways
scrolling of the page (the board's columns scroll inside their own box), log no console errors, and the
forms work without JavaScript."""

from __future__ import annotations

from datetime import timedelta

import pytest

from firebreak.accounts import service as accounts
from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.issues import content, service
from firebreak.workflow.actions import Actor
from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
from tests.issues_support import runtime_of
from tests.web_support import PASSWORD, add_cast_with_passwords, ingest_work
from tests.workflow_support import add_member

LEE = "lee@acme.test"
CORA = "cora@acme.test"
LONG_WORD = "Batterydrain" * 12  # one unbroken 144-character word: it must wrap, not widen the page


@pytest.fixture
def issues(db, settings, acme, globex):  # type: ignore[no-untyped-def]
    """acme with issues in four stages; the first has linked mentions, two draft versions and a task list."""
    add_cast_with_passwords(db, acme, globex)
    add_member(db, acme, CORA, ["communications"])
    with db.write() as session:
        accounts.get_user(session=session, email=CORA).password_hash = accounts.hash_password(PASSWORD)
    work = ingest_work(create_app(settings, db=db, run_worker=False), db, acme, globex)
    ids = []
    with db.write() as session:
        runtime = runtime_of(session, settings, acme)
        lee = accounts.get_user(session=session, email=LEE)
        cora = accounts.get_user(session=session, email=CORA)
        as_lee = Actor(LEE, frozenset({"lead"}), lee.id)
        stages = runtime.loaded.playbook.issues.stage_ids
        for number, stage in enumerate(("acknowledgement", "discovery", "content_approval", "aftermath")):
            issue = service.open_issue(
                session, runtime=runtime, workspace_id=acme.id, actor=as_lee, now=utcnow() - timedelta(hours=number),
                title=f"{LONG_WORD} {number}" if number == 0 else f"Issue in {stage}", severity="critical",
                owner_email=LEE, stakeholders=[(CORA, "communications")],
                mention_ids=[work["red"], work["overdue"], work["yellow"]] if number == 0 else [])
            for target in stages[1:stages.index(stage) + 1]:
                service.move_stage(session, runtime=runtime, workspace_id=acme.id, actor=as_lee, now=utcnow(),
                                   issue_id=issue.id, target=target, override_reason="browser test")
            ids.append(issue.id)
        as_cora = Actor(CORA, frozenset({"communications"}), cora.id)
        draft = content.create_draft(session, runtime=runtime, workspace_id=acme.id, actor=as_cora, now=utcnow(),
                                     issue_id=ids[0], kind="response", title="What happened",
                                     body=f"First words.\n{LONG_WORD}")
        content.add_version(session, runtime=runtime, workspace_id=acme.id, actor=as_cora, now=utcnow(),
                            draft_id=draft.id, body=f"Better words.\n{LONG_WORD}\nA new line.")
    return ids


def sign_in(page, base_url: str, email: str = LEE) -> None:  # type: ignore[no-untyped-def]
    # The app serves no favicon yet; Chromium's automatic request for one is not what these tests are about.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(f"{base_url}/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_the_board_and_an_issue_fit_a_desktop_and_the_forms_work(db, settings, issues, page):  # type: ignore[no-untyped-def]
    with serve_firebreak(settings, db) as base_url:
        sign_in(page, base_url)
        page.goto(f"{base_url}/w/acme/issues")
        assert page.locator(".board-column").count() == 6
        assert page.locator("#stage-acknowledgement .card").count() == 1
        assert page.locator("#stage-aftermath .card").count() == 1
        assert horizontal_overflow(page) <= 0

        page.locator("#stage-acknowledgement .card-title").click()
        page.wait_for_url(f"**/w/acme/issues/{issues[0]}")
        assert page.locator(".stage-current .stage-label").inner_text() == "Acknowledgement"
        assert page.locator("figure.chart svg").count() == 1
        assert page.locator("pre.diff .diff-add").count() >= 1 and page.locator("pre.diff .diff-del").count() >= 1
        assert horizontal_overflow(page) <= 0

        # Tick a task off with the plain form: the page comes back at the task, ticked.
        first_task = page.locator("li.task").first
        task_id = first_task.get_attribute("id")
        first_task.locator("button.complete").click()
        page.wait_for_url(f"**/w/acme/issues/{issues[0]}#{task_id}")
        assert "done" in (page.locator(f"#{task_id}").get_attribute("class") or "")

        assert console_errors(page) == []

        # A refused stage move shows its reason next to the form (Chromium logs the page's 422 status, nothing else).
        with page.expect_navigation():  # waits for the refused page to load, its stylesheets included
            page.locator("#move button[type=submit]").click()
        assert "cannot be left yet" in page.locator("#move .error").inner_text()
        assert horizontal_overflow(page) <= 0
        assert [error for error in console_errors(page) if "status of 422" not in error] == []


def test_the_board_and_an_issue_fit_a_phone_without_sideways_scrolling(db, settings, issues, phone_page):  # type: ignore[no-untyped-def]
    with serve_firebreak(settings, db) as base_url:
        sign_in(phone_page, base_url)
        phone_page.goto(f"{base_url}/w/acme/issues")
        assert phone_page.evaluate("window.innerWidth") == 390
        assert horizontal_overflow(phone_page) <= 0
        board = phone_page.locator(".board")
        scroll_width, client_width = board.evaluate("b => [b.scrollWidth, b.clientWidth]")
        assert scroll_width > client_width, "the columns scroll inside the board, side by side"

        for issue_id in (issues[0], issues[3]):
            phone_page.goto(f"{base_url}/w/acme/issues/{issue_id}")
            assert phone_page.locator("h1").count() == 1
            assert horizontal_overflow(phone_page) <= 0, issue_id
        assert phone_page.locator("#aftermath").count() == 1
        assert console_errors(phone_page) == []
