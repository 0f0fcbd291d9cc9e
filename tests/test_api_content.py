"""An issue's content over HTTP: drafts, versions, diffs, comments and legal review, with every refusal.

Personal tokens of the issue tests' cast act on a real issue, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from firebreak.accounts import service as accounts_service
from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture
from tests.issues_support import ANA, CORA, GUS, LEX, OWEN, add_issue_cast, open_test_issue

WRITE = ["mentions:read", "workflow:write"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=db, run_worker=False)) as http:
        yield http


@pytest.fixture
def tokens(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, str]:
    """Personal write tokens by e-mail, plus `reader` (cora, read only) and gus's in globex."""
    add_issue_cast(db, acme, globex)
    found = {}
    with db.write() as session:
        for email, ws, scopes, name in ((CORA, acme, WRITE, CORA), (LEX, acme, WRITE, LEX), (ANA, acme, WRITE, ANA),
                                        (OWEN, acme, WRITE, OWEN), (CORA, acme, ["mentions:read"], "reader"),
                                        (GUS, globex, WRITE, GUS)):
            user = accounts_service.get_user(session=session, email=email)
            _, found[name] = workspace_service.create_token(session=session, workspace_id=ws.id, name=name,
                                                            scopes=scopes, user_id=user.id)
    return found


@pytest.fixture
def issue_id(db: Database, settings: Settings, acme: WorkspaceFixture, tokens: dict[str, str]) -> int:
    return open_test_issue(db, settings, acme)


class Api:
    """The content endpoints of one issue, called as someone."""

    def __init__(self, client: TestClient, tokens: dict[str, str], issue_id: int, slug: str = "acme") -> None:
        self.client, self.tokens, self.issue_id, self.slug = client, tokens, issue_id, slug

    def url(self, rest: str = "", *, issue_id: int | None = None, slug: str | None = None) -> str:
        return (f"/api/v1/workspaces/{slug or self.slug}/issues/{issue_id or self.issue_id}/drafts{rest}")

    def post(self, who: str, rest: str, body: dict[str, Any] | None = None, **where: Any) -> Any:
        return self.client.post(self.url(rest, **where), json=body, headers=auth(self.tokens[who]))

    def get(self, who: str, rest: str = "", params: dict[str, Any] | None = None, **where: Any) -> Any:
        return self.client.get(self.url(rest, **where), params=params, headers=auth(self.tokens[who]))


@pytest.fixture
def api(client: TestClient, tokens: dict[str, str], issue_id: int) -> Api:
    return Api(client, tokens, issue_id)


