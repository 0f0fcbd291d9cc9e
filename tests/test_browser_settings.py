"""The first run and the playbook editor in a real browser, on a desktop and a phone: set up, upload a playbook
with a mistake, see it at its line, fix it; no console errors, nothing wider than the screen."""

from __future__ import annotations

from importlib import resources

from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak

DEFAULT_TEXT = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
PASSWORD = "a long first password"
BROKEN = DEFAULT_TEXT.replace("      flag: red\n", "      flag: purple\n", 1)
BAD_LINE = BROKEN[:BROKEN.index("flag: purple")].count("\n") + 1
REFUSED_LOAD = "console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
SETTINGS_PAGES = ("", "/playbook", "/playbook/history", "/people", "/teams", "/channels", "/tokens")


def _first_run_then_a_playbook_mistake(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/")
    page.wait_for_url("**/setup")
    assert page.evaluate("window.innerWidth") == page.viewport_size["width"], "laid out for this screen"
    assert horizontal_overflow(page) <= 0, "/setup"
    page.fill("#setup-email", "owner@brand.test")
    page.fill("#setup-name", "Olu Owner")
    page.fill("#setup-password", PASSWORD)
    page.fill("#setup-confirmation", PASSWORD)
    page.fill("#setup-workspace-name", "Brand")
    page.fill("#setup-workspace-slug", "brand")
    page.get_by_role("button", name="Create and sign in").click()
    page.wait_for_url("**/w/brand/settings")
    assert page.locator("h1").inner_text().startswith("Settings")

    page.get_by_role("link", name="Playbook", exact=True).first.click()
    page.wait_for_url("**/w/brand/settings/playbook")
    assert page.locator("#playbook-file").is_visible(), "the script shows the file picker"
    page.set_input_files("#playbook-file", files=[
        {"name": "brand.yaml", "mimeType": "text/yaml", "buffer": BROKEN.encode()}])
    page.wait_for_function("document.querySelector('#playbook-text').value.includes('flag: purple')")
    assert "Loaded brand.yaml" in page.locator("[data-upload-status]").inner_text()
    page.get_by_role("button", name="Check and apply").click()
    page.wait_for_selector(".refused")

    assert "1 problem in brand.yaml" in page.locator(".refused h2").inner_text()
    assert "unchanged" in page.locator(".refused").inner_text()
    bad = page.locator("ol.numbered li.bad")
    assert bad.count() == 1 and bad.get_attribute("id") == f"line-{BAD_LINE}"
    assert "flag: purple" in bad.inner_text() and "Input should be" in bad.locator(".problem").inner_text()
    link = page.locator(".problems a")
    assert link.inner_text() == f"line {BAD_LINE}"
    link.click()
    page.wait_for_url(f"**#line-{BAD_LINE}")
    assert page.evaluate("document.querySelector(':target').id") == f"line-{BAD_LINE}"
    shown = page.evaluate(f"""() => {{
        const box = document.getElementById('line-{BAD_LINE}').getBoundingClientRect();
        return box.top >= 0 && box.bottom <= window.innerHeight; }}""")
    assert shown, "the link scrolls the offending line into view"
    assert page.input_value("#playbook-text") == BROKEN, "the text comes back to be fixed"
    assert horizontal_overflow(page) <= 0, "the refused playbook"

    page.fill("#playbook-text", DEFAULT_TEXT.replace("  version: 1\n", "  version: brand-1\n", 1))
    page.fill("#playbook-comment", "our first playbook")
    page.get_by_role("button", name="Check and apply").click()
    page.wait_for_url("**/settings/playbook?applied=*")
    assert "is now in force" in page.locator("[role=status]").first.inner_text()
    assert "brand-1+" in page.locator(".in-force").inner_text()

    for path in SETTINGS_PAGES:
        page.goto(f"{base_url}/w/brand/settings{path}")
        assert horizontal_overflow(page) <= 0, path
    # Chromium logs every 4xx document as a failed load; the refused playbook's 422 is the one expected.
    errors = console_errors(page)
    assert errors.count(REFUSED_LOAD) == 1
    assert [error for error in errors if error != REFUSED_LOAD] == []


def test_first_run_and_a_playbook_mistake_on_a_desktop(db, settings, page):
    with serve_firebreak(settings, db) as base_url:
        _first_run_then_a_playbook_mistake(page, base_url)


def test_first_run_and_a_playbook_mistake_on_a_phone(db, settings, phone_page):
    with serve_firebreak(settings, db) as base_url:
        _first_run_then_a_playbook_mistake(phone_page, base_url)

