"""A workspace's playbook over HTTP: read, check, upload, refuse bad ones (keeping the one in force), roll back.

"In force" is checked twice each time: what GET /playbook answers, and which version the pipeline
stamps on the next mention it works (the app's own pipeline, sharing its playbook cache).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib import resources

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.accounts import service as accounts_service
from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.playbook.loader import parse_playbook
from firebreak.playbook.service import MAX_PLAYBOOK_BYTES
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture, ingest, mention

DEFAULT_TEXT = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
YAML = {"Content-Type": "application/yaml"}


def brand_playbook(version: int) -> str:
    """The default playbook, declared as another version (so its version string differs)."""
    changed = DEFAULT_TEXT.replace("  name: Firebreak default risk guide\n  version: 1\n",
                                   f"  name: Acme risk guide\n  version: {version}\n")
    assert changed != DEFAULT_TEXT
    return changed


def version_of(text: str) -> str:
    return parse_playbook(text, source="x.yaml").version


def line_of(text: str, snippet: str) -> int:
    """The 1-based line where `snippet` starts in `text`."""
    assert text.count(snippet) == 1, snippet
    return text[: text.index(snippet)].count("\n") + 1


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(ws: WorkspaceFixture | str, rest: str) -> str:
    slug = ws if isinstance(ws, str) else ws.slug
    return f"/api/v1/workspaces/{slug}{rest}"


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


def upload(client: TestClient, ws: WorkspaceFixture, text: str | bytes, token: str | None = None, **params):
    return client.put(url(ws, "/playbook"), content=text, params=params,
                      headers={**YAML, **auth(token or ws.admin_token)})


def in_force(client: TestClient, ws: WorkspaceFixture) -> dict:
    response = client.get(url(ws, "/playbook"), headers=auth(ws.read_token))
    assert response.status_code == 200, response.text
    return response.json()


def pipeline_version(app: FastAPI, db: Database, client: TestClient, ws: WorkspaceFixture, external_id: str) -> str:
    """Ingest one mention, run the app's pipeline, and return the playbook version its work item carries."""
    mention_id = ingest(db, ws, [mention(external_id, "see you in court @acme")]).ids[0]
    assert BackgroundWorker(db, app.state.services.pipeline()).drain() == 1
    response = client.get(url(ws, f"/mentions/{mention_id}/work"), headers=auth(ws.read_token))
    assert response.status_code == 200, response.text
    return response.json()["playbook_version"]


# Reading -----------------------------------------------------------------------------------------


def test_a_new_workspace_runs_the_deployment_playbook(client, acme):
    found = in_force(client, acme)
    default_version = version_of(DEFAULT_TEXT)
    assert found == {"version": default_version, "digest": hashlib.sha256(DEFAULT_TEXT.encode()).hexdigest(),
                     "source": "<default>/default.yaml", "default": True, "version_id": None, "comment": None,
                     "created_at": None, "created_by": None}
    text = client.get(url(acme, "/playbook"), params={"format": "yaml"}, headers=auth(acme.read_token))
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/yaml; charset=utf-8"
    assert text.headers["x-playbook-version"] == default_version
    assert text.text == DEFAULT_TEXT
    assert client.get(url(acme, "/playbook/history"), headers=auth(acme.read_token)).json() == []


# Uploading ---------------------------------------------------------------------------------------


def test_upload_applies_at_once_to_reads_and_to_the_pipeline(app, client, acme, db):
    before = pipeline_version(app, db, client, acme, "1001")
    assert before == version_of(DEFAULT_TEXT)
    text = brand_playbook(2)
    response = upload(client, acme, text, comment="our own guide", filename="acme.yaml")
    assert response.status_code == 201, response.text
    applied = response.json()
    assert applied["version"] == version_of(text) and applied["default"] is False
    assert (applied["source"], applied["comment"], applied["created_by"]) == ("acme.yaml", "our own guide",
                                                                              "token:admin")
    assert in_force(client, acme) == applied
    yaml = client.get(url(acme, "/playbook"), params={"format": "yaml"}, headers=auth(acme.read_token))
    assert yaml.text == text
    # Without waiting for the store's re-check: the upload told this process's cache.
    assert pipeline_version(app, db, client, acme, "1002") == applied["version"]
    history = client.get(url(acme, "/playbook/history"), headers=auth(acme.read_token)).json()
    assert [(h["version_id"], h["active"]) for h in history] == [(applied["version_id"], True)]


