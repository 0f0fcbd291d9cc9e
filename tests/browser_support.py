"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser), headless.

A pytest plugin (`pytest_plugins = ["tests.browser_support"]` in conftest.py) that gives tests
`browser` (one Chromium per session), `page` (a fresh desktop context per test, 1280x800) and
`phone_page` (a fresh phone context per test, 390x844). Every page records its console errors and
uncaught exceptions; `console_errors(page)` returns them so a test can assert there were none.

    def test_it(db, settings, page):
        with serve_firebreak(settings, db) as base_url:
            page.goto(f"{base_url}/newsroom/acme")
            assert console_errors(page) == []

Without Chromium or Playwright the tests skip on a laptop (run scripts/ensure-chromium.sh) and fail
under CI (CI=true), so a green CI always means the browser tests ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from tests.live_server import serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MISSING = "browser tests need Debian's chromium: run scripts/ensure-chromium.sh"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_errors: dict[Page, list[str]] = {}


def _unavailable(reason: str) -> NoReturn:
    """Skip on a laptop; fail under CI, where a skipped browser test would hide a broken set-up."""
    message = f"{MISSING} ({reason})"
    if IN_CI:
        pytest.fail(message + "; CI requires the browser tests", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session; contexts keep the tests apart."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright is not installed: {exc}")
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing")
    # Chromium's sandbox refuses to start as root (CI containers); there is nothing else to protect there.
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=arguments)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@contextmanager
def _open_page(browser: Browser, **context: Any) -> Iterator[Page]:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    errors = _errors[page] = []
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        _errors.pop(page, None)
        ctx.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh desktop context (1280x800): no cookies or storage from other tests."""
    with _open_page(browser, viewport=DESKTOP) as opened:
        yield opened


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh phone context (390x844, touch, and the page's meta viewport honoured as a phone does)."""
    with _open_page(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3) as opened:
        yield opened


def console_errors(page: Page) -> list[str]:
    """The console errors and uncaught exceptions the page has had so far (pages from these fixtures only)."""
    return list(_errors[page])


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the context's viewport (0 or less: nothing scrolls sideways).

    Measured against the viewport we asked for, not `window.innerWidth`: a phone widens its layout
    viewport to fit content that is too wide, which would hide the very overflow we look for.
    """
    viewport = page.viewport_size
    assert viewport is not None, "the page fixtures always set a viewport"
    return int(page.evaluate("document.documentElement.scrollWidth")) - viewport["width"]


@contextmanager
def serve_firebreak(settings: Settings, db: Database, *, run_worker: bool = False) -> Iterator[str]:
    """The real app on a loopback port for the block (with its in-process worker when asked); yields its base URL.

    Open event streams (the live inbox) never end by themselves, so shutdown waits at most a second for them.
    """
    with serve_app(create_app(settings, db=db, run_worker=run_worker), timeout_graceful_shutdown=1) as base_url:
        yield base_url
