"""The response workflow over HTTP: queue, work detail, assign, state, authority, members and teams.

Real people (users with roles, in playbook teams, with personal tokens) work real mentions that went
through the whole pipeline, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.accounts import service as accounts_service
from firebreak.app import create_app
from firebreak.channels import service as channel_service
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.mentions import service as mention_service
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture, mention

WRITE = ["mentions:read", "workflow:write"]
# Who works a workspace: e-mail -> (roles, teams, leads those teams).
People = dict[str, tuple[list[str], list[str], bool]]
PEOPLE: People = {
    "lead@acme.test": (["lead"], ["care", "crisis"], True),
    "agent@acme.test": (["agent"], ["care", "crisis"], False),
    "agent2@acme.test": (["agent"], ["care"], False),
    "legal@acme.test": (["legal"], [], False),
}
# name -> (text, minutes before now it was received, direction); the default playbook's examples fix the flags.
MENTIONS = {
    "overdue_old": ("My lawyer will be in touch about this.", 180, "inbound"),  # red, 5m: due 175 min ago
    "overdue": ("see you in court @acme", 120, "inbound"),  # red: due 115 min ago
    "red": ("Fix it by Friday or I file in small claims.", 1, "inbound"),  # red: due in 4 min
    "yellow": ("Please change my booking ABC123 to Friday", 10, "inbound"),  # yellow, 1h: due in 50 min
    "green": ("How do I set up two-factor login on my new account?", 0, "inbound"),  # 1 business hour: later
    "outbound": ("Thanks, we are looking into it", 0, "outbound"),  # the brand's own post: no work item
}


@dataclass
class Crew:
    """acme's people: a personal token per e-mail, plus agent@'s read-only token and a globex-only user."""

    tokens: dict[str, str]
    agent_read_token: str
    outsider: str


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(ws: WorkspaceFixture | str, rest: str) -> str:
    slug = ws if isinstance(ws, str) else ws.slug
    return f"/api/v1/workspaces/{slug}{rest}"


def add_people(db: Database, ws: WorkspaceFixture, people: People) -> dict[str, str]:
    """Create the users with their roles and teams, all off shift (so intake assigns nothing); return tokens."""
    tokens = {}
    with db.write() as session:
        for email, (roles, teams, lead) in people.items():
            user = accounts_service.create_user(session=session, email=email)
            for role in roles:
                accounts_service.grant_role(session=session, workspace_id=ws.id, user=user, role=role)
            for team in teams:
                accounts_service.join_team(session=session, workspace_id=ws.id, user=user, team=team, lead=lead)
            if teams:
                accounts_service.set_available(session=session, workspace_id=ws.id, user=user, available=False)
            _, tokens[email] = workspace_service.create_token(
                session=session, workspace_id=ws.id, name=email, scopes=WRITE, user_id=user.id)
    return tokens


def ingest_received(db: Database, ws: WorkspaceFixture, external_id: str, text: str, *, received: datetime,
                    direction: str = "inbound") -> int:
    with db.write() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
        result = mention_service.ingest_mentions(
            session=session, workspace_id=ws.id, channels=channels, default_channel=channels["x-main"],
            items=[mention(external_id, text, direction=direction)], received_at=received)
    return result.ids[0]


def drain(app: FastAPI, db: Database) -> int:
    """Run every pending mention through the app's own pipeline (its caches, its playbooks)."""
    return BackgroundWorker(db, app.state.services.pipeline()).drain()


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


@pytest.fixture
def crew(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Crew:
    tokens = add_people(db, acme, PEOPLE)
    with db.write() as session:
        agent = accounts_service.get_user(session=session, email="agent@acme.test")
        _, read_token = workspace_service.create_token(
            session=session, workspace_id=acme.id, name="agent reads", scopes=["mentions:read"], user_id=agent.id)
    add_people(db, globex, {"outsider@globex.test": (["agent"], ["care"], False)})
    return Crew(tokens, read_token, "outsider@globex.test")


@pytest.fixture
def work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture, crew: Crew) -> dict[str, int]:
    """acme's mentions through the pipeline, by name; `globex` is one of globex's."""
    now = utcnow()
    ids = {name: ingest_received(db, acme, name, text, received=now - timedelta(minutes=ago), direction=direction)
           for name, (text, ago, direction) in MENTIONS.items()}
    ids["globex"] = ingest_received(db, globex, "g1", "My lawyer will be in touch about this.", received=now)
    assert drain(app, db) == len(ids)
    return ids