def test_uploads_are_per_workspace(client, acme, globex):
    assert upload(client, acme, brand_playbook(2)).status_code == 201
    assert in_force(client, globex)["default"] is True


def test_an_admin_user_uploads_under_their_own_name(client, acme, db):
    with db.write() as session:
        user = accounts_service.create_user(session=session, email="dana@acme.test")
        accounts_service.grant_role(session=session, workspace_id=acme.id, user=user, role="admin")
        _, token = workspace_service.create_token(session=session, workspace_id=acme.id, name="dana",
                                                  scopes=["mentions:read", "workflow:write"], user_id=user.id)
    response = upload(client, acme, brand_playbook(2), token=token)
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "dana@acme.test"


def test_only_editors_may_change_the_playbook(client, acme, db):
    with db.write() as session:
        lead = accounts_service.create_user(session=session, email="lee@acme.test")
        accounts_service.grant_role(session=session, workspace_id=acme.id, user=lead, role="lead")
        _, lead_token = workspace_service.create_token(session=session, workspace_id=acme.id, name="lee",
                                                       scopes=["mentions:read", "workflow:write"], user_id=lead.id)
        _, bot_token = workspace_service.create_token(session=session, workspace_id=acme.id, name="bot",
                                                      scopes=["mentions:read", "workflow:write"])
    refused = upload(client, acme, brand_playbook(2), token=lead_token)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == {
        "code": "forbidden",
        "message": "lee@acme.test (lead) may not change the playbook: it needs the 'edit_playbook' permission"}
    bot = upload(client, acme, brand_playbook(2), token=bot_token)
    assert bot.status_code == 403 and "token:bot (agent)" in bot.json()["error"]["message"]
    read = upload(client, acme, brand_playbook(2), token=acme.read_token)
    assert read.status_code == 403 and "lacks the 'workflow:write' scope" in read.json()["error"]["message"]
    applied = upload(client, acme, brand_playbook(2)).json()
    for token in (lead_token, bot_token, acme.read_token):
        rollback = client.post(url(acme, f"/playbook/versions/{applied['version_id']}/activate"), headers=auth(token))
        assert rollback.status_code == 403
    assert in_force(client, acme)["version_id"] == applied["version_id"]


# Refusing bad playbooks --------------------------------------------------------------------------


