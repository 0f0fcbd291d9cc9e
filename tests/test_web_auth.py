"""Sign-in, sessions, CSRF, password change and workspace isolation of the web pages, on both databases."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.settings import Settings
from firebreak.web.auth import MAX_FAILURES, FailedSignIns
from firebreak.web.sessions import COOKIE_NAME, SessionSigner, WebSession
from tests.factories import WorkspaceFixture
from tests.web_support import (
    PASSWORD,
    add_cast_with_passwords,
    browser,
    csrf_token,
    ingest_work,
    sign_in,
    signed_in,
)


@pytest.fixture
def app(settings: Settings, db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> FastAPI:
    add_cast_with_passwords(db, acme, globex)
    return create_app(settings, db=db, run_worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with browser(app) as http:
        yield http


def test_pages_send_strangers_to_sign_in_and_back_afterwards(client):
    response = client.get("/w/acme/inbox?flag=red")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fw%2Facme%2Finbox%3Fflag%3Dred"
    signed = sign_in(client, "lee@acme.test", next_path="/w/acme/inbox?flag=red")
    assert signed.status_code == 303 and signed.headers["location"] == "/w/acme/inbox?flag=red"
    assert client.get("/w/acme/inbox?flag=red").status_code == 200


def test_sign_in_sets_a_hardened_cookie_and_home_opens_the_first_workspace(client):
    response = sign_in(client, "Lee@Acme.test")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the public URL is http here
    assert client.get("/").headers["location"] == "/w/acme/inbox"
    page = client.get("/w/acme/inbox")
    assert "lee@acme.test" in page.text and "Acme" in page.text and 'action="/sign-out"' in page.text


def test_secure_cookies_when_the_public_url_is_https(settings, db, acme, globex):
    add_cast_with_passwords(db, acme, globex)
    app = create_app(settings.model_copy(update={"public_url": "https://firebreak.example"}), db=db,
                     run_worker=False)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as secure:
        assert "Secure" in sign_in(secure, "lee@acme.test").headers["set-cookie"]


def test_a_wrong_password_or_unknown_email_is_refused_alike(client):
    wrong = sign_in(client, "lee@acme.test", "not the password")
    unknown = sign_in(client, "nobody@acme.test", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "That e-mail and password do not match an account." in response.text
    assert 'value="lee@acme.test"' in wrong.text  # the e-mail is kept in the form
    assert client.get("/w/acme/inbox").status_code == 303


def test_failed_sign_ins_are_rate_limited_per_email(client):
    for _ in range(MAX_FAILURES):
        assert sign_in(client, "ana@acme.test", "guess guess guess").status_code == 401
    blocked = sign_in(client, "ana@acme.test", PASSWORD)
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert sign_in(client, "Ana@acme.test ", PASSWORD).status_code == 429  # the same account, spelled differently


def test_failed_sign_ins_are_rate_limited_per_client_address(app):
    limiter: FailedSignIns = app.state.web.limiter
    with browser(app) as client:
        for number in range(MAX_FAILURES):
            assert sign_in(client, f"guess{number}@acme.test", "guess guess guess").status_code == 401
        assert sign_in(client, "dan@acme.test", PASSWORD).status_code == 429  # right password, same address
    assert limiter.blocked(("ip:testclient",))


def test_the_failure_window_slides():
    limiter = FailedSignIns(limit=2, window=60)
    limiter.record(("email:a",), now=0)
    limiter.record(("email:a",), now=30)
    assert limiter.blocked(("email:a", "ip:x"), now=59)
    assert not limiter.blocked(("email:a",), now=61)  # the first failure has left the window
    assert not limiter.blocked(("email:b", "ip:x"), now=59)


def test_posts_without_the_sessions_csrf_token_are_refused(client):
    token = csrf_token(client, "/sign-in")
    for data in ({"email": "lee@acme.test", "password": PASSWORD},
                 {"csrf_token": token + "x", "email": "lee@acme.test", "password": PASSWORD}):
        refused = client.post("/sign-in", data=data)
        assert refused.status_code == 403 and "security token" in refused.text
    assert sign_in(client, "lee@acme.test").status_code == 303
    # The token seen before sign-in is replaced, so one planted in a victim's browser is worthless.
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 403
    assert client.get("/w/acme/inbox").status_code == 200


def test_a_tampered_or_foreign_cookie_is_an_anonymous_visit(app, settings):
    with browser(app) as client:
        sign_in(client, "lee@acme.test")
        value = client.cookies[COOKIE_NAME]
        client.cookies.set(COOKIE_NAME, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert client.get("/w/acme/inbox").status_code == 303
        forged = SessionSigner("another deployment's secret, long enough to use")
        client.cookies.set(COOKIE_NAME, forged.dumps(WebSession("t", 1, "", 9e9)))
        assert client.get("/w/acme/inbox").status_code == 303


def test_sessions_expire():
    signer = SessionSigner("x" * 40, max_age=60)
    value = signer.dumps(WebSession("token", 7, "mark", issued_at=1000.0))
    assert signer.loads(value, now=1059.0) == WebSession("token", 7, "mark", 1000.0)
    assert signer.loads(value, now=1061.0) is None


def test_the_generated_secret_is_private_and_survives_restarts(settings, db, acme, globex, monkeypatch):
    monkeypatch.delenv("FIREBREAK_SECRET_KEY", raising=False)
    first = create_app(settings, db=db, run_worker=False)
    add_cast_with_passwords(db, acme, globex)
    secret_file = settings.data_dir / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with browser(first) as client:
        sign_in(client, "lee@acme.test")
        cookie = client.cookies[COOKIE_NAME]
    with browser(create_app(settings, db=db, run_worker=False)) as again:
        again.cookies.set(COOKIE_NAME, cookie)
        assert again.get("/w/acme/inbox").status_code == 200


def test_sign_out_ends_the_session(client):
    sign_in(client, "lee@acme.test")
    token = csrf_token(client, "/w/acme/inbox")
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    assert client.get("/w/acme/inbox").status_code == 303


def test_password_change_checks_both_fields_and_signs_out_other_sessions(app):
    with browser(app) as here, browser(app) as elsewhere:
        sign_in(here, "ana@acme.test")
        sign_in(elsewhere, "ana@acme.test")
        token = csrf_token(here, "/account/password")
        wrong = here.post("/account/password", data={"csrf_token": token, "current_password": "nope nope nope",
                                                     "new_password": "a brand new password"})
        assert wrong.status_code == 422 and "That is not your current password." in wrong.text
        short = here.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                      "new_password": "short"})
        assert short.status_code == 422 and "a password needs at least 10 characters" in short.text
        changed = here.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                        "new_password": "a brand new password"})
        assert changed.status_code == 200 and "Your password has been changed" in changed.text
        assert here.get("/w/acme/inbox").status_code == 200
        assert elsewhere.get("/w/acme/inbox").status_code == 303
    with browser(app) as fresh:
        assert sign_in(fresh, "ana@acme.test", PASSWORD).status_code == 401
        assert sign_in(fresh, "ana@acme.test", "a brand new password").status_code == 303


def test_a_member_of_acme_gets_404_for_globex_pages(app, db, acme, globex):
    work = ingest_work(app, db, acme, globex)
    client = signed_in(app, "lee@acme.test")
    token = csrf_token(client, "/w/acme/inbox")
    for path in ("/w/globex/inbox", f"/w/globex/mentions/{work['globex']}", "/w/nowhere/inbox"):
        response = client.get(path)
        assert response.status_code == 404 and "Workspace not found" in response.text
    # globex's mention through acme's own address is not found either.
    assert client.get(f"/w/acme/mentions/{work['globex']}").status_code == 404
    for path in (f"/w/globex/mentions/{work['globex']}/assign", f"/w/acme/mentions/{work['globex']}/assign"):
        response = client.post(path, data={"csrf_token": token, "to_me": "1"})
        assert response.status_code == 404
    gus = signed_in(app, "gus@globex.test")
    assert gus.get("/").headers["location"] == "/w/globex/inbox"
    assert gus.get(f"/w/globex/mentions/{work['globex']}").status_code == 200
    assert gus.get("/w/acme/inbox").status_code == 404