def detail(client: TestClient, ws: WorkspaceFixture, token: str, mention_id: int) -> dict:
    response = client.get(url(ws, f"/mentions/{mention_id}/work"), headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def assign(client: TestClient, ws: WorkspaceFixture, token: str, mention_id: int, assignee: str | None, **extra):
    return client.post(url(ws, f"/mentions/{mention_id}/assign"), json={"assignee": assignee, **extra},
                       headers=auth(token))


def move(client: TestClient, ws: WorkspaceFixture, token: str, mention_id: int, state: str, **extra):
    return client.post(url(ws, f"/mentions/{mention_id}/state"), json={"state": state, **extra}, headers=auth(token))


def error(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]


# The queue ---------------------------------------------------------------------------------------


def test_queue_puts_overdue_first_then_orders_by_due_time(client, acme, work):
    response = client.get(url(acme, "/queue"), headers=auth(acme.read_token))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["mention_id"] for i in items] == [work[n] for n in ("overdue_old", "overdue", "red", "yellow", "green")]
    assert [i["overdue"] for i in items] == [True, True, False, False, False]
    left = [i["sla_seconds_left"] for i in items]
    assert left == sorted(left)
    assert -180 * 60 < left[0] < -170 * 60 and 0 < left[2] <= 4 * 60
    first = items[0]
    assert (first["flag"], first["category"], first["queue"], first["priority"], first["state"], first["action"]) == (
        "red", "legal_threat", "escalations", "urgent", "new", "escalate")
    assert first["assignee"] is None and first["revision"] == 1


def test_queue_filters(client, acme, crew, work):
    lead, agent = crew.tokens["lead@acme.test"], crew.tokens["agent@acme.test"]
    assert assign(client, acme, lead, work["yellow"], "agent@acme.test").status_code == 200
    assert assign(client, acme, agent, work["red"], "agent@acme.test").status_code == 200

    def ids(token: str = acme.read_token, **params) -> list[int]:  # type: ignore[no-untyped-def]
        response = client.get(url(acme, "/queue"), params=params, headers=auth(token))
        assert response.status_code == 200, response.text
        return [i["mention_id"] for i in response.json()["items"]]

    assert ids(agent, assignee="me") == [work["red"], work["yellow"]]
    assert ids(assignee="agent@acme.test") == [work["red"], work["yellow"]]
    assert ids(assignee="AGENT@acme.test ") == [work["red"], work["yellow"]]
    assert ids(lead, assignee="me") == []
    assert ids(assignee="none") == [work["overdue_old"], work["overdue"], work["green"]]
    assert ids(flag="red") == [work["overdue_old"], work["overdue"], work["red"]]
    assert ids(queue="customer_support") == [work["yellow"], work["green"]]
    assert ids(state="new") == [work["overdue_old"], work["overdue"], work["green"]]
    assert ids(state=["assigned", "new"], limit=2) == [work["overdue_old"], work["overdue"]]
    assert ids(state="resolved") == []


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"queue": "nowhere"}, "queue", "unknown queue 'nowhere'; queues are care_general, customer_support"),
        ({"state": ["new", "snoozed"]}, "state", "unknown state(s) snoozed; states are new, assigned"),
        ({"assignee": "outsider@globex.test"}, "assignee", "no member of this workspace"),
        ({"assignee": "nobody@acme.test"}, "assignee", "no member of this workspace"),
        ({"assignee": "me"}, "assignee", "'me' needs a personal token"),
        ({"flag": "purple"}, "query.flag", "Input should be"),
        ({"limit": 0}, "query.limit", "greater than or equal to 1"),
    ],
)
def test_queue_refuses_bad_filters_naming_the_field(client, acme, work, params, field, words):
    response = client.get(url(acme, "/queue"), params=params, headers=auth(acme.read_token))
    assert response.status_code == 422, response.text
    assert error(response)["field"] == field and words in error(response)["message"]


# One item ----------------------------------------------------------------------------------------


