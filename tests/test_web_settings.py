"""The settings pages: playbook editing with errors in place, history and rollback, people, teams, channels with
webhook secrets, API tokens; who may change what; other tenants see nothing. Both databases."""

from __future__ import annotations

import html
import re
import time
from importlib import resources

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from firebreak.accounts import service as accounts
from firebreak.accounts.models import User
from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.mentions.webhook import sign
from firebreak.playbook.models import PlaybookVersion
from firebreak.settings import Settings
from firebreak.workspaces.models import ApiToken
from tests.factories import WorkspaceFixture
from tests.web_support import PASSWORD, add_cast_with_passwords, browser, csrf_token, sign_in, signed_in
from tests.workflow_support import add_member

DEFAULT_TEXT = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
PAGES = ("", "/playbook", "/playbook/history", "/people", "/teams", "/channels", "/tokens")
SECRET = re.compile(r'<code class="secret">([^<]+)</code>')


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    add_member(db, acme, "ada@acme.test", ["admin"])
    with db.write() as session:
        accounts.get_user(session=session, email="ada@acme.test").password_hash = accounts.hash_password(PASSWORD)
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def ada(app: FastAPI) -> TestClient:
    return signed_in(app, "ada@acme.test")


@pytest.fixture
def ana(app: FastAPI) -> TestClient:
    return signed_in(app, "ana@acme.test")


def post(client: TestClient, path: str, page: str | None = None, **fields: str | list[str]):  # type: ignore[no-untyped-def]
    """POST a form the way the page does: with the CSRF token taken from `page` (default: the settings overview)."""
    token = csrf_token(client, page or "/w/acme/settings")
    return client.post(path, data={"csrf_token": token, **fields})


def versioned(version: str, text: str = DEFAULT_TEXT) -> str:
    return text.replace("  version: 1\n", f"  version: {version}\n", 1)


def line_of(text: str, fragment: str, after: str = "") -> int:
    """The 1-based line of the first `fragment` that comes after `after`."""
    start = text.index(after) if after else 0
    return text[:text.index(fragment, start)].count("\n") + 1


def history_count(db: Database, ws: WorkspaceFixture) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(PlaybookVersion)
                              .where(PlaybookVersion.workspace_id == ws.id)) or 0


def in_force(app: FastAPI, db: Database, ws: WorkspaceFixture) -> str:
    with db.read() as session:
        return app.state.services.playbook(session, ws.id).version


# ---------------------------------------------------------------------------------------------- pages


def test_every_settings_page_renders_for_an_admin_with_its_forms(ada):
    for path in PAGES:
        page = ada.get(f"/w/acme/settings{path}")
        assert page.status_code == 200, (path, page.text)
        assert "Read-only" not in page.text, path
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert 'aria-current="page"' in page.text
    overview = ada.get("/w/acme/settings").text
    for link in ("/playbook", "/people", "/teams", "/channels", "/tokens"):
        assert f'href="/w/acme/settings{link}"' in overview
    playbook = ada.get("/w/acme/settings/playbook").text
    assert "the deployment's default, &lt;default&gt;/default.yaml" in playbook
    textarea = re.search(r'<textarea id="playbook-text" name="text"[^>]*>(.*?)</textarea>', playbook, re.S)
    assert textarea and html.unescape(textarea.group(1)) == DEFAULT_TEXT
    assert 'type="file"' in playbook and '<script src="/static/settings.js" defer>' in playbook
    people = ada.get("/w/acme/settings/people").text
    assert "ana@acme.test" in people and "gus@globex.test" not in people
    assert 'action="/w/acme/settings/people"' in people
    teams = ada.get("/w/acme/settings/teams").text
    assert "Social care" in teams and "Crisis desk" in teams and "away" in teams
    channels = ada.get("/w/acme/settings/channels").text
    assert "x-main" in channels and "/settings/channels/hooks/rotate" in channels
    assert "whsec_" not in channels, "a webhook secret is never listed"
    tokens = ada.get("/w/acme/settings/tokens").text
    assert "reader" in tokens and "fbk_" in tokens and SECRET.search(tokens) is None
    assert ada.get("/static/settings.css").status_code == 200 and ada.get("/static/settings.js").status_code == 200


