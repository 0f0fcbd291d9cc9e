"""A browser's view of the web app for the page tests: people with passwords, signed-in clients, mentions.

    cast = add_cast_with_passwords(db, acme, globex)   # add_cast's people, each with PASSWORD, all off shift
    browser = signed_in(app, "lee@acme.test")            # a TestClient carrying lee's session cookie
    token = csrf_token(browser, "/w/acme/inbox")         # the token the page's forms carry
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.accounts import service as accounts
from firebreak.channels import service as channel_service
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.mentions import service as mention_service
from firebreak.worker import BackgroundWorker
from tests.factories import WorkspaceFixture, mention
from tests.workflow_support import Cast, add_cast, set_team_availability

PASSWORD = "correct horse battery"
# name -> (text, minutes before now it was received); the default playbook's examples fix flags and queues.
MENTIONS = {
    "overdue_old": ("My lawyer will be in touch about this.", 180),  # red, due 175 min ago
    "overdue": ("see you in court @acme", 120),  # red, due 115 min ago
    "red": ("Fix it by Friday or I file in small claims.", 1),  # red, due in 4 min
    "yellow": ("Please change my booking ABC123 to Friday", 10),  # yellow, due in 50 min
    "green": ("How do I set up two-factor login on my new account?", 0),
}
AUTHORS = {"overdue_old": {"author": {"handle": "pat", "followers": 1200, "tags": ["customer"]}}}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_MENTION_LINK = re.compile(r'href="/w/[a-z0-9-]+/mentions/(\d+)"')


def add_cast_with_passwords(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Cast:
    """add_cast's people with PASSWORD, all off shift so intake leaves the work unassigned."""
    cast = add_cast(db, acme, globex)
    with db.write() as session:
        for user in accounts.users_by_email(session=session, emails=[
                "ana@acme.test", "lee@acme.test", "cris@acme.test", "dan@acme.test", "eve@acme.test",
                "lex@acme.test", "gus@globex.test"]).values():
            user.password_hash = accounts.hash_password(PASSWORD)
    for user_id, team in ((cast.ana, "care"), (cast.lee, "care"), (cast.cris, "crisis"), (cast.dan, "crisis"),
                          (cast.eve, "crisis")):
        set_team_availability(db, acme, user_id, team, False)
    set_team_availability(db, globex, cast.gus, "care", False)
    return cast


def ingest_work(app: FastAPI, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> dict[str, int]:
    """MENTIONS in acme and one red mention in globex ("globex"), through the app's own pipeline; ids by name."""
    now = utcnow()
    ids = {name: ingest_one(db, acme, name, text, now - timedelta(minutes=ago), **AUTHORS.get(name, {}))
           for name, (text, ago) in MENTIONS.items()}
    ids["globex"] = ingest_one(db, globex, "g1", "My lawyer will be in touch about this.", now)
    assert BackgroundWorker(db, app.state.services.pipeline()).drain() == len(ids)
    return ids


def ingest_one(db: Database, ws: WorkspaceFixture, external_id: str, text: str, received: datetime,
               **fields: Any) -> int:
    with db.write() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
        result = mention_service.ingest_mentions(
            session=session, workspace_id=ws.id, channels=channels, default_channel=channels["x-main"],
            items=[mention(external_id, text, **fields)], received_at=received)
    return result.ids[0]


def browser(app: FastAPI) -> TestClient:
    """A client that shows redirects instead of following them, so tests see where they point."""
    return TestClient(app, follow_redirects=False)


def csrf_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = _TOKEN.search(page.text)
    assert found, f"no csrf_token on {path}"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, *, next_path: str = "/") -> httpx.Response:
    token = csrf_token(client, "/sign-in")
    return client.post("/sign-in", data={"csrf_token": token, "email": email, "password": password,
                                         "next": next_path})


def signed_in(app: FastAPI, email: str) -> TestClient:
    client = browser(app)
    response = sign_in(client, email)
    assert response.status_code == 303, response.text
    return client


def mention_ids(html: str) -> list[int]:
    """The mentions a page links to, in page order."""
    return [int(found) for found in _MENTION_LINK.findall(html)]