def test_detail_shows_the_assessment_path_clocks_and_audit(client, acme, work):
    found = detail(client, acme, acme.read_token, work["overdue"])
    assert (found["state"], found["queue"], found["team"], found["route_rule"]) == (
        "new", "escalations", "crisis", "red_to_crisis")
    assert found["recommended_action"] == "escalate" and found["needs_response"] is True
    assessment = found["assessment"]
    assert [(s["node"], s["answer"], s["next"]) for s in assessment["path"]] == [
        ("red_flags", "yes, red flag", "escalate")]
    assert assessment["path"][0]["question"] == "Is this a red flag?"
    assert set(assessment["considerations"]) == {"transparency", "sourcing", "timeliness", "tone", "influence"}
    assert assessment["next_step"].startswith("Alert the owning team")
    clocks = {c["metric"]: c for c in found["clocks"]}
    assert set(clocks) == {"first_response", "resolution"}
    response_clock = clocks["first_response"]
    assert response_clock["state"] == "running" and response_clock["target_seconds"] == 300
    assert response_clock["breached"] is True and response_clock["remaining_seconds"] < 0
    assert 119 * 60 < response_clock["used_seconds"] < 125 * 60
    assert clocks["resolution"]["breached"] is False and clocks["resolution"]["remaining_seconds"] > 0
    assert found["sla_policy"] == "red" and found["first_response_seconds"] is None
    assert [e["action"] for e in found["audit"]] == ["work.opened"]
    assert "red_flags: yes, red flag → escalate" in found["audit"][0]["details"]["path"]

    neutral = detail(client, acme, acme.read_token, work["green"])
    assert [s["node"] for s in neutral["assessment"]["path"]] == ["red_flags", "our_voice", "troll_or_rager",
                                                                 "polarity", "neutral"]


def test_detail_of_a_mention_without_work_or_in_another_workspace_is_404(client, acme, work):
    for mention_id in (work["outbound"], work["globex"], 10**9):
        response = client.get(url(acme, f"/mentions/{mention_id}/work"), headers=auth(acme.admin_token))
        assert response.status_code == 404, response.text
        assert error(response)["code"] == "not_found"
        assert assign(client, acme, acme.admin_token, mention_id, None).status_code == 404
        assert move(client, acme, acme.admin_token, mention_id, "resolved").status_code == 404


# Assign ------------------------------------------------------------------------------------------


def test_lead_assigns_and_unassigns_with_the_audit_trail(client, acme, crew, work):
    lead = crew.tokens["lead@acme.test"]
    response = assign(client, acme, lead, work["red"], "Agent@Acme.test", reason="you know this customer")
    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["state"], found["assignee"], found["revision"]) == ("assigned", "agent@acme.test", 2)
    assert found["assigned_at"] is not None
    entry = found["audit"][-1]
    assert (entry["actor"], entry["action"]) == ("lead@acme.test", "work.assigned")
    assert entry["details"]["to_email"] == "agent@acme.test" and entry["details"]["reason"] == "you know this customer"

    back = assign(client, acme, lead, work["red"], None, revision=2).json()
    assert (back["state"], back["assignee"], back["revision"]) == ("new", None, 3)
    assert detail(client, acme, acme.read_token, work["red"])["revision"] == 3


def test_agent_may_take_work_but_not_hand_it_to_others(client, acme, crew, work):
    agent = crew.tokens["agent@acme.test"]
    taken = assign(client, acme, agent, work["red"], "agent@acme.test")
    assert taken.status_code == 200 and taken.json()["assignee"] == "agent@acme.test"

    refused = assign(client, acme, agent, work["yellow"], "agent2@acme.test")
    assert refused.status_code == 403, refused.text
    assert error(refused)["code"] == "forbidden"
    assert "agent@acme.test (agent) may not assign mentions to others" in error(refused)["message"]
    assert "'assign' permission" in error(refused)["message"]
    assert detail(client, acme, acme.read_token, work["yellow"])["assignee"] is None

    legal = assign(client, acme, crew.tokens["legal@acme.test"], work["yellow"], "legal@acme.test")
    assert legal.status_code == 403 and "'assign_self' permission" in error(legal)["message"]

    handed_back = assign(client, acme, agent, work["red"], None, reason="off shift")
    assert handed_back.status_code == 200, handed_back.text
    assert (handed_back.json()["state"], handed_back.json()["assignee"]) == ("new", None)
    taken_again = assign(client, acme, crew.tokens["agent2@acme.test"], work["red"], "agent2@acme.test")
    assert taken_again.status_code == 200
    not_hers = assign(client, acme, agent, work["red"], None)
    assert not_hers.status_code == 403 and "'assign' permission" in error(not_hers)["message"]