CHANGES = (
    ("/w/acme/settings/playbook", {"text": DEFAULT_TEXT}),
    ("/w/acme/settings/playbook/rollback", {"version_id": "1"}),
    ("/w/acme/settings/playbook/default", {}),
    ("/w/acme/settings/people", {"email": "new@acme.test", "role": "admin", "password": PASSWORD}),
    ("/w/acme/settings/people/{lee}/roles", {"role": "admin"}),
    ("/w/acme/settings/people/{lee}/remove", {}),
    ("/w/acme/settings/people/{lee}/active", {"active": "0"}),
    ("/w/acme/settings/teams/care/members", {"user": "{lex}"}),
    ("/w/acme/settings/teams/care/members/{lee}/remove", {}),
    ("/w/acme/settings/teams/availability/{lee}", {"available": "1"}),
    ("/w/acme/settings/channels", {"kind": "webhook", "slug": "zap"}),
    ("/w/acme/settings/channels/hooks/rotate", {}),
    ("/w/acme/settings/tokens", {"name": "mine", "scope": "admin"}),
    ("/w/acme/settings/tokens/1/revoke", {}),
)


def fill(text: str, ids: dict[str, str]) -> str:
    """Put user ids in for {name} (str.format would trip over the playbook's regular expressions)."""
    for name, user_id in ids.items():
        text = text.replace(f"{{{name}}}", user_id)
    return text


def _ids(db: Database) -> dict[str, str]:
    with db.read() as session:
        return {user.email.split("@")[0]: str(user.id) for user in session.scalars(select(User))}


def test_a_member_without_the_permissions_reads_but_every_change_is_refused(ana, db, acme):
    for path in PAGES:
        page = ana.get(f"/w/acme/settings{path}")
        assert page.status_code == 200, path
        assert "Read-only" in page.text, path
        assert "<textarea" not in page.text and "/rotate" not in page.text and "/revoke" not in page.text, path
    assert "needs the &#39;edit_playbook&#39; permission, which your roles (agent)" in \
        ana.get("/w/acme/settings/playbook").text
    assert '<ol class="numbered">' in ana.get("/w/acme/settings/playbook").text, "the playbook is shown read-only"

    ids = _ids(db)
    with db.read() as session:
        before = (session.scalar(select(func.count()).select_from(ApiToken)),
                  sorted(accounts.roles_of(session=session, workspace_id=acme.id, user_id=int(ids["lee"]))))
    for path, fields in CHANGES:
        path = fill(path, ids)
        answer = post(ana, path, **{k: fill(v, ids) for k, v in fields.items()})
        assert answer.status_code == 403, (path, answer.text)
        assert "may not" in answer.text
    with db.read() as session:
        assert session.scalar(select(User.id).where(User.email == "new@acme.test")) is None
        after = (session.scalar(select(func.count()).select_from(ApiToken)),
                 sorted(accounts.roles_of(session=session, workspace_id=acme.id, user_id=int(ids["lee"]))))
    assert after == before and history_count(db, acme) == 0


def test_other_workspaces_and_strangers_get_nothing(app, db, acme):
    gus = signed_in(app, "gus@globex.test")
    ids = _ids(db)
    for path in PAGES:
        assert gus.get(f"/w/acme/settings{path}").status_code == 404, path
        assert gus.get(f"/w/nowhere/settings{path}").status_code == 404, path
    for path, fields in CHANGES:
        answer = post(gus, fill(path, ids), page="/w/globex/settings", **{k: fill(v, ids) for k, v in fields.items()})
        assert answer.status_code == 404, path
    assert gus.get("/w/globex/settings").status_code == 200
    stranger = browser(app)
    answer = stranger.get("/w/acme/settings/tokens")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")


