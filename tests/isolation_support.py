"""Two full workspaces served on loopback, for the route-isolation test: acme (the attacker's) and globex (the
victim's), each with everything a route may name by id: mentions with work items, an issue with a task, a draft
with an approved and an open version, a publication with an outbox message, a follow-up author, a lesson, an
uploaded playbook version, a channel of its own and API tokens.

    world = build_world(app, db, acme, globex, base_url)
    world.globex.ids["issue_id"]                     # the victim's issue
    before = fingerprint(db)                         # every row of every table, hashed per table

Every text of a workspace's objects carries secret_text(slug), so an answer that shows it to the other
workspace is caught even when its status looks like a refusal.

The issues and their content are made through the HTTP API by each workspace's own admin (a personal token),
so building the world is also a check that the routes work for the people they belong to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from firebreak.accounts import service as accounts
from firebreak.channels import service as channel_service
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.schema import metadata
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import ApiToken
from tests.factories import WorkspaceFixture
from tests.web_support import PASSWORD, ingest_one, ingest_work
from tests.workflow_support import add_cast, add_member

NOWHERE = "http://127.0.0.1:9/nowhere"  # the discard port: nothing is delivered in this test
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HTTP_TIMEOUT = 20.0


@dataclass
class Side:
    """One workspace of the world: its admin, their tokens, and one id of each kind of object in it."""

    slug: str
    workspace_id: int
    admin_email: str
    fixture: WorkspaceFixture
    admin_token: str = ""  # personal token of the admin, every scope
    ids: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    acme: Side
    globex: Side
    # Who attacks: acme's integration admin token, and the personal token of a user who is admin in acme AND a
    # member of globex (so only the token's workspace, not the user's memberships, keeps globex out).
    attacker_tokens: dict[str, str]
    # Read-only tokens of acme: an integration token and the personal token of acme's admin.
    read_only_tokens: dict[str, str]
    web_attacker: str  # e-mail of an acme-only admin who signs in to the pages


def secret_text(slug: str) -> str:
    """Put into every text of a workspace's objects: found in an answer to another workspace, it leaked."""
    return f"[{slug}-only-text]"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _Api:
    """One workspace's API as its admin; every call must succeed."""

    def __init__(self, client: httpx.Client, side: Side) -> None:
        self.client, self.side = client, side

    def __call__(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        url = f"/api/v1/workspaces/{self.side.slug}{path}"
        headers = {**_auth(self.side.admin_token), **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expect, f"world set-up: {method} {url}: {response.status_code} {response.text}"
        return response.json()


def default_playbook_text() -> str:
    return resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")


def playbook_with_desk(slug: str) -> str:
    """The shipped playbook plus a team only this workspace has (`{slug}_desk`)."""
    document = yaml.safe_load(default_playbook_text())
    document["playbook"]["version"] = f"{slug}-1"
    document["teams"].append({"id": f"{slug}_desk", "label": f"{slug} desk", "calendar": "always"})
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _people(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> None:
    """add_cast's people (no passwords: nobody signs in as them), and the admins who build and attack."""
    add_cast(db, acme, globex)
    add_member(db, acme, "ada@acme.test", ["admin"])
    add_member(db, globex, "ava@globex.test", ["admin"], teams=["care"])
    add_member(db, acme, "max@acme.test", ["admin"])  # admin in acme and an agent in globex
    add_member(db, globex, "max@acme.test", ["agent"], teams=["care"])
    hashed = accounts.hash_password(PASSWORD)  # once: argon2 is slow on purpose
    with db.write() as session:
        for user in accounts.users_by_email(session=session, emails=[
                "ada@acme.test", "ava@globex.test", "max@acme.test"]).values():
            user.password_hash = hashed


def _token(db: Database, ws: WorkspaceFixture, name: str, scopes: list[str], email: str | None = None) -> str:
    with db.write() as session:
        user_id = accounts.get_user(session=session, email=email).id if email else None
        _, secret = workspace_service.create_token(session=session, workspace_id=ws.id, name=name, scopes=scopes,
                                                   user_id=user_id)
    return secret


def _ingest(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, list[int]]:
    """ingest_work's mentions, plus in each workspace a complaint whose author can be followed up."""
    work = ingest_work(app, db, acme, globex)
    now = utcnow()
    mentions = {"acme": [work[name] for name in ("red", "overdue", "yellow")], "globex": [work["globex"]]}
    for ws in (acme, globex):
        mentions[ws.slug].append(ingest_one(
            db, ws, f"{ws.slug}-complaint",
            f"Your update bricked my door lock and I am furious about it. {secret_text(ws.slug)}",
            now - timedelta(minutes=3), author={"handle": f"{ws.slug}-customer", "followers": 10}))
    BackgroundWorker(db, app.state.services.pipeline()).drain()
    return mentions


def _furnish(client: httpx.Client, db: Database, side: Side, mention_ids: list[int]) -> None:
    """Through the API as the workspace's admin: an issue from the mentions, a task, an approved and an open
    draft version, a publication with an outbox post, a lesson and an uploaded playbook."""
    api = _Api(client, side)
    slug, marker = side.slug, secret_text(side.slug)
    issue = api("POST", "/issues", 201, json={"title": f"{slug} lock outage {marker}", "severity": "high",
                                              "summary": f"Door locks fail after the update. {marker}",
                                              "mention_ids": mention_ids})
    issue_id = issue["id"]
    task_title = f"{slug}: call the supplier {marker}"
    detail = api("POST", f"/issues/{issue_id}/tasks", 201, json={"title": task_title})
    task_id = next(task["id"] for group in detail["tasks"] for task in group["tasks"] if task["title"] == task_title)
    api("PUT", "/channels/hooks/outbound", json={"url": NOWHERE})
    draft = api("POST", f"/issues/{issue_id}/drafts", 201, json={
        "kind": "acknowledgement", "title": f"{slug} is on it {marker}", "body": f"We know. {marker}"})
    first = draft["versions"][-1]["id"]
    api("POST", f"/issues/{issue_id}/drafts/versions/{first}/submit")
    api("POST", f"/issues/{issue_id}/drafts/versions/{first}/review", json={"verdict": "approved"})
    published = api("POST", f"/issues/{issue_id}/publish", 201, json={
        "kind": "acknowledgement", "channels": ["hooks"], "reply_in_threads": False, "slug": f"{slug}-aware"})
    message_id = next(m["id"] for m in published["messages"] if m["channel"] == "hooks")
    response = api("POST", f"/issues/{issue_id}/drafts", 201, json={
        "kind": "response", "title": f"{slug}: what happened {marker}", "body": f"The update drained them. {marker}"})
    response_version = response["versions"][-1]["id"]  # approved and not published: publishing it would work
    api("POST", f"/issues/{issue_id}/drafts/versions/{response_version}/submit")
    api("POST", f"/issues/{issue_id}/drafts/versions/{response_version}/review", json={"verdict": "approved"})
    draft = api("POST", f"/issues/{issue_id}/drafts/{draft['id']}/versions", 201,
                json={"body": f"We know and are fixing it. {marker}", "based_on": 1})
    open_version = draft["versions"][-1]["id"]
    api("POST", f"/issues/{issue_id}/drafts/versions/{open_version}/comments", 201, json={"text": f"Hm. {marker}"})
    follow_ups = api("GET", f"/issues/{issue_id}/follow-ups")
    assert follow_ups["items"], f"world set-up: {slug}'s issue has no author to follow up"
    lesson = api("POST", f"/issues/{issue_id}/lessons", 201, json={"text": f"{slug}: test on real locks {marker}"})
    playbook = api("PUT", "/playbook", 201, content=playbook_with_desk(slug).encode(),
                   headers={"Content-Type": "application/yaml"})
    with db.write() as session:
        channel = channel_service.create_channel(session=session, workspace_id=side.workspace_id,
                                                 slug=f"{slug}-only", kind="webhook")
        admin = accounts.get_user(session=session, email=side.admin_email)
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.workspace_id == side.workspace_id)
                                  .order_by(ApiToken.id).limit(1))
        side.ids.update(
            mention_id=mention_ids[0], mention_ids=mention_ids, issue_id=issue_id, task_id=task_id,
            draft_id=draft["id"], draft_version_id=open_version, response_version_id=response_version,
            message_id=message_id, channel=channel.slug, author_id=follow_ups["items"][0]["author_id"],
            lesson_id=lesson["id"], playbook_version_id=playbook["version_id"], token_id=token_id, user_id=admin.id,
            team=f"{slug}_desk", publication_id=published["publication"]["id"])


def build_world(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture, base_url: str) -> World:
    """Both workspaces, furnished alike through the API (`app` must be served at `base_url`)."""
    _people(db, acme, globex)
    mentions = _ingest(app, db, acme, globex)
    sides = {}
    for ws, admin in ((acme, "ada@acme.test"), (globex, "ava@globex.test")):
        side = Side(ws.slug, ws.id, admin, ws)
        side.admin_token = _token(db, ws, f"{admin} everything", ["admin"], admin)
        sides[ws.slug] = side
    with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        for slug, side in sides.items():
            _furnish(client, db, side, mentions[slug])
    return World(
        acme=sides["acme"], globex=sides["globex"],
        attacker_tokens={
            "acme admin token": acme.admin_token,
            "acme personal token of a globex member": _token(db, acme, "max everything",
                                                             ["admin", "workflow:write", "mentions:read"],
                                                             "max@acme.test"),
        },
        read_only_tokens={
            "acme read-only token": acme.read_token,
            "acme admin's read-only personal token": _token(db, acme, "ada reads", ["mentions:read"],
                                                            "ada@acme.test"),
        },
        web_attacker="ada@acme.test",
    )


# ---------------------------------------------------------------------------------------------- browsers


def browser(base_url: str) -> httpx.Client:
    """A client that keeps cookies and shows redirects instead of following them."""
    return httpx.Client(base_url=base_url, follow_redirects=False, timeout=HTTP_TIMEOUT)


def csrf_from(client: httpx.Client, *paths: str) -> str:
    """The session's CSRF token, from the first of `paths` that shows a form carrying it."""
    seen = []
    for path in paths:
        page = client.get(path)
        found = _CSRF.search(page.text) if page.status_code == 200 else None
        if found:
            return found.group(1)
        seen.append(f"{path}: {page.status_code}")
    raise AssertionError(f"no page with a csrf_token field: {'; '.join(seen)}")


def signed_in_browser(base_url: str, email: str) -> httpx.Client:
    client = browser(base_url)
    token = csrf_from(client, "/sign-in")
    response = client.post("/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD,
                                             "next": "/"})
    assert response.status_code == 303, f"sign-in as {email}: {response.status_code} {response.text[:300]}"
    return client


# ---------------------------------------------------------------------------------------------- the database


def fingerprint(db: Database) -> dict[str, str]:
    """A digest of every row of every table, per table: any insert, update or delete changes one.

    Raw SQL on one connection, ordered by primary key: the walk takes hundreds of these, so no ORM types."""
    digests = {}
    with db.read_engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = ", ".join(f'"{column.name}"' for column in table.primary_key.columns)
            rows = connection.exec_driver_sql(f'SELECT * FROM "{table.name}" ORDER BY {order}').all()
            digests[table.name] = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