@pytest.mark.parametrize(
    ("assignee", "words"),
    [
        ("outsider@globex.test", "outsider@globex.test is not a member of this workspace"),
        ("nobody@acme.test", "no user with e-mail 'nobody@acme.test'"),
        ("legal@acme.test", "needs one of the roles agent, lead"),
    ],
)
def test_assignee_must_be_a_member_who_can_take_the_queue(client, acme, crew, work, assignee, words):
    response = assign(client, acme, crew.tokens["lead@acme.test"], work["red"], assignee)
    assert response.status_code == 422, response.text
    assert error(response)["field"] == "assignee" and words in error(response)["message"]
    assert detail(client, acme, acme.read_token, work["red"])["revision"] == 1


def test_assign_body_is_checked(client, acme, crew, work):
    lead = crew.tokens["lead@acme.test"]
    missing = client.post(url(acme, f"/mentions/{work['red']}/assign"), json={}, headers=auth(lead))
    assert missing.status_code == 422 and error(missing)["field"] == "body.assignee"
    not_json = client.post(url(acme, f"/mentions/{work['red']}/assign"), content=b"agent@acme.test",
                           headers={**auth(lead), "Content-Type": "text/plain"})
    assert not_json.status_code == 422


# State -------------------------------------------------------------------------------------------


def test_state_changes_move_the_clocks_and_record_response_times(client, acme, crew, work):
    agent = crew.tokens["agent@acme.test"]
    assert assign(client, acme, agent, work["red"], "agent@acme.test").status_code == 200
    responded = move(client, acme, agent, work["red"], "responded", reason="acknowledged publicly")
    assert responded.status_code == 200, responded.text
    found = responded.json()
    assert found["state"] == "responded" and found["first_response_at"] is not None
    assert 60 <= found["first_response_seconds"] < 600
    clocks = {c["metric"]: c for c in found["clocks"]}
    assert clocks["first_response"]["state"] == "met" and clocks["resolution"]["state"] == "running"

    waiting = move(client, acme, agent, work["red"], "waiting").json()
    assert waiting["state"] == "waiting" and waiting["waiting_since"] is not None
    assert {c["metric"]: c["state"] for c in waiting["clocks"]}["resolution"] == "paused"

    back = move(client, acme, agent, work["red"], "assigned", reason="customer replied").json()
    assert back["state"] == "assigned" and back["waiting_since"] is None
    assert {c["metric"]: c["state"] for c in back["clocks"]}["resolution"] == "running"

    resolved = move(client, acme, agent, work["red"], "resolved", reason="refund issued").json()
    assert resolved["state"] == "resolved" and resolved["resolution_seconds"] >= resolved["first_response_seconds"]
    assert {c["state"] for c in resolved["clocks"]} == {"met"}
    trail = [(e["actor"], e["action"], (e["details"] or {}).get("to")) for e in resolved["audit"]]
    assert trail[1:] == [
        ("agent@acme.test", "work.assigned", crew_user_id(client, acme, "agent@acme.test")),
        ("agent@acme.test", "work.state_changed", "responded"),
        ("agent@acme.test", "work.state_changed", "waiting"),
        ("agent@acme.test", "work.state_changed", "assigned"),
        ("agent@acme.test", "work.state_changed", "resolved"),
    ]
    assert resolved["audit"][-1]["details"]["reason"] == "refund issued"


def crew_user_id(client: TestClient, ws: WorkspaceFixture, email: str) -> int:
    members = client.get(url(ws, "/members"), headers=auth(ws.read_token)).json()
    return next(m["user_id"] for m in members if m["email"] == email)


def test_illegal_transition_names_the_allowed_states(client, acme, crew, work):
    response = move(client, acme, crew.tokens["lead@acme.test"], work["yellow"], "waiting")
    assert response.status_code == 422, response.text
    assert error(response)["field"] == "state"
    assert "cannot go from new to waiting; from new it can go to closed, resolved, responded" in (
        error(response)["message"])
    unknown = move(client, acme, crew.tokens["lead@acme.test"], work["yellow"], "snoozed")
    assert unknown.status_code == 422 and "states are new, assigned, responded" in error(unknown)["message"]


