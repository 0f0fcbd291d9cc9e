"""The demo scenario's issue from first acknowledgement to aftermath, through the HTTP API, on both databases.

The Wrenly lockout (479 mentions, one person per role) is loaded and processed by the real pipeline;
then the team runs the battery-drain issue through every stage exactly as people would: open it from
the red mentions, publish an acknowledgement approved by legal, decide it is systemic, write and
approve the response, publish it to the newsroom with replies queued to every linked thread, deliver
them through the outbox to a bridge on loopback, and close it after the aftermath.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.app import create_app
from firebreak.core.clock import FixedClock, utcnow
from firebreak.demo import scenario
from firebreak.mentions.models import Mention
from firebreak.outbox.delivery import OutboxDispatcher
from firebreak.outbox.models import OutboxMessage
from firebreak.services import Services
from firebreak.triage.models import MentionTriage
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import Workspace
from tests.issues_support import personal_token
from tests.outbox_support import channel_secrets, connect, outbound_receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(db, settings):  # type: ignore[no-untyped-def]
    with db.write() as session:
        load = scenario.install_demo(session=session, now=utcnow())
        scenario.install_people(session=session, workspace_id=load.workspace_id)
    BackgroundWorker(db, Services(settings).pipeline(), batch_size=256).drain()
    with db.read() as session:
        workspace = session.get(Workspace, load.workspace_id)
        assert workspace is not None
        fixture = _Demo(workspace.id, workspace.slug)
    with db.write() as session:
        _, fixture.admin_token = workspace_service.create_token(
            session=session, workspace_id=fixture.id, name="e2e admin", scopes=["admin"])
    return fixture


class _Demo:
    def __init__(self, workspace_id: int, slug: str) -> None:
        self.id = workspace_id
        self.slug = slug
        self.admin_token = ""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_lockout_issue_runs_from_acknowledgement_to_aftermath(db, settings, demo):  # type: ignore[no-untyped-def]
    app = create_app(settings, db=db, run_worker=False)
    client = TestClient(app)
    tokens = {name: personal_token(db, demo, f"{name}@example.com") for name in ("cara", "dana", "lee", "ben")}
    base = f"/api/v1/workspaces/{demo.slug}"

    def call(method: str, who: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = client.request(method, base + path, headers=_auth(tokens[who]), **kwargs)
        assert response.status_code == expect, f"{method} {path} as {who}: {response.status_code} {response.text}"
        return response.json()

    with db.read() as session:
        red_battery = list(session.scalars(
            select(Mention.id).join(MentionTriage, MentionTriage.mention_id == Mention.id)
            .where(Mention.workspace_id == demo.id, MentionTriage.flag == "red", Mention.text.ilike("%batter%"))
            .order_by(Mention.id).limit(5)))
    assert red_battery, "the scenario has red battery mentions"

    # Open: the lead opens the issue from the red mentions, with the people who will run it.
    issue = call("POST", "cara", "/issues", 201, json={
        "title": "Latch locks drain their batteries overnight", "severity": "critical",
        "summary": "Firmware 5.3.0 drains Latch batteries; customers locked out.",
        "stakeholders": [{"email": "dana@example.com", "role": "communications"},
                         {"email": "lee@example.com", "role": "legal"},
                         {"email": "ben@example.com", "role": "support"}],
        "mention_ids": red_battery, "link_rules": {"keywords": ["battery drain", "latch battery"]},
    })
    issue_id = issue["id"]
    assert issue["stage"] == "acknowledgement" and issue["owner"] == "cara@example.com"
    assert issue["counts"]["linked_mentions"] == len(red_battery)
    call("POST", "ben", f"/issues/{issue_id}/stage", 403, json={"stage": "discovery"})  # an agent cannot move it

    def finish_required_tasks() -> None:
        detail = call("GET", "cara", f"/issues/{issue_id}")
        current = [group for group in detail["tasks"] if group["stage"] == detail["stage"]]
        for task in (current[0]["tasks"] if current else []):
            if task["required"] and task["done_at"] is None:
                call("POST", "cara", f"/issues/{issue_id}/tasks/{task['id']}/complete")

    def approved_draft(kind: str, title: str, body: str) -> int:
        draft = call("POST", "dana", f"/issues/{issue_id}/drafts", 201, json={"kind": kind, "title": title,
                                                                               "body": body})
        version = draft["versions"][-1]["id"]
        call("POST", "ben", f"/issues/{issue_id}/drafts/versions/{version}/review", 403,
             json={"verdict": "approved"})  # only legal approves legal review
        call("POST", "dana", f"/issues/{issue_id}/drafts/versions/{version}/submit")
        reviewed = call("POST", "lee", f"/issues/{issue_id}/drafts/versions/{version}/review",
                        json={"verdict": "approved", "comment": "Fine to publish."})
        assert reviewed["approved"] == 1 and reviewed["versions"][-1]["locked"] is True
        return draft["id"]

    with outbound_receiver(channel_secrets(db, demo)) as bridge:
        connect(db, demo, "x", bridge.url())

        # 1. Acknowledgement: the gate wants the acknowledgement published.
        blocked = client.post(base + f"/issues/{issue_id}/stage", headers=_auth(tokens["cara"]),
                              json={"stage": "discovery"})
        assert blocked.status_code == 422 and "publish" in blocked.text
        approved_draft("acknowledgement", "We're aware",
                       "We know some Latch owners are locked out after update 5.3.0. We're on it.")
        call("POST", "ben", f"/issues/{issue_id}/publish", 403, json={"kind": "acknowledgement"})
        ack = call("POST", "dana", f"/issues/{issue_id}/publish", 201,
                   json={"kind": "acknowledgement", "slug": "latch-we-are-aware", "reply_in_threads": False})
        assert ack["publication"]["url"].endswith(f"/newsroom/{demo.slug}/latch-we-are-aware")
        finish_required_tasks()
        call("POST", "cara", f"/issues/{issue_id}/stage", json={"stage": "discovery"})

        # 2. Discovery: one-off or systemic, with the reason.
        finish_required_tasks()
        blocked = client.post(base + f"/issues/{issue_id}/stage", headers=_auth(tokens["cara"]),
                              json={"stage": "internal_discussion"})
        assert blocked.status_code == 422 and "decision" in blocked.text
        call("POST", "cara", f"/issues/{issue_id}/decision",
             json={"decision": "systemic", "reason": "Every report is on firmware 5.3.0"})
        call("POST", "cara", f"/issues/{issue_id}/stage", json={"stage": "internal_discussion"})

        # 3. Internal discussion, then 4. content writing and approval.
        finish_required_tasks()
        call("POST", "cara", f"/issues/{issue_id}/stage", json={"stage": "content_approval"})
        finish_required_tasks()
        approved_draft("response", "Latch battery drain: what happened and what to do",
                       "Firmware 5.3.0 kept Latch radios awake and drained batteries.\n\n"
                       "Update to 5.3.1 today; if you are locked out, use your key and call us for a free battery.")
        call("POST", "cara", f"/issues/{issue_id}/stage", json={"stage": "publishing"})

        # 5. Publishing: the page, a post on x and a reply in every linked thread, through the outbox.
        published = call("POST", "dana", f"/issues/{issue_id}/publish", 201,
                         json={"kind": "response", "channels": ["x"], "reply_in_threads": True})
        queued = published["messages"]
        assert any(m["kind"] == "post" for m in queued) and any(m["kind"] == "reply" for m in queued)
        finish_required_tasks()
        call("POST", "cara", f"/issues/{issue_id}/stage", json={"stage": "aftermath"})

        # The outbox spaces a channel's messages by the playbook's throttle (30 s): let time pass for it.
        clock = FixedClock(utcnow())
        dispatcher = OutboxDispatcher(db, clock=clock)
        for _ in range(len(queued)):
            dispatcher.deliver_due()
            clock.advance(timedelta(seconds=31))
        with db.read() as session:
            states = list(session.scalars(select(OutboxMessage.state).where(OutboxMessage.issue_id == issue_id)))
        assert states and set(states) == {"sent"}
        x_messages = [m for m in queued if m["channel"] == "x"]
        assert len(bridge.deliveries) == len(x_messages) > 0

    # The public page and the feed, with no sign-in.
    page = client.get(f"/newsroom/{demo.slug}/{published['publication']['slug']}")
    assert page.status_code == 200 and "Latch locks drain" in page.text and "Update to 5.3.1" in page.text
    feed = client.get(f"/newsroom/{demo.slug}/feed.atom")
    assert feed.status_code == 200 and feed.text.count("<entry>") == 2

    # 6. Aftermath: the summary has every stage, then the issue is closed.
    summary = call("GET", "cara", f"/issues/{issue_id}/summary")
    assert [stage["stage"] for stage in summary["stages"]][:6] == [
        "acknowledgement", "discovery", "internal_discussion", "content_approval", "publishing", "aftermath"]
    assert len(summary["publications"]) == 2
    closed = call("POST", "cara", f"/issues/{issue_id}/close", json={})
    assert closed["state"] == "closed"
    kinds = [event["kind"] for event in call("GET", "cara", f"/issues/{issue_id}/timeline")]
    assert kinds[0] == "issue.opened" and kinds[-1] == "issue.closed"
    assert kinds.count("stage.moved") == 5 and "decision.recorded" in kinds
