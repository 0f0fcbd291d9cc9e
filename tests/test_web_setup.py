"""The first run: /setup makes the first admin and workspace while nobody has an account, exactly once."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from firebreak.accounts import service as accounts
from firebreak.accounts.models import Membership, User
from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.workspaces.models import Workspace
from tests.web_support import browser, csrf_token, sign_in

PASSWORD = "a long first password"
FORM = {"email": "Owner@Brand.test", "name": "Olu Owner", "password": PASSWORD, "confirmation": PASSWORD,
        "workspace_name": "Brand & Co", "workspace_slug": "brand"}


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db, run_worker=False)


def submit(client, **changes: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return client.post("/setup", data={"csrf_token": csrf_token(client, "/setup"), **FORM, **changes})


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) or 0  # type: ignore[return-value]
                     for table in (User, Workspace, Membership))


def test_the_first_run_makes_the_admin_and_workspace_signs_in_and_then_closes(app, db):
    client = browser(app)
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/setup"
    form = client.get("/setup")
    assert form.status_code == 200 and 'action="/setup"' in form.text and 'minlength="10"' in form.text

    answer = submit(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/w/brand/settings"
    settings_page = client.get("/w/brand/settings")
    assert settings_page.status_code == 200 and "Brand &amp; Co" in settings_page.text
    assert "Read-only" not in settings_page.text, "the first person is the admin"
    with db.read() as session:
        user = accounts.get_user(session=session, email="owner@brand.test")
        workspace = session.scalar(select(Workspace).where(Workspace.slug == "brand"))
        assert user.display_name == "Olu Owner" and workspace.name == "Brand & Co"
        assert accounts.roles_of(session=session, workspace_id=workspace.id, user_id=user.id) == {"admin"}
    assert counts(db) == (1, 1, 1)

    assert client.get("/setup").status_code == 404
    late = browser(app)
    assert late.get("/setup").status_code == 404
    token = csrf_token(late, "/sign-in")
    refused = late.post("/setup", data={"csrf_token": token, **FORM, "email": "second@brand.test",
                                        "workspace_slug": "second"})
    assert refused.status_code == 404 and counts(db) == (1, 1, 1)
    home = late.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/sign-in"
    assert sign_in(late, "owner@brand.test", PASSWORD).status_code == 303
    assert late.get("/").headers["location"] == "/w/brand/inbox"


def test_every_problem_is_shown_beside_its_field_and_nothing_is_made(app, db):
    client = browser(app)
    page = submit(client, email="not an address", password="short", confirmation="short", workspace_name=" ",
                  workspace_slug="Not A Slug")
    assert page.status_code == 422
    for field in ("email", "password", "workspace-name", "workspace-slug"):
        assert f'id="setup-{field}-error"' in page.text, field
    assert 'value="not an address"' in page.text and PASSWORD not in page.text
    page = submit(client, confirmation="a different long password")
    assert page.status_code == 422 and 'id="setup-confirmation-error"' in page.text
    assert 'id="setup-email-error"' not in page.text
    assert counts(db) == (0, 0, 0)
    assert client.get("/setup").status_code == 200, "still open"


def test_a_workspace_made_on_the_command_line_first_is_not_taken_over(app, db):
    with db.write() as session:
        session.add(Workspace(slug="brand", name="Made by the CLI"))
    page = submit(browser(app))
    assert page.status_code == 422 and 'id="setup-workspace-slug-error"' in page.text and "already exists" in page.text
    assert counts(db) == (0, 1, 0), "the admin was not made either: one transaction"


def test_setup_needs_the_form_token_like_every_form(app, db):
    client = browser(app)
    client.get("/setup")
    assert client.post("/setup", data=FORM).status_code == 403
    assert counts(db) == (0, 0, 0)


def test_two_first_runs_at_once_make_exactly_one_admin(app, db):
    clients = [browser(app) for _ in range(2)]
    tokens = [csrf_token(client, "/setup") for client in clients]
    barrier = threading.Barrier(2)
    answers: dict[int, int] = {}

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = clients[index].post("/setup", data={
            "csrf_token": tokens[index], **FORM, "email": f"admin{index}@brand.test",
            "workspace_slug": f"brand-{index}"}).status_code

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers.values()) == [303, 404]
    assert counts(db) == (1, 1, 1)
    with db.read() as session:
        (email,) = session.scalars(select(User.email)).all()
        (slug,) = session.scalars(select(Workspace.slug)).all()
    assert slug == f"brand-{email[5]}", "the winner's workspace, not the loser's"