def test_closing_unanswered_work_needs_a_reason_and_the_close_permission(client, acme, crew, work):
    no_reason = move(client, acme, crew.tokens["lead@acme.test"], work["green"], "closed")
    assert no_reason.status_code == 422 and error(no_reason)["field"] == "reason"
    agent = move(client, acme, crew.tokens["agent@acme.test"], work["green"], "closed", reason="duplicate")
    assert agent.status_code == 403 and "'close' permission" in error(agent)["message"]
    closed = move(client, acme, crew.tokens["lead@acme.test"], work["green"], "closed", reason="duplicate")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["closed_at"] is not None


def test_a_stale_revision_is_a_conflict(client, acme, crew, work):
    seen = detail(client, acme, acme.read_token, work["red"])["revision"]
    lead, agent = crew.tokens["lead@acme.test"], crew.tokens["agent@acme.test"]
    assert assign(client, acme, lead, work["red"], "agent@acme.test", revision=seen).status_code == 200
    stale = move(client, acme, agent, work["red"], "responded", revision=seen)
    assert stale.status_code == 409, stale.text
    assert error(stale)["code"] == "conflict" and error(stale)["field"] == "revision"
    assert f"revision {seen + 1}, you had {seen}" in error(stale)["message"]
    stale_assign = assign(client, acme, lead, work["red"], None, revision=seen)
    assert stale_assign.status_code == 409
    current = move(client, acme, agent, work["red"], "responded", revision=seen + 1)
    assert current.status_code == 200 and current.json()["revision"] == seen + 2


# Who may write -----------------------------------------------------------------------------------


def test_read_only_tokens_are_refused_writes(client, acme, crew, work):
    for token in (crew.agent_read_token, acme.read_token):
        for response in (assign(client, acme, token, work["red"], "agent@acme.test"),
                         move(client, acme, token, work["red"], "resolved")):
            assert response.status_code == 403, response.text
            assert error(response) == {"code": "forbidden", "message": "this token lacks the 'workflow:write' scope"}
    # …but read.
    assert client.get(url(acme, "/queue"), params={"assignee": "me"}, headers=auth(crew.agent_read_token)).json()[
        "items"] == []


def test_integration_tokens_act_with_fixed_roles(client, acme, db, work):
    with db.write() as session:
        _, bot = workspace_service.create_token(session=session, workspace_id=acme.id, name="bot", scopes=WRITE)
    refused = assign(client, acme, bot, work["red"], "agent@acme.test")
    assert refused.status_code == 403 and "token:bot (agent) may not assign" in error(refused)["message"]
    done = move(client, acme, bot, work["red"], "resolved").json()
    assert done["state"] == "resolved" and done["audit"][-1]["actor"] == "token:bot"
    admin = assign(client, acme, acme.admin_token, work["yellow"], "agent2@acme.test")
    assert admin.status_code == 200 and admin.json()["audit"][-1]["actor"] == "token:admin"


NEW_ROUTES = [
    ("GET", "/queue", None),
    ("GET", "/mentions/{id}/work", None),
    ("POST", "/mentions/{id}/assign", {"assignee": None}),
    ("POST", "/mentions/{id}/state", {"state": "resolved"}),
    ("POST", "/authority/check", {"kind": "refund", "amount": 10}),
    ("GET", "/members", None),
    ("GET", "/teams", None),
]


@pytest.mark.parametrize(("method", "path", "body"), NEW_ROUTES)
def test_another_workspaces_token_gets_404(client, acme, globex, work, method, path, body):
    response = client.request(method, url(acme, path.format(id=work["red"])), json=body,
                              headers=auth(globex.admin_token))
    assert response.status_code == 404, response.text
    assert error(response) == {"code": "not_found", "message": "workspace 'acme' does not exist"}
    assert client.request(method, url(acme, path.format(id=work["red"])), json=body).status_code == 401
    assert detail(client, acme, acme.read_token, work["red"])["revision"] == 1