BAD = {
    "unknown category in a routing rule": (
        "when: {category: [account_setup, account_management]}",
        "when: {category: [account_setup, acount_management]}",
        "routing.rules[5].when: names unknown category 'acount_management'"),
    "cycle in the assessment tree": (
        "      otherwise: let_stand\n\n  outcomes:",
        "      otherwise: red_flags\n\n  outcomes:",
        "assessment: cycle: red_flags -> our_voice -> troll_or_rager -> anything_to_fix -> polarity -> neutral "
        "-> red_flags"),
    "overlapping calendar interval": (
        '      mon: ["08:00-20:00"]',
        '      mon: ["08:00-20:00", "19:00-21:00"]',
        "calendars[0].hours.mon: mon: 08:00-20:00 overlaps 19:00-21:00"),
    "negative SLA duration": (
        "      first_response: 5m",
        "      first_response: -5m",
        "sla.policies[0].first_response: duration '-5m' is negative"),
    "unknown role key": (
        "roles:\n  agent:",
        "roles:\n  intern:\n    may: [respond]\n  agent:",
        "roles.intern: unknown role; roles are agent, lead, communications, legal, executive, admin"),
}
# Where each problem should point: the line of the text that is wrong.
BAD_LINES = {
    "unknown category in a routing rule": "when: {category: [account_setup, acount_management]}",
    "cycle in the assessment tree": "assessment:\n  start:",
    "overlapping calendar interval": '      mon: ["08:00-20:00", "19:00-21:00"]',
    "negative SLA duration": "      first_response: -5m",
    "unknown role key": "  intern:",
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_upload_is_refused_and_the_running_playbook_stays(app, client, acme, db, case):
    good = upload(client, acme, brand_playbook(2)).json()
    old, new, problem = BAD[case]
    text = brand_playbook(3)
    assert text.count(old) == 1
    bad_text = text.replace(old, new)

    response = upload(client, acme, bad_text, filename="upload.yaml")
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "invalid_playbook"
    assert "refused (1 problem)" in body["message"] and "the playbook in force is unchanged" in body["message"]
    [found] = body["problems"]
    where = found.partition(": ")[0]
    assert where.startswith("upload.yaml:") and where.removeprefix("upload.yaml:").isdigit()
    assert found.endswith(problem)

    assert in_force(client, acme) == good
    history = client.get(url(acme, "/playbook/history"), headers=auth(acme.read_token)).json()
    assert [h["version_id"] for h in history] == [good["version_id"]]
    assert pipeline_version(app, db, client, acme, "1003") == good["version"]

    checked = client.post(url(acme, "/playbook/check"), content=bad_text, params={"filename": "upload.yaml"},
                          headers={**YAML, **auth(acme.read_token)})
    assert checked.status_code == 200 and checked.json() == {
        "ok": False, "version": None, "digest": None, "problems": body["problems"], "warnings": []}


@pytest.mark.parametrize("case", list(BAD))
def test_each_problem_points_at_the_line_that_is_wrong(client, acme, case):
    old, new, _ = BAD[case]
    bad_text = brand_playbook(3).replace(old, new)
    problems = upload(client, acme, bad_text, filename="upload.yaml").json()["error"]["problems"]
    assert problems[0].startswith(f"upload.yaml:{line_of(bad_text, BAD_LINES[case])}: ")


def test_check_validates_without_applying(client, acme):
    text = brand_playbook(4)
    response = client.post(url(acme, "/playbook/check"), content=text, headers={**YAML, **auth(acme.read_token)})
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "version": version_of(text),
                               "digest": hashlib.sha256(text.encode()).hexdigest(), "problems": [], "warnings": []}
    assert in_force(client, acme)["default"] is True
    shadowed = text.replace("  rules:                        # first match wins\n",
                            "  rules:                        # first match wins\n"
                            "    - {id: everything, when: {}, queue: care_general}\n")
    warned = client.post(url(acme, "/playbook/check"), content=shadowed, headers={**YAML, **auth(acme.read_token)})
    assert warned.json()["ok"] is True
    assert "routing.rules[1] (red_to_crisis) never matches" in warned.json()["warnings"][0]


# Rolling back ------------------------------------------------------------------------------------


def test_rollback_puts_an_earlier_version_back_in_force(app, client, acme, db):
    first = upload(client, acme, brand_playbook(2), comment="first").json()
    second = upload(client, acme, brand_playbook(3), comment="second").json()
    assert pipeline_version(app, db, client, acme, "1004") == second["version"]

    response = client.post(url(acme, f"/playbook/versions/{first['version_id']}/activate"),
                           headers=auth(acme.admin_token))
    assert response.status_code == 200, response.text
    assert response.json() == first
    assert in_force(client, acme) == first
    assert pipeline_version(app, db, client, acme, "1005") == first["version"]
    history = client.get(url(acme, "/playbook/history"), headers=auth(acme.read_token)).json()
    assert [(h["version_id"], h["comment"], h["active"]) for h in history] == [
        (second["version_id"], "second", False), (first["version_id"], "first", True)]


