"""An issue's ripple map and aftermath over HTTP, against the real app served on loopback, on both databases.

The issue is the scenario of test_issues_aftermath (six linked posts, three brand replies, one
publication); people act with personal tokens, so permissions are their playbook roles.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from firebreak.accounts import service as accounts
from firebreak.app import create_app
from firebreak.issues.newsroom import link_for
from firebreak.settings import Settings
from firebreak.workspaces import service as workspace_service
from tests.issues_support import LEX, OWEN, SUE, timeline_kinds
from tests.live_server import serve_app
from tests.test_issues_aftermath import PUBLISHED_AT, SCRIPT, Scenario, build_scenario

BASE_URL = "https://news.acme.example"
WRITE = ["mentions:read", "workflow:write"]


@pytest.fixture
def scenario(db, settings, acme, globex) -> Scenario:  # type: ignore[no-untyped-def]
    return build_scenario(db, settings, acme, globex)


@pytest.fixture
def tokens(db, acme, scenario) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A personal token per person of the issue cast (write scopes), plus acme's read-only token."""
    found = {}
    with db.write() as session:
        for email in (OWEN, SUE, LEX):
            user = accounts.get_user(session=session, email=email)
            _, found[email] = workspace_service.create_token(session=session, workspace_id=acme.id, name=email,
                                                             scopes=WRITE, user_id=user.id)
    found["reader"] = acme.read_token
    return found


@pytest.fixture
def client(db, settings: Settings) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    settings.public_url = BASE_URL
    with serve_app(create_app(settings, db=db, run_worker=False)) as base, httpx.Client(base_url=base,
                                                                                       timeout=30) as http:
        yield http


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def path(scenario: Scenario, rest: str, workspace: str = "acme") -> str:
    return f"/api/v1/workspaces/{workspace}/issues/{scenario.issue_id}{rest}"


def test_ripple_over_http(client, scenario, tokens):
    answer = client.get(path(scenario, "/ripple"), params={"bucket": "hour"}, headers=as_(tokens["reader"]))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["bucket"], data["total"]) == ("hour", 6)
    assert [(c["channel"], c["count"]) for c in data["channels"]] == [("x-main", 5), ("reddit", 1)]
    assert [(s["site"], s["count"]) for s in data["sites"]] == [("x", 4), ("www.reddit.com", 1), ("x.com", 1)]
    assert [(slot["start"], slot["total"], slot["channels"]) for slot in data["series"]] == [
        ("2026-11-13T16:00:00Z", 4, {"x-main": 3, "reddit": 1}), ("2026-11-13T17:00:00Z", 2, {"x-main": 2})]
    assert [(t["conversation_id"], t["count"], t["reply_to_external_id"]) for t in data["threads"]] == [
        ("a1", 2, "a4"), ("a2", 1, "a2"), ("a3", 1, "a3"), ("a6", 1, "a6"), ("a5", 1, "a5")]
    # More than three days after the issue opened, it is charted by the day unless asked.
    assert client.get(path(scenario, "/ripple"), headers=as_(tokens["reader"])).json()["bucket"] == "day"
    refused = client.get(path(scenario, "/ripple"), params={"bucket": "week"}, headers=as_(tokens["reader"]))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "query.bucket"


def test_follow_ups_over_http(client, scenario, tokens):
    listed = client.get(path(scenario, "/follow-ups"), headers=as_(tokens["reader"]))
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["authors"], page["done"]) == (3, 0)
    assert [(item["handle"], item["channel"], len(item["posts"])) for item in page["items"]] == [
        ("ann", "x-main", 2), ("bob", "reddit", 1), ("eve", "x-main", 1)]
    link = link_for(BASE_URL, "acme", "latch-fixed")
    assert page["items"][0]["message"] == f"Hi @ann, Latch battery drain (Acme issue 1) is fixed: {link}. " \
                                          "Was it {problem}?"

    bob = scenario.authors["bob"]
    done = client.post(path(scenario, f"/follow-ups/{bob}/done"), json={"note": "called"}, headers=as_(tokens[SUE]))
    assert done.status_code == 200, done.text
    assert (done.json()["handle"], done.json()["followed_up"], done.json()["followed_up_by"]) == ("bob", True, SUE)
    again = client.post(path(scenario, f"/follow-ups/{bob}/done"), headers=as_(tokens[OWEN]))
    assert again.status_code == 200 and again.json()["followed_up_by"] == SUE
    assert client.get(path(scenario, "/follow-ups"), headers=as_(tokens["reader"])).json()["done"] == 1

    cat = scenario.authors["cat"]
    missing = client.post(path(scenario, f"/follow-ups/{cat}/done"), headers=as_(tokens[OWEN]))
    assert missing.status_code == 404 and "no linked complaint" in missing.json()["error"]["message"]
    forbidden = client.post(path(scenario, f"/follow-ups/{bob}/done"), headers=as_(tokens[LEX]))
    assert forbidden.status_code == 403 and "'respond' permission" in forbidden.json()["error"]["message"]
    read_only = client.post(path(scenario, f"/follow-ups/{bob}/done"), headers=as_(tokens["reader"]))
    assert read_only.status_code == 403 and "workflow:write" in read_only.json()["error"]["message"]


