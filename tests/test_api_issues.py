"""Issues over HTTP: open, board, detail and every lifecycle change, with real tokens acting as real people,
on SQLite and PostgreSQL; refusals by role (403), by workspace (404), by value (422) and by revision (409)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.settings import Settings
from tests.factories import WorkspaceFixture
from tests.issues_support import (
    ANA,
    CORA,
    GUS,
    LEE,
    LEX,
    OWEN,
    SUE,
    IssueCast,
    add_issue_cast,
    give_roles,
    personal_token,
)
from tests.workflow_support import ingest_at, post


@pytest.fixture
def cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> IssueCast:
    return add_issue_cast(db, acme, globex)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app: FastAPI = create_app(settings, db=db, run_worker=False)
    with TestClient(app) as http:
        yield http


class Api:
    """Calls as one person (a personal token) in one workspace."""

    def __init__(self, client: TestClient, slug: str, token: str) -> None:
        self.client, self.base, self.headers = client, f"/api/v1/workspaces/{slug}/issues", {
            "Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str = "", *, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, self.base + path, headers=self.headers, **kwargs)
        assert response.status_code == status, response.text
        return response.json()  # type: ignore[no-any-return]


def as_person(client: TestClient, db: Database, ws: WorkspaceFixture, email: str, *,
              scopes: tuple[str, ...] = ("mentions:read", "workflow:write")) -> Api:
    return Api(client, ws.slug, personal_token(db, ws, email, scopes))


def test_an_issue_from_open_to_close_over_http(client: TestClient, db: Database, acme: WorkspaceFixture,
                                               cast: IssueCast) -> None:
    now = utcnow()
    ids = ingest_at(db, acme, [post("h1", "latch battery dead", at=now, url="https://x.com/u/status/9"),
                               post("h2", "mine too", at=now)], received_at=now)
    owen, ana, sue = (as_person(client, db, acme, email) for email in (OWEN, ANA, SUE))
    opened = owen.call("POST", json={
        "title": "Latch battery drain", "summary": "Firmware 4.2", "severity": "high", "mention_ids": ids[:1],
        "stakeholders": [{"email": CORA, "role": "communications"}, {"email": SUE, "role": "support"}],
        "link_rules": {"keywords": ["battery"]}}, status=201)
    issue_id = opened["id"]
    assert (opened["number"], opened["stage"], opened["owner"], opened["opened_from"]) == (
        1, "acknowledgement", OWEN, "mentions")
    assert opened["counts"]["linked_mentions"] == 1 and opened["counts"]["by_site"] == {"x.com": 1}
    assert opened["current"]["blockers"][0].startswith("1 required task is open")
    assert opened["link_rules"]["keywords"] == ["battery"]

    board = owen.call("GET")
    [card] = board["columns"][0]["cards"]
    assert (card["id"], card["owner"], card["linked_mentions"], card["overdue"]) == (issue_id, OWEN, 1, False)
    assert 0 < card["time_left_seconds"] <= 7200
    assert owen.call("GET", params={"state": "closed"})["columns"][0]["cards"] == []
    assert owen.call("GET", params={"state": "gone"}, status=422)["error"]["field"] == "query.state"

    # An agent links (respond) and unlinks; linking again changes nothing.
    assert ana.call("POST", f"/{issue_id}/mentions", json={"mention_ids": ids})["linked"] == 1
    assert ana.call("POST", f"/{issue_id}/mentions", json={"mention_ids": ids})["linked"] == 0
    assert ana.call("DELETE", f"/{issue_id}/mentions/{ids[1]}")["counts"]["linked_mentions"] == 1

    # Tasks: sue ticks off her own, the owner adds and reopens.
    detail = owen.call("GET", f"/{issue_id}")
    support_task = next(t for t in detail["tasks"][0]["tasks"] if t["owner"] == SUE)
    done = sue.call("POST", f"/{issue_id}/tasks/{support_task['id']}/complete")
    assert next(t for t in done["tasks"][0]["tasks"] if t["id"] == support_task["id"])["done_by"] == SUE
    owen.call("POST", f"/{issue_id}/tasks/{support_task['id']}/reopen")
    added = owen.call("POST", f"/{issue_id}/tasks", json={"title": "Call the firmware team", "owner": SUE,
                                                         "due_at": "2030-01-01T09:00:00Z", "required": True},
                      status=201)
    assert added["tasks"][0]["tasks"][-1]["title"] == "Call the firmware team"

    # People and edits.
    with_legal = owen.call("POST", f"/{issue_id}/stakeholders", json={"email": LEX, "role": "legal"})
    assert {"email": LEX, "role": "legal"} in with_legal["stakeholders"]
    without = owen.call("DELETE", f"/{issue_id}/stakeholders", params={"email": LEX, "role": "legal"})
    assert {"email": LEX, "role": "legal"} not in without["stakeholders"]
    edited = owen.call("PATCH", f"/{issue_id}", json={"severity": "critical", "revision": without["revision"]})
    assert edited["severity"] == "critical"
    stale = owen.call("PATCH", f"/{issue_id}", json={"title": "Old news", "revision": 1}, status=409)
    assert stale["error"]["field"] == "revision"

    # The gate blocks until overridden with a reason; the decision; then back to close early.
    blocked = owen.call("POST", f"/{issue_id}/stage", json={"stage": "discovery"}, status=422)
    assert blocked["error"]["field"] == "override_reason" and "2 required tasks are open" in blocked["error"]["message"]
    moved = owen.call("POST", f"/{issue_id}/stage", json={"stage": "discovery", "override_reason": "acknowledged"})
    assert moved["stage"] == "discovery" and moved["stages"][0]["override_reason"] == "acknowledged"
    assert moved["current"]["blockers"][-1] == "record the one-off / systemic decision and its reason"
    decided = owen.call("POST", f"/{issue_id}/decision", json={"decision": "one_off", "reason": "one batch"})
    assert (decided["decision"], decided["decision_reason"]) == ("one_off", "one batch")
    assert owen.call("POST", f"/{issue_id}/decision", json={"decision": "both", "reason": "x"},
                     status=422)["error"]["field"] == "body.decision"
    closed = owen.call("POST", f"/{issue_id}/close", json={"reason": "one-off: customers refunded"})
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    assert [event["kind"] for event in closed["timeline"]][-3:] == ["stage.moved", "decision.recorded",
                                                                    "issue.closed"]
    assert owen.call("GET", params={"state": "closed"})["columns"][1]["cards"][0]["id"] == issue_id
    refused = owen.call("POST", f"/{issue_id}/tasks", json={"title": "late"}, status=422)
    assert refused["error"]["field"] == "state"


def test_roles_are_checked(client: TestClient, db: Database, acme: WorkspaceFixture, cast: IssueCast) -> None:
    owen, ana, lex, cora = (as_person(client, db, acme, email) for email in (OWEN, ANA, LEX, CORA))
    reader = as_person(client, db, acme, OWEN, scopes=("mentions:read",))
    body = {"title": "Checkout errors", "owner": OWEN}
    for who in (ana, lex):
        refused = who.call("POST", json=body, status=403)
        assert "open_issue" in refused["error"]["message"]
    assert "workflow:write" in reader.call("POST", json=body, status=403)["error"]["message"]
    issue_id = owen.call("POST", json={**body, "severity": "low"}, status=201)["id"]
    assert reader.call("GET", f"/{issue_id}")["id"] == issue_id
    assert "open_issue" in ana.call("POST", f"/{issue_id}/stage", json={"stage": "discovery",
                                                                      "override_reason": "go"},
                                    status=403)["error"]["message"]
    assert "override_gate" in cora.call("POST", f"/{issue_id}/stage", json={"stage": "discovery",
                                                                          "override_reason": "go"},
                                        status=403)["error"]["message"]
    assert "override_gate" in cora.call("POST", f"/{issue_id}/close", json={"reason": "dup"},
                                        status=403)["error"]["message"]
    assert "respond" in lex.call("POST", f"/{issue_id}/mentions", json={"mention_ids": [1]},
                                 status=403)["error"]["message"]
    lee = as_person(client, db, acme, LEE)
    assert lee.call("POST", f"/{issue_id}/stage", json={"stage": "discovery", "override_reason": "go"})[
        "stage"] == "discovery"
    # Bad values are 422 naming the field.
    assert owen.call("POST", json={"title": "x", "owner": GUS}, status=422)["error"]["field"] == "owner"
    assert owen.call("POST", json={"title": "x", "severity": "dire"}, status=422)["error"]["field"] == "body.severity"
    assert owen.call("POST", f"/{issue_id}/stakeholders", json={"email": SUE, "role": "owner"},
                     status=422)["error"]["field"] == "body.role"
    assert owen.call("POST", f"/{issue_id}/tasks/424242/complete", status=404)["error"]["code"] == "not_found"


def test_another_workspace_is_invisible(client: TestClient, db: Database, acme: WorkspaceFixture,
                                        globex: WorkspaceFixture, cast: IssueCast) -> None:
    owen = as_person(client, db, acme, OWEN)
    issue_id = owen.call("POST", json={"title": "Latch battery drain"}, status=201)["id"]
    gus = as_person(client, db, globex, GUS)
    # Through globex's own path, acme's issue does not exist...
    for method, path, kwargs in [
        ("GET", f"/{issue_id}", {}),
        ("PATCH", f"/{issue_id}", {"json": {"title": "mine now"}}),
        ("POST", f"/{issue_id}/mentions", {"json": {"mention_ids": [1]}}),
        ("POST", f"/{issue_id}/tasks/1/complete", {}),
    ]:
        refused = gus.call(method, path, status=404, **kwargs)
        assert refused["error"]["code"] == "not_found", refused
    assert all(not column["cards"] for column in gus.call("GET")["columns"])
    # ...and acme's path with globex's token answers as if acme did not exist.
    stranger = Api(client, acme.slug, gus.headers["Authorization"].removeprefix("Bearer "))
    assert stranger.call("GET", f"/{issue_id}", status=404)["error"]["message"] == "workspace 'acme' does not exist"
    # acme's mentions cannot be linked into a globex issue either.
    [acme_mention] = ingest_at(db, acme, [post("a1", "dead", at=utcnow())], received_at=utcnow())
    give_roles(db, globex, GUS, ["lead"])
    theirs = gus.call("POST", json={"title": "Globex outage"}, status=201)["id"]
    refused = gus.call("POST", f"/{theirs}/mentions", json={"mention_ids": [acme_mention]}, status=422)
    assert refused["error"]["field"] == "mention_ids"