def test_activating_a_version_of_another_workspace_is_404(client, acme, globex):
    theirs = upload(client, globex, brand_playbook(2)).json()
    response = client.post(url(acme, f"/playbook/versions/{theirs['version_id']}/activate"),
                           headers=auth(acme.admin_token))
    assert response.status_code == 404, response.text
    assert f"playbook version {theirs['version_id']} does not exist" in response.json()["error"]["message"]
    assert in_force(client, acme)["default"] is True


# Bodies that are not a playbook ------------------------------------------------------------------


def test_a_body_that_is_not_yaml_is_refused_clearly(client, acme):
    as_json = client.put(url(acme, "/playbook"), json={"playbook": {"name": "x"}}, headers=auth(acme.admin_token))
    assert as_json.status_code == 415, as_json.text
    assert as_json.json()["error"]["code"] == "unsupported_media_type"
    assert "application/yaml or text/yaml" in as_json.json()["error"]["message"]
    assert "'application/json'" in as_json.json()["error"]["message"]

    syntax = upload(client, acme, "playbook:\n  name: [unclosed\n", filename="acme.yaml")
    assert syntax.status_code == 422
    [problem] = syntax.json()["error"]["problems"]
    assert problem.startswith("acme.yaml:3: YAML syntax:")

    not_text = upload(client, acme, b"playbook: \xff\xfe", filename="acme.yaml")
    assert not_text.status_code == 422
    assert not_text.json()["error"]["problems"] == ["acme.yaml: not UTF-8 text (invalid start byte at byte 10)"]

    listing = upload(client, acme, "- just\n- a list\n", filename="acme.yaml")
    assert listing.status_code == 422 and "must be a mapping" in listing.json()["error"]["problems"][0]
    assert in_force(client, acme)["default"] is True


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, acme):
    huge = "# padding\n" * (MAX_PLAYBOOK_BYTES // 10 + 1)
    response = upload(client, acme, huge)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert f"limit of {MAX_PLAYBOOK_BYTES}" in response.json()["error"]["message"]
    checked = client.post(url(acme, "/playbook/check"), content=huge, headers={**YAML, **auth(acme.read_token)})
    assert checked.status_code == 413


def test_the_size_limit_follows_the_servers_body_limit(settings, db, acme):
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small, db=db, run_worker=False)) as http:
        response = upload(http, acme, brand_playbook(2))
    assert response.status_code == 413 and "limit of 4096" in response.json()["error"]["message"]


# Who may see it ----------------------------------------------------------------------------------


PLAYBOOK_ROUTES = [
    ("GET", "/playbook", None),
    ("GET", "/playbook?format=yaml", None),
    ("PUT", "/playbook", DEFAULT_TEXT),
    ("POST", "/playbook/check", DEFAULT_TEXT),
    ("GET", "/playbook/history", None),
    ("POST", "/playbook/versions/{id}/activate", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PLAYBOOK_ROUTES)
def test_another_workspaces_token_gets_404(client, acme, globex, method, path, body):
    mine = upload(client, acme, brand_playbook(2)).json()
    response = client.request(method, url(acme, path.format(id=mine["version_id"])), content=body,
                              headers={**YAML, **auth(globex.admin_token)})
    assert response.status_code == 404, response.text
    assert response.json()["error"] == {"code": "not_found", "message": "workspace 'acme' does not exist"}
    assert in_force(client, acme) == mine


def test_deleting_the_upload_goes_back_to_the_deployment_playbook(client, acme):
    uploaded = upload(client, acme, brand_playbook(5)).json()
    assert in_force(client, acme)["version_id"] == uploaded["version_id"]
    restored = client.delete(url(acme, "/playbook"), headers=auth(acme.admin_token))
    assert restored.status_code == 200, restored.text
    assert restored.json()["default"] is True
    assert in_force(client, acme)["default"] is True
    history = client.get(url(acme, "/playbook/history"), headers=auth(acme.read_token)).json()
    assert [h["active"] for h in history] == [False]
    denied = client.delete(url(acme, "/playbook"), headers=auth(acme.read_token))
    assert denied.status_code == 403