# Authority ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "offer", "allowed", "words", "approvers"),
    [
        ("agent@acme.test", {"kind": "refund", "amount": 30}, True, "refund of 30 is within the agent limit of 50",
         ["agent", "lead", "executive", "admin"]),
        ("agent@acme.test", {"kind": "refund", "amount": 80}, False, "refund of 80 exceeds the agent limit of 50",
         ["lead", "executive", "admin"]),
        ("lead@acme.test", {"kind": "refund", "amount": 80}, True, "within the lead limit of 500",
         ["lead", "executive", "admin"]),
        ("agent@acme.test", {"kind": "public_apology"}, False, "the agent role may not apologise publicly",
         ["lead", "communications", "executive", "admin"]),
        ("legal@acme.test", {"kind": "hide_post"}, False, "the legal role may not hide a post",
         ["agent", "lead", "communications", "admin"]),
    ],
)
def test_authority_check_answers_for_the_callers_roles(client, acme, crew, who, offer, allowed, words, approvers):
    response = client.post(url(acme, "/authority/check"), json=offer, headers=auth(crew.tokens[who]))
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["allowed"] is allowed and words in found["reason"]
    assert found["approvers"] == approvers and found["roles"] == PEOPLE[who][0]


def test_authority_check_refuses_bad_offers(client, acme, crew):
    agent = auth(crew.tokens["agent@acme.test"])
    no_amount = client.post(url(acme, "/authority/check"), json={"kind": "refund"}, headers=agent)
    assert no_amount.status_code == 422 and error(no_amount)["field"] == "amount"
    assert "needs an amount above zero" in error(no_amount)["message"]
    stray = client.post(url(acme, "/authority/check"), json={"kind": "replacement", "amount": 5}, headers=agent)
    assert stray.status_code == 422 and error(stray)["field"] == "amount"
    unknown = client.post(url(acme, "/authority/check"), json={"kind": "free_car"}, headers=agent)
    assert unknown.status_code == 422 and error(unknown)["field"] == "body.kind"
    nobody = client.post(url(acme, "/authority/check"), json={"kind": "refund", "amount": 1},
                         headers=auth(acme.read_token)).json()
    assert nobody["allowed"] is False and nobody["roles"] == [] and "no role" in nobody["reason"]


# People ------------------------------------------------------------------------------------------


def test_members_lists_roles_and_teams_of_this_workspace_only(client, acme, crew):
    response = client.get(url(acme, "/members"), headers=auth(acme.read_token))
    assert response.status_code == 200, response.text
    members = {m["email"]: (m["roles"], m["teams"]) for m in response.json()}
    assert members == {email: (roles, teams) for email, (roles, teams, _) in PEOPLE.items()}


def test_teams_show_queues_members_availability_and_on_call(client, acme, crew, db):
    with db.write() as session:
        agent = accounts_service.get_user(session=session, email="agent@acme.test")
        accounts_service.set_available(session=session, workspace_id=acme.id, user=agent, available=True)
    response = client.get(url(acme, "/teams"), headers=auth(acme.read_token))
    assert response.status_code == 200, response.text
    page = response.json()
    teams = {t["id"]: t for t in page["teams"]}
    assert set(teams) == {"care", "crisis"}
    care, crisis = teams["care"], teams["crisis"]
    assert [q["id"] for q in care["queues"]] == ["care_general", "customer_support"]
    assert [q["id"] for q in crisis["queues"]] == ["escalations"]
    assert crisis["queues"][0]["outside_hours"] == "on_call"
    assert [(m["email"], m["is_lead"], m["roles"]) for m in care["members"]] == [
        ("agent2@acme.test", False, ["agent"]), ("agent@acme.test", False, ["agent"]),
        ("lead@acme.test", True, ["lead"])]
    assert care["available"] == crisis["available"] == ["agent@acme.test"]
    assert crisis["open_now"] is True and care["calendar"] == "support_hours"
    assert care["on_call"] is None
    on_call = crisis["on_call"]
    assert on_call["email"] in on_call["rotation"] == ["ana@example.com", "ben@example.com", "cara@example.com"]
    assert on_call["member"] is False
    assert datetime.fromisoformat(on_call["until"]) > datetime.fromisoformat(page["now"])
    assert "handing over at 09:00 Europe/London" in on_call["description"]
