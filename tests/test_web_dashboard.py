"""The dashboard page: a member sees the numbers of their workspace's data, drawn without script or inline
style, for a window chosen in the URL; anyone else learns nothing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.workflow import actions
from firebreak.workflow.models import OPEN_STATES, WorkItem
from tests.factories import WorkspaceFixture
from tests.web_support import add_cast_with_passwords, browser, ingest_work, signed_in
from tests.workflow_support import actor, services_for


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, int]:
    """acme: three red, one yellow, one green mention of the last three hours; globex: one red."""
    return ingest_work(app, db, acme, globex)


def headline(html: str) -> dict[str, str]:
    """The headline figures by label, as the page shows them."""
    block = html.split('<dl class="headline">')[1].split("</dl>")[0]
    return {label: re.sub(r"<[^>]+>", "", value).strip()
            for label, value in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block, re.S)}


def figures(html: str) -> dict[str, ET.Element]:
    """Every chart on the page by its caption, parsed as XML (each must be well-formed on its own)."""
    found = {}
    for markup in re.findall(r'<figure class="chart.*?</figure>', html, re.S):
        figure = ET.fromstring(markup)
        found[figure.find("figcaption").text] = figure
    return found


def table(figure: ET.Element) -> list[list[str]]:
    return [["".join(cell.itertext()) for cell in row] for row in figure.iter("tr")]


def open_overdue(db: Database, ws: WorkspaceFixture) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.workspace_id == ws.id, WorkItem.state.in_(OPEN_STATES), WorkItem.sla_due_at < func.now())) or 0)


def test_a_member_sees_the_numbers_of_their_workspace(app: FastAPI, work: dict[str, int], db: Database,
                                                      acme: WorkspaceFixture) -> None:
    page = signed_in(app, "lee@acme.test").get("/w/acme/dashboard")

    assert page.status_code == 200
    figures_shown = headline(page.text)
    assert figures_shown == {
        "Mentions": "5", "Red flags": "3", "Open work": "5", "Overdue": "2",
        "First response, median": "—", "First responses in time": "—",
    }
    assert 'href="/w/acme/inbox?flag=red">3</a>' in page.text
    charts = figures(page.text)
    assert set(charts) == {"Mentions by flag", "Mentions by channel", "Sentiment", "Top categories",
                           "Time to first response", "First responses in time, by team"}
    # The flag chart's numbers, read from its data table: seven days, the five mentions in the last two
    # (the oldest arrived three hours ago, which may have been yesterday).
    rows = table(charts["Mentions by flag"])
    assert rows[0] == ["Period", "red", "yellow", "green"] and len(rows) == 8
    assert [sum(int(row[n]) for row in rows[1:]) for n in (1, 2, 3)] == [3, 1, 1]
    assert all(row[1:] == ["0", "0", "0"] for row in rows[1:-2])
    categories = dict(row for row in table(charts["Top categories"])[1:])
    assert categories["legal threat"] == "3" and sum(int(n) for n in categories.values()) == 5
    assert "No data yet" in ET.tostring(charts["Time to first response"], encoding="unicode")
    # The issue stages link to their column on the board.
    assert 'href="/w/acme/issues#stage-acknowledgement"' in page.text
    assert '<a href="/w/acme/dashboard?days=7" aria-current="page">7 days</a>' in page.text


def test_answers_and_goals_show_in_the_figures(app: FastAPI, work: dict[str, int], db: Database,
                                               settings: Settings, acme: WorkspaceFixture) -> None:
    lee = actor(db, acme, "lee@acme.test")
    with db.write() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        for name, minutes in (("overdue", 4), ("overdue_old", 10)):  # red: five minutes to answer
            item = session.get(WorkItem, work[name])
            assert item is not None
            actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=work[name],
                                 to_state="responded", actor=lee, reason=None,
                                 now=item.opened_at + timedelta(minutes=minutes))

    page = signed_in(app, "lee@acme.test").get("/w/acme/dashboard?days=30")

    shown = headline(page.text)
    # Answers after 4 and 10 minutes: the median lies at the top of the 2–5m bin; one of two in time.
    assert shown["First response, median"] == "5m"
    assert shown["First responses in time"] == "50%"
    assert shown["Overdue"] == str(open_overdue(db, acme))
    charts = figures(page.text)
    assert table(charts["Time to first response"])[1:3] == [["<5m", "1"], ["5–15m", "1"]]
    assert table(charts["First responses in time, by team"])[1:] == [["crisis", "50"]]
    assert '<a href="/w/acme/dashboard?days=30" aria-current="page">30 days</a>' in page.text


def test_the_page_is_safe_under_its_content_security_policy(app: FastAPI, work: dict[str, int]) -> None:
    page = signed_in(app, "lee@acme.test").get("/w/acme/dashboard?days=90")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert " style=" not in page.text and "<script>" not in page.text and " on" + "click=" not in page.text
    assert page.text.count("<script") == page.text.count('<script src="/static/')  # files only, never inline
    assert '<link rel="stylesheet" href="/static/charts.css">' in page.text
    for sheet in ("charts.css", "dashboard.css"):
        assert TestClient(app).get(f"/static/{sheet}").status_code == 200


@pytest.mark.parametrize("days", ["0", "91", "seven", "-7", "7.5"])
def test_an_unknown_window_is_refused_by_name(app: FastAPI, work: dict[str, int], days: str) -> None:
    page = signed_in(app, "lee@acme.test").get(f"/w/acme/dashboard?days={days}")
    assert page.status_code == 422
    assert "days must be a whole number from 1 to 90" in page.text


def test_other_workspaces_and_strangers_see_nothing(app: FastAPI, work: dict[str, int]) -> None:
    gus = signed_in(app, "gus@globex.test")
    assert gus.get("/w/acme/dashboard").status_code == 404
    assert gus.get("/w/nowhere/dashboard").status_code == 404
    theirs = gus.get("/w/globex/dashboard")
    assert theirs.status_code == 200 and headline(theirs.text)["Mentions"] == "1"
    anonymous = browser(app).get("/w/acme/dashboard?days=30")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/sign-in?next=%2Fw%2Facme%2Fdashboard%3Fdays%3D30"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_page_fits_a_desktop_and_a_phone_in_a_real_browser(  # type: ignore[no-untyped-def]
        db, settings, work, viewport, request) -> None:
    from tests.browser_support import console_errors, horizontal_overflow, serve_firebreak
    from tests.web_support import PASSWORD

    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    with serve_firebreak(settings, db) as base_url:
        page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        page.goto(f"{base_url}/sign-in?next=/w/acme/dashboard")
        page.fill("input[name=email]", "lee@acme.test")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/w/acme/dashboard")
        for days in (7, 30, 90):
            page.goto(f"{base_url}/w/acme/dashboard?days={days}")
            assert page.locator("figure.chart").count() == 6
            assert horizontal_overflow(page) <= 0, days
            width = page.viewport_size["width"]
            for box in page.locator("svg.chart-svg").evaluate_all(
                    "svgs => svgs.map(svg => svg.getBoundingClientRect().toJSON())"):
                assert box["width"] > 0 and box["right"] <= width, box
            # The hidden data tables take no room; the legend and figures stay readable.
            assert page.locator(".chart-data").first.evaluate("t => t.getBoundingClientRect().width") <= 1
        assert page.locator(".windows a[aria-current=page]").inner_text() == "90 days"
        assert console_errors(page) == []