def test_the_summary_as_json_and_as_a_printable_page(client, scenario, tokens):
    answer = client.get(path(scenario, "/summary"), headers=as_(tokens["reader"]))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    summary = answer.json()
    assert datetime.fromisoformat(summary["sentiment"]["first_publication_at"]) == PUBLISHED_AT
    assert summary["sentiment"]["before"]["shares"] == {"negative": 0.75, "neutral": 0.25, "positive": 0.0}
    assert summary["sentiment"]["after"]["shares"] == {"negative": 0.5, "neutral": 0.0, "positive": 0.5}
    # Read days later: the three posts nobody answered are now late too.
    response = summary["first_response"]
    assert (response["in_time"], response["late"], response["waiting"], response["compliance"]) == (2, 4, 0, 0.3333)
    assert [(p["slug"], p["url"]) for p in summary["publications"]] == [
        ("latch-fixed", link_for(BASE_URL, "acme", "latch-fixed"))]
    assert summary["stages"][0]["overdue"] is True
    assert datetime.fromisoformat(summary["stages"][0]["left_at"]) == datetime(2026, 11, 13, 17, 30, tzinfo=UTC)

    page = client.get(path(scenario, "/summary"), params={"format": "html"}, headers=as_(tokens["reader"]))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.text.startswith("<!DOCTYPE html>") and "<script" not in page.text
    assert SCRIPT.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#x27;") in page.text


def test_timeline_and_lessons_over_http(client, db, scenario, tokens):
    events = client.get(path(scenario, "/timeline"), headers=as_(tokens["reader"]))
    assert events.status_code == 200
    assert [event["kind"] for event in events.json()] == timeline_kinds(db, scenario.issue_id)
    assert events.json()[0]["details"]["title"] == "Latch battery drain"

    created = client.post(path(scenario, "/lessons"), headers=as_(tokens[OWEN]), json={
        "text": "Set the link rules at acknowledgement", "proposed_change": "issues:\n  publish_throttle: 10s\n"})
    assert created.status_code == 201, created.text
    assert (created.json()["sections"], created.json()["author"]) == (["issues"], OWEN)
    refused = client.post(path(scenario, "/lessons"), headers=as_(tokens[OWEN]), json={
        "text": "A typo", "proposed_change": "isues:\n  publish_throttle: 10s\n"})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "proposed_change" and "'isues', which is not a playbook section" in error["message"]
    outsider = client.post(path(scenario, "/lessons"), headers=as_(tokens[LEX]), json={"text": "From legal"})
    assert outsider.status_code == 201  # lex is the issue's legal stakeholder

    lessons = client.get(path(scenario, "/lessons"), headers=as_(tokens["reader"])).json()
    assert [(lesson["text"], lesson["sections"]) for lesson in lessons] == [
        ("Set the link rules at acknowledgement", ["issues"]), ("From legal", [])]
    kinds = [event["kind"] for event in client.get(path(scenario, "/timeline"),
                                                   headers=as_(tokens["reader"])).json()]
    assert kinds[-2:] == ["lesson.added", "lesson.added"]


def test_another_workspace_sees_nothing(client, scenario, globex):
    for rest in ("/ripple", "/follow-ups", "/summary", "/timeline", "/lessons"):
        answer = client.get(path(scenario, rest, workspace="globex"), headers=as_(globex.admin_token))
        assert answer.status_code == 404, (rest, answer.text)
        assert "does not exist in this workspace" in answer.json()["error"]["message"]
    wrong_token = client.get(path(scenario, "/ripple"), headers=as_(globex.admin_token))
    assert wrong_token.status_code == 404 and "workspace 'acme' does not exist" in wrong_token.json()["error"][
        "message"]
