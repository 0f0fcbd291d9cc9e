"""GET /api/v1/workspaces/{ws}/dashboard: the dashboard's numbers as JSON, for the token's workspace only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture
from tests.workflow_support import add_cast, ingest_at, post, run_pipeline

RED = "My lawyer will be in touch about this."
YELLOW = "Please change my booking ABC123 to Friday"


@pytest.fixture
def client(db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture) -> TestClient:
    """acme: two red and one yellow mention two hours ago, worked by the pipeline; globex: one red."""
    add_cast(db, acme, globex)
    received = utcnow() - timedelta(hours=2)
    ingest_at(db, acme, [post("a1", RED, at=received), post("a2", f"{RED} again", at=received),
                         post("a3", YELLOW, at=received)], received_at=received)
    ingest_at(db, globex, [post("g1", RED, at=received)], received_at=received)
    run_pipeline(db, settings, now=received)
    return TestClient(create_app(settings, db=db))


def get(client: TestClient, ws: str, token: str | None, query: str = "") -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1/workspaces/{ws}/dashboard{query}", headers=headers)


def test_the_dashboard_counts_the_workspaces_own_mentions_and_work(client: TestClient, acme: WorkspaceFixture) -> None:
    response = get(client, "acme", acme.read_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["days"], body["bucket"], body["timezone"]) == (7, "day", "UTC")
    assert len(body["buckets"]) == 7 == len(body["mentions"]["series"])
    mentions = body["mentions"]
    assert mentions["total"] == 3 and mentions["untriaged"] == 0
    assert mentions["by_flag"]["red"]["total"] == 2 and mentions["by_flag"]["yellow"]["total"] == 1
    assert mentions["by_flag"]["green"]["total"] == 0
    assert next(c for c in mentions["by_channel"] if c["slug"] == "x-main")["total"] == 3
    # Three open items, each past its first-response goal (red: 5 minutes, yellow: an hour) two hours on.
    assert body["work"]["open"] == 3 and body["work"]["overdue"] == 3
    assert body["first_response"]["count"] == 0 and body["first_response"]["median_seconds"] is None
    assert body["issues"]["open"] == 0
    assert [stage["count"] for stage in body["issues"]["by_stage"]] == [0] * len(body["issues"]["by_stage"])
    assert body["issues"]["by_stage"][0]["stage"] == "acknowledgement"


def test_a_short_window_is_hourly(client: TestClient, acme: WorkspaceFixture) -> None:
    body = get(client, "acme", acme.admin_token, "?days=1").json()
    assert body["bucket"] == "hour" and len(body["buckets"]) == 24
    assert sum(body["mentions"]["series"]) == 3
    assert body["mentions"]["series"][-3] == 3  # two hours ago, in UTC


@pytest.mark.parametrize("days", ["0", "91", "seven", "-1"])
def test_the_window_is_one_to_ninety_days(client: TestClient, acme: WorkspaceFixture, days: str) -> None:
    response = get(client, "acme", acme.read_token, f"?days={days}")
    assert response.status_code == 422
    assert "days" in response.text


def test_another_workspaces_token_learns_nothing(client: TestClient, acme: WorkspaceFixture,
                                                 globex: WorkspaceFixture) -> None:
    assert get(client, "acme", globex.read_token).status_code == 404
    assert get(client, "acme", globex.admin_token).status_code == 404
    assert get(client, "nowhere", acme.read_token).status_code == 404
    theirs = get(client, "globex", globex.read_token).json()
    assert theirs["mentions"]["total"] == 1 and theirs["work"]["open"] == 1


def test_the_token_needs_the_read_scope(db: Database, client: TestClient, acme: WorkspaceFixture) -> None:
    assert get(client, "acme", None).status_code == 401
    assert get(client, "acme", "fbk_not-a-real-token").status_code == 401
    with db.write() as session:
        _, writer = workspace_service.create_token(session=session, workspace_id=acme.id, name="poster",
                                                   scopes=["mentions:write"])
    response = get(client, "acme", writer)
    assert response.status_code == 403 and "mentions:read" in response.text
