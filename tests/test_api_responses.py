"""Answering a mention over HTTP: saved replies, reply, take private, escalate and moderate.

People with personal tokens act on mentions that went through the app's own pipeline, on SQLite and
PostgreSQL; replies and moderations land in the real outbox, escalations make real alert rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.app import create_app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.outbox.models import OutboxMessage
from firebreak.settings import Settings
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture
from tests.outbox_support import connect
from tests.test_api_workflow import PEOPLE, add_people, auth, drain, error, url
from tests.web_support import ingest_one
from tests.workflow_support import alerts_of, playbook_text, use_playbook

BOOKING = "Please change my booking ABC123 to Friday"  # yellow: customer_support, high


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture) -> FastAPI:
    use_playbook(db, acme, playbook_text())
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


@pytest.fixture
def tokens(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, str]:
    found = add_people(db, acme, PEOPLE)
    found.update(add_people(db, globex, {"outsider@globex.test": (["lead"], ["care"], True)}))
    connect(db, acme, "x-main", "http://127.0.0.1:9/bridge")
    return found


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture, tokens) -> dict[str, int]:
    now = utcnow()
    ids = {"booking": ingest_one(db, acme, "b1", BOOKING, now, author={"handle": "pat"}),
           "other": ingest_one(db, acme, "b2", "spam spam spam", now),
           "globex": ingest_one(db, globex, "g1", BOOKING, now)}
    drain(app, db)
    return ids


def messages(db: Database) -> list[OutboxMessage]:
    with db.read() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
    return rows


def test_saved_replies_come_filled_for_the_mention(client, acme, tokens, work):
    response = client.get(url(acme, f"/mentions/{work['booking']}/replies"), headers=auth(tokens["agent@acme.test"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["private"] == "take-it-private"
    named = {reply["name"]: reply["text"] for reply in body["replies"]}
    assert named["thank"].startswith("Thank you, @pat!") and "Acme" in named["facts-with-source"]
    assert client.get(url(acme, f"/mentions/{work['globex']}/replies"),
                      headers=auth(tokens["agent@acme.test"])).status_code == 404


def test_reply_queues_the_message_and_returns_the_responded_item(client, db, acme, tokens, work):
    token = tokens["agent@acme.test"]
    before = client.get(url(acme, f"/mentions/{work['booking']}/work"), headers=auth(token)).json()
    response = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(token),
                           json={"text": "Done, @pat: Friday it is.", "template": "thank",
                                 "revision": before["revision"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["kind"] == "reply" and body["message"]["state"] == "pending"
    assert body["message"]["channel"] == "x-main" and body["message"]["in_reply_to"] == "b1"
    assert body["work"]["state"] == "responded" and body["work"]["first_response_at"] is not None
    assert [entry["action"] for entry in body["work"]["audit"]][-2:] == ["work.replied", "work.responded"]
    assert len(messages(db)) == 1

    again = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(token),
                        json={"text": "Done, @pat: Friday it is."})
    assert again.status_code == 409 and error(again)["field"] == "text"
    stale = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(token),
                        json={"text": "Something else", "revision": before["revision"]})
    assert stale.status_code == 409 and error(stale)["field"] == "revision"
    assert len(messages(db)) == 1


def test_reply_refusals(client, db, acme, tokens, work):
    legal = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(tokens["legal@acme.test"]),
                        json={"text": "Hello"})
    assert legal.status_code == 403 and "'respond' permission" in error(legal)["message"]
    empty = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(tokens["agent@acme.test"]),
                        json={"text": "  "})
    assert empty.status_code == 422 and error(empty)["field"] == "text"
    foreign = client.post(url(acme, f"/mentions/{work['globex']}/reply"), headers=auth(tokens["agent@acme.test"]),
                          json={"text": "Hello"})
    assert foreign.status_code == 404
    outsider = client.post(url(acme, f"/mentions/{work['booking']}/reply"),
                           headers=auth(tokens["outsider@globex.test"]), json={"text": "Hello"})
    assert outsider.status_code == 404  # a globex token never learns of acme
    with db.write() as session:
        _, reader = workspace_service.create_token(session=session, workspace_id=acme.id, name="reader",
                                                   scopes=["mentions:read"])
    read_only = client.post(url(acme, f"/mentions/{work['booking']}/reply"), headers=auth(reader),
                            json={"text": "Hello"})
    assert read_only.status_code == 403 and "workflow:write" in error(read_only)["message"]
    assert messages(db) == []


def test_take_private(client, db, acme, tokens, work):
    response = client.post(url(acme, f"/mentions/{work['booking']}/private"), headers=auth(tokens["agent@acme.test"]),
                           json={"text": "@pat please DM us", "note": "needs booking code"})
    assert response.status_code == 200, response.text
    audit = response.json()["work"]["audit"]
    private = next(entry for entry in audit if entry["action"] == "work.taken_private")
    assert private["details"]["note"] == "needs booking code"
    assert messages(db)[0].payload["private"] is True


def test_escalate(client, db, acme, tokens, work):
    agent = client.post(url(acme, f"/mentions/{work['booking']}/escalate"), headers=auth(tokens["agent@acme.test"]),
                        json={"reason": "press"})
    assert agent.status_code == 403 and "'escalate' permission" in error(agent)["message"]
    blank = client.post(url(acme, f"/mentions/{work['booking']}/escalate"), headers=auth(tokens["lead@acme.test"]),
                        json={"reason": " "})
    assert blank.status_code == 422 and error(blank)["field"] == "reason"
    done = client.post(url(acme, f"/mentions/{work['booking']}/escalate"), headers=auth(tokens["lead@acme.test"]),
                       json={"reason": "A journalist picked it up"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["queue"], body["priority"], body["rule"]) == ("escalations", "urgent", "red_to_crisis")
    assert body["work"]["queue"] == "escalations" and body["alerts_queued"] == len(body["alerted"]) == 3
    assert len(alerts_of(db, mention=work["booking"])) == 3
    again = client.post(url(acme, f"/mentions/{work['booking']}/escalate"), headers=auth(tokens["lead@acme.test"]),
                        json={"reason": "again"})
    assert again.status_code == 409
    assert len(alerts_of(db, mention=work["booking"])) == 3


def test_moderate(client, db, acme, tokens, work):
    agent = tokens["agent@acme.test"]
    hidden = client.post(url(acme, f"/mentions/{work['other']}/moderate"), headers=auth(agent),
                         json={"action": "hide", "reason": "spam"})
    assert hidden.status_code == 200, hidden.text
    body = hidden.json()
    assert body["queued"] is True and body["message"]["kind"] == "moderate" and body["message"]["body"] == "hide"
    deleted = client.post(url(acme, f"/mentions/{work['other']}/moderate"), headers=auth(agent),
                          json={"action": "delete"})
    assert deleted.status_code == 403 and "lead or admin" in error(deleted)["message"]
    unknown = client.post(url(acme, f"/mentions/{work['other']}/moderate"), headers=auth(agent), json={"action": "ban"})
    assert unknown.status_code == 422
    connect(db, acme, "x-main", None)
    recorded = client.post(url(acme, f"/mentions/{work['other']}/moderate"), headers=auth(tokens["lead@acme.test"]),
                           json={"action": "delete"})
    assert recorded.status_code == 200
    assert recorded.json()["queued"] is False and "no outbound connector" in recorded.json()["not_queued"]
    assert [m.body for m in messages(db)] == ["hide"]