def created(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, phrase: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert phrase in error["message"], error
    return error


def test_write_submit_approve_and_read_a_response(api, issue_id):
    draft = created(api.post(CORA, "", {"kind": "response", "title": "What happened",
                                        "body": "Latches drain.\nWe are on it."}))
    assert (draft["issue_id"], draft["kind"], draft["latest"], draft["approved"]) == (issue_id, "response", 1, None)
    assert draft["versions"][0]["state"] == "draft" and draft["versions"][0]["author"] == CORA
    draft_id = draft["id"]
    draft = created(api.post(CORA, f"/{draft_id}/versions", {"body": "Latches drain after 4.2.\nWe are on it.",
                                                             "based_on": 1}))
    assert [(v["number"], v["state"]) for v in draft["versions"]] == [(1, "superseded"), (2, "draft")]
    second = draft["versions"][1]["id"]

    diff = created(api.get(ANA, f"/{draft_id}/diff", {"from": 1, "to": 2}), 200)
    assert (diff["from"], diff["to"]) == (1, 2)
    assert diff["unified"].startswith("--- version 1\n+++ version 2\n")
    assert diff["changes"] == [{"from_line": 1, "to_line": 1, "old": "Latches drain.",
                                "new": "Latches drain after 4.2."}]

    in_review = created(api.post(CORA, f"/versions/{second}/submit"), 200)
    clock = in_review["versions"][1]["legal_review"]
    assert in_review["versions"][1]["state"] == "in_review"
    assert clock["state"] == "running" and clock["target_seconds"] == 7200 and clock["calendar"] == "support_hours"
    created(api.post(ANA, f"/versions/{second}/comments", {"text": "Say 'latch', not 'lock'."}))
    approved = created(api.post(LEX, f"/versions/{second}/review", {"verdict": "approved", "comment": "Fine."}), 200)
    version = approved["versions"][1]
    assert approved["approved"] == 2 and version["locked"] and version["approved_by"] == LEX
    assert version["legal_review"]["state"] == "met"
    assert [(r["reviewer"], r["verdict"]) for r in version["reviews"]] == [(ANA, None), (LEX, "approved")]

    listed = created(api.get("reader"), 200)
    assert listed == [{"id": draft_id, "kind": "response", "title": "What happened", "audience": None,
                       "created_at": listed[0]["created_at"], "latest": 2, "latest_state": "approved",
                       "approved": 2}]
    assert created(api.get("reader", f"/{draft_id}"), 200)["versions"][1]["reviews"][1]["comment"] == "Fine."


def test_a_holding_statement_and_talking_points(api):
    ack = created(api.post(OWEN, "", {"kind": "acknowledgement", "title": "Aware", "from_statement": "aware"}))
    assert ack["versions"][0]["source_statement"] == "aware"
    assert "{product}" in ack["versions"][0]["body"]
    points = created(api.post(CORA, "", {"kind": "talking_points", "title": "Sales", "audience": "sales",
                                         "body": "- 4.2 firmware\n- Fix Monday"}))
    assert points["audience"] == "sales"
    empty = created(api.post(CORA, "", {"kind": "faq", "title": "FAQ"}))
    assert empty["versions"] == [] and empty["latest"] is None


def test_forbidden(api):
    refused(api.post(ANA, "", {"kind": "response", "title": "x", "body": "y"}), 403, "'write_content' permission")
    refused(api.post("reader", "", {"kind": "response", "title": "x", "body": "y"}), 403,
            "lacks the 'workflow:write' scope")
    draft = created(api.post(CORA, "", {"kind": "response", "title": "x", "body": "y"}))
    version = draft["versions"][0]["id"]
    created(api.post(CORA, f"/versions/{version}/submit"), 200)
    for who in (ANA, CORA, OWEN):
        refused(api.post(who, f"/versions/{version}/review", {"verdict": "approved"}), 403,
                "only legal can approve legal review")
    refused(api.post(ANA, f"/versions/{version}/review", {"verdict": "changes_requested", "comment": "No"}), 403,
            "only legal can request changes in legal review")


def test_not_found(api, client, tokens, issue_id):
    draft = created(api.post(CORA, "", {"kind": "response", "title": "x", "body": "one"}))
    draft_id, version = draft["id"], draft["versions"][0]["id"]
    refused(api.get(CORA, f"/{draft_id + 100}"), 404, f"draft {draft_id + 100} does not exist")
    refused(api.get(CORA, issue_id=issue_id + 100), 404, f"issue {issue_id + 100} does not exist")
    # The draft exists, but not under that issue.
    refused(api.get(CORA, f"/{draft_id}", issue_id=issue_id + 100), 404, "does not exist")
    refused(api.post(CORA, f"/versions/{version}/submit", issue_id=issue_id + 100), 404, "does not exist")
    refused(api.post(CORA, f"/versions/{version + 100}/comments", {"text": "hello"}), 404, "does not exist")
    refused(api.get(CORA, f"/{draft_id}/diff", {"from": 1, "to": 2}), 404, "has no version 2")
    # Another workspace's token learns nothing: its own workspace has no such issue, and acme is not its.
    refused(api.get(GUS, f"/{draft_id}", slug="globex"), 404, "does not exist")
    refused(api.get(GUS, f"/{draft_id}"), 404, "workspace 'acme' does not exist")


def test_conflict_on_a_stale_version(api):
    draft = created(api.post(CORA, "", {"kind": "response", "title": "x", "body": "one"}))
    created(api.post(OWEN, f"/{draft['id']}/versions", {"body": "two", "based_on": 1}))
    error = refused(api.post(CORA, f"/{draft['id']}/versions", {"body": "my two", "based_on": 1}), 409,
                    "at version 2 now, not 1")
    assert error["code"] == "conflict" and error["field"] == "expected_number"


def test_invalid_input(api):
    refused(api.post(CORA, "", {"kind": "tweet", "title": "x"}), 422)
    refused(api.post(CORA, "", {"kind": "talking_points", "title": "x", "body": "y"}), 422,
            "talking points are written for an audience")
    refused(api.post(CORA, "", {"kind": "response", "title": "x", "from_statement": "aware"}), 422,
            "approved for acknowledgement drafts")
    draft = created(api.post(CORA, "", {"kind": "response", "title": "x", "body": "one"}))
    draft_id, version = draft["id"], draft["versions"][0]["id"]
    refused(api.post(CORA, f"/{draft_id}/versions", {"body": "one\n"}), 422, "same as version 1")
    refused(api.get(CORA, f"/{draft_id}/diff", {"from": 0, "to": 1}), 422)
    refused(api.post(LEX, f"/versions/{version}/review", {"verdict": "approved"}), 422, "is not in legal review")
    created(api.post(CORA, f"/versions/{version}/submit"), 200)
    error = refused(api.post(LEX, f"/versions/{version}/review", {"verdict": "changes_requested"}), 422,
                    "requesting changes needs a comment")
    assert error["field"] == "comment"
    refused(api.post(LEX, f"/versions/{version}/review", {"verdict": "rejected", "comment": "no"}), 422)
    created(api.post(LEX, f"/versions/{version}/review", {"verdict": "approved"}), 200)
    error = refused(api.post(CORA, f"/versions/{version}/submit"), 422,
                    "version 1 of the response is approved and locked; add a new version to change it")
    assert error["field"] == "state"
    refused(api.post(LEX, f"/versions/{version}/review", {"verdict": "approved"}), 422, "approved and locked")