def test_a_form_without_its_csrf_token_is_refused(ada, db, acme):
    answer = ada.post("/w/acme/settings/tokens", data={"name": "sneaky", "scope": "admin"})
    assert answer.status_code == 403
    with db.read() as session:
        assert session.scalar(select(ApiToken.id).where(ApiToken.name == "sneaky")) is None


# ---------------------------------------------------------------------------------------------- playbook


def test_an_invalid_playbook_is_shown_at_its_line_and_the_one_in_force_stays(app, ada, db, acme):
    assert post(ada, "/w/acme/settings/playbook", text=versioned("first"), comment="ours").status_code == 303
    kept = in_force(app, db, acme)
    assert kept.startswith("first+")

    broken = versioned("second").replace("      flag: red\n", "      flag: purple\n", 1)
    bad_line = line_of(broken, "flag: purple")
    page = post(ada, "/w/acme/settings/playbook", "/w/acme/settings/playbook", text=broken.replace("\n", "\r\n"),
                filename="brand.yaml")
    assert page.status_code == 422
    assert "The playbook in force is unchanged" in page.text and kept in page.text
    problem = re.search(r'<li><a href="#line-(\d+)">line (\d+)</a>: ([^<]+)</li>', page.text)
    assert problem and int(problem.group(1)) == int(problem.group(2)) == bad_line
    assert html.unescape(problem.group(3)).startswith("risk.categories[0].flag: Input should be")
    marked = re.search(rf'<li id="line-{bad_line}" class="bad"><span class="n">{bad_line}</span><code>(.*?)</code>'
                       r'<span class="problem">([^<]+)</span>', page.text)
    assert marked and marked.group(1) == "      flag: purple"
    assert page.text.count('class="bad"') == 1
    textarea = re.search(r'<textarea id="playbook-text" name="text"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert textarea and html.unescape(textarea.group(1)) == broken, "the submitted text comes back to be fixed"
    assert in_force(app, db, acme) == kept and history_count(db, acme) == 1

    syntax = "playbook:\n  name: x\nrisk: [unclosed\nexamples: []\n"
    page = post(ada, "/w/acme/settings/playbook", "/w/acme/settings/playbook", text=syntax)
    assert page.status_code == 422 and "YAML syntax" in page.text
    line = int(re.search(r'<a href="#line-(\d+)">', page.text).group(1))
    assert f'<li id="line-{line}" class="bad">' in page.text and 3 <= line <= 5
    assert in_force(app, db, acme) == kept and history_count(db, acme) == 1


def test_valid_edits_make_versions_that_can_be_rolled_back_and_left_for_the_default(app, ada, db, acme):
    first, second = versioned("first"), versioned("second").replace("name: Firebreak default risk guide",
                                                                   "name: Acme risk guide")
    answer = post(ada, "/w/acme/settings/playbook", text=first, comment="start from the default",
                  filename="acme playbook.yml")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/w/acme/settings/playbook?applied=")
    shown = ada.get(answer.headers["location"]).text
    assert "is now in force" in shown and "acme-playbook.yml" in shown and "ada@acme.test" in shown
    assert post(ada, "/w/acme/settings/playbook", text=second, comment="our name").status_code == 303
    assert in_force(app, db, acme).startswith("second+")

    history = ada.get("/w/acme/settings/playbook/history").text
    rows = re.findall(r"<tr( class=\"active\")?>\s*<td><code>([^<]+)</code>", history)
    assert [(bool(active), version.split("+")[0]) for active, version in rows] == [(True, "second"), (False, "first")]
    assert "our name" in history and "start from the default" in history and "ada@acme.test" in history
    assert "+2 −2 lines" in history and "first upload" in history
    with db.read() as session:
        first_id = session.scalar(select(PlaybookVersion.id).where(PlaybookVersion.version.startswith("first+")))

    answer = post(ada, "/w/acme/settings/playbook/rollback", version_id=str(first_id))
    assert answer.status_code == 303
    assert in_force(app, db, acme).startswith("first+")
    assert "this workspace's upload, acme-playbook.yml" in ada.get("/w/acme/settings/playbook").text
    assert post(ada, "/w/acme/settings/playbook/rollback", version_id="999999").status_code == 404

    assert post(ada, "/w/acme/settings/playbook/default").status_code == 303
    assert in_force(app, db, acme) == app.state.services.playbooks.default.version
    assert "the deployment's default" in ada.get("/w/acme/settings/playbook").text
    assert history_count(db, acme) == 2, "the history is kept for a later rollback"


def test_a_playbook_too_large_for_the_form_is_refused_whole(ada, app, db, acme):
    answer = post(ada, "/w/acme/settings/playbook", text="#" * (600 * 1024))
    assert answer.status_code == 413 and history_count(db, acme) == 0
    roomy = versioned("roomy") + "# " + "x" * (200 * 1024) + "\n"
    assert post(ada, "/w/acme/settings/playbook", text=roomy).status_code == 303, "bigger than other forms allow"


# ---------------------------------------------------------------------------------------------- people


def test_an_added_person_can_sign_in_with_the_typed_or_the_generated_password(app, ada, db, acme):
    page = post(ada, "/w/acme/settings/people", email="Nia@Acme.test", name="Nia <b>", role="lead",
                password="nia's own password")
    assert page.status_code == 201 and "nia@acme.test" in page.text and "Nia &lt;b&gt;" in page.text
    assert SECRET.search(page.text) is None, "a typed password is never echoed"
    nia = browser(app)
    assert sign_in(nia, "nia@acme.test", "nia's own password").status_code == 303
    assert nia.get("/w/acme/inbox").status_code == 200

    page = post(ada, "/w/acme/settings/people", email="gen@acme.test", role="agent")
    generated = SECRET.search(page.text)
    assert page.status_code == 201 and generated and len(generated.group(1)) >= accounts.MIN_PASSWORD
    assert sign_in(browser(app), "gen@acme.test", html.unescape(generated.group(1))).status_code == 303
    assert SECRET.search(ada.get("/w/acme/settings/people").text) is None, "shown once"

    page = post(ada, "/w/acme/settings/people", email="gus@globex.test", role="agent")
    assert page.status_code == 201 and "already had an account" in page.text and SECRET.search(page.text) is None
    assert sign_in(browser(app), "gus@globex.test").status_code == 303, "an existing account keeps its password"

    page = post(ada, "/w/acme/settings/people", email="ana@acme.test", role="agent")
    assert page.status_code == 422 and 'id="person-email-error"' in page.text and "already a member" in page.text
    page = post(ada, "/w/acme/settings/people", email="short@acme.test", role="agent", password="short")
    assert page.status_code == 422 and 'id="person-password-error"' in page.text
    assert 'value="short@acme.test"' in page.text, "the form keeps what was typed"


def test_roles_removal_and_deactivation_never_leave_the_workspace_without_an_admin(app, ada, db, acme):
    ids = _ids(db)
    page = post(ada, f"/w/acme/settings/people/{ids['ada']}/remove")
    assert page.status_code == 422 and "last admin" in page.text
    assert post(ada, f"/w/acme/settings/people/{ids['ada']}/roles", role="agent").status_code == 422
    assert post(ada, f"/w/acme/settings/people/{ids['ada']}/active", active="0").status_code == 422

    assert post(ada, f"/w/acme/settings/people/{ids['ana']}/roles", role=["lead", "communications"]).status_code \
        == 303
    with db.read() as session:
        assert accounts.roles_of(session=session, workspace_id=acme.id, user_id=int(ids["ana"])) == \
            {"lead", "communications"}
    assert post(ada, f"/w/acme/settings/people/{ids['ana']}/roles").status_code == 422, "at least one role"

    ana = signed_in(app, "ana@acme.test")
    assert post(ada, f"/w/acme/settings/people/{ids['ana']}/remove").status_code == 303
    assert ana.get("/w/acme/inbox").status_code == 404, "removed: the workspace is gone for her"
    assert post(ada, f"/w/acme/settings/people/{ids['ana']}/remove").status_code == 404

    lex = signed_in(app, "lex@acme.test")
    assert post(ada, f"/w/acme/settings/people/{ids['lex']}/active", active="0").status_code == 303
    assert "deactivated" in ada.get("/w/acme/settings/people").text
    assert lex.get("/w/acme/settings").status_code == 303, "a deactivated account's session ends"
    assert sign_in(browser(app), "lex@acme.test").status_code == 401
    assert post(ada, f"/w/acme/settings/people/{ids['lex']}/active", active="1").status_code == 303
    assert sign_in(browser(app), "lex@acme.test").status_code == 303

    page = post(ada, f"/w/acme/settings/people/{ids['gus']}/active", active="0")
    assert page.status_code == 404, "not a member here"

    assert post(ada, f"/w/acme/settings/people/{ids['lee']}/roles", role="admin").status_code == 303
    leaving = post(ada, f"/w/acme/settings/people/{ids['ada']}/remove")
    assert leaving.status_code == 303 and leaving.headers["location"] == "/", "another admin is left: she may go"
    assert ada.get("/w/acme/settings").status_code == 404


# ---------------------------------------------------------------------------------------------- teams


def care_table(client: TestClient) -> str:
    """The members table of the care team (not the list of people who could join it)."""
    return client.get("/w/acme/settings/teams").text.split('id="team-care"')[1].split("</table>")[0]


def test_team_members_and_who_is_on_shift(app, ada, ana, db, acme):
    ids = _ids(db)
    page = ada.get("/w/acme/settings/teams").text
    care = page.split('id="team-care"')[1].split("</table>")[0]
    assert "ana@acme.test" in care and "lee@acme.test" in care and "away" in care and "cris@acme.test" not in care

    assert post(ada, "/w/acme/settings/teams/care/members", user=ids["lex"], lead="1").status_code == 303
    assert "lex@acme.test" in care_table(ada)
    assert post(ada, f"/w/acme/settings/teams/care/members/{ids['lex']}/remove").status_code == 303
    assert "lex@acme.test" not in care_table(ada)
    assert post(ada, "/w/acme/settings/teams/nope/members", user=ids["lex"]).status_code == 404
    page = post(ada, "/w/acme/settings/teams/care/members", user=ids["gus"])
    assert page.status_code == 404 and "gus@globex.test" not in page.text, "another workspace's people stay unknown"
    page = post(ada, f"/w/acme/settings/teams/care/members/{ids['lex']}/remove")
    assert page.status_code == 422 and "not in team" in page.text

    assert post(ana, f"/w/acme/settings/teams/availability/{ids['ana']}", available="1").status_code == 303
    assert re.search(r"ana@acme\.test</span></td>\s*<td></td>\s*<td>on shift</td>", care_table(ada))
    assert post(ana, f"/w/acme/settings/teams/availability/{ids['lee']}", available="1").status_code == 403


# ---------------------------------------------------------------------------------------------- channels


def _deliver(app: FastAPI, secret: str, external_id: str) -> int:
    body = orjson.dumps({"external_id": external_id, "text": "hello from the webhook"})
    now = int(time.time())
    answer = TestClient(app).post("/api/v1/workspaces/acme/mentions", content=body, headers={
        "Content-Type": "application/json", "X-Firebreak-Channel": "hooks", "X-Firebreak-Timestamp": str(now),
        "X-Firebreak-Signature": sign(secret, now, body)})
    return answer.status_code


def test_a_rotated_webhook_secret_is_shown_once_and_replaces_the_old_one(app, ada, acme, settings):
    assert _deliver(app, acme.webhook_secret, "before") == 202
    page = post(ada, "/w/acme/settings/channels/hooks/rotate", "/w/acme/settings/channels")
    assert page.status_code == 200
    new_secret = html.unescape(SECRET.search(page.text).group(1))
    assert new_secret.startswith("whsec_") and new_secret != acme.webhook_secret
    assert f"{settings.base_url}/api/v1/workspaces/acme/mentions" in page.text
    assert "X-Firebreak-Channel: hooks" in page.text
    assert _deliver(app, acme.webhook_secret, "old") == 401
    assert _deliver(app, new_secret, "new") == 202
    assert new_secret not in ada.get("/w/acme/settings/channels").text
    assert post(ada, "/w/acme/settings/channels/nope/rotate").status_code == 404


def test_adding_channels(app, ada, db, acme):
    page = post(ada, "/w/acme/settings/channels", kind="webhook", slug="zapier", name="Zapier <relay>")
    assert page.status_code == 201 and "Channel zapier added" in page.text and "Zapier &lt;relay&gt;" in page.text
    secret = html.unescape(SECRET.search(page.text).group(1))
    body = orjson.dumps({"external_id": "z1", "text": "hi"})
    now = int(time.time())
    answer = TestClient(app).post("/api/v1/workspaces/acme/mentions", content=body, headers={
        "Content-Type": "application/json", "X-Firebreak-Channel": "zapier", "X-Firebreak-Timestamp": str(now),
        "X-Firebreak-Signature": sign(secret, now, body)})
    assert answer.status_code == 202

    page = post(ada, "/w/acme/settings/channels", kind="rss", slug="status", feed_url="https://status.example/feed")
    assert page.status_code == 201 and "https://status.example/feed" in page.text
    page = post(ada, "/w/acme/settings/channels", kind="webhook", slug="zapier")
    assert page.status_code == 422 and "already exists" in page.text and 'id="channel-slug-error"' in page.text
    page = post(ada, "/w/acme/settings/channels", kind="carrier-pigeon", slug="birds")
    assert page.status_code == 422 and 'id="channel-kind-error"' in page.text
    page = post(ada, "/w/acme/settings/channels", kind="webhook", slug="Bad Slug")
    assert page.status_code == 422 and "not a valid channel" in page.text


# ---------------------------------------------------------------------------------------------- tokens


def test_tokens_are_shown_once_listed_without_their_secret_and_revocable(app, ada, db, acme):
    page = post(ada, "/w/acme/settings/tokens", name="dashboard", scope=["mentions:read", "workflow:write"])
    assert page.status_code == 201
    secret = html.unescape(SECRET.search(page.text).group(1))
    api = TestClient(app)
    auth = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/workspaces/acme/mentions", headers=auth).status_code == 200

    listing = ada.get("/w/acme/settings/tokens").text
    assert "dashboard" in listing and "mentions:read, workflow:write" in listing and secret not in listing
    assert secret[:10] in listing, "the prefix identifies it"
    token_id = re.search(r'<tr id="token-(\d+)">\s*<td><strong>dashboard', listing).group(1)

    assert post(ada, f"/w/acme/settings/tokens/{token_id}/revoke").status_code == 303
    assert api.get("/api/v1/workspaces/acme/mentions", headers=auth).status_code == 401
    assert "revoked" in ada.get("/w/acme/settings/tokens").text.split(f'id="token-{token_id}"')[1].split("</tr>")[0]

    page = post(ada, "/w/acme/settings/tokens", name="nothing")
    assert page.status_code == 422 and 'id="token-scopes-error"' in page.text
    page = post(ada, "/w/acme/settings/tokens", name="  ", scope="admin")
    assert page.status_code == 422 and 'id="token-name-error"' in page.text
    with db.read() as session:
        globex_token = session.scalar(select(ApiToken.id).where(ApiToken.workspace_id != acme.id).limit(1))
    assert post(ada, f"/w/acme/settings/tokens/{globex_token}/revoke").status_code == 404
