"""The web app: server-rendered pages for the people who work the inbox, beside the JSON API.

Each area is its own module with its own router; `common` holds what they share (who is asking, the
workspace, CSRF-checked forms, page responses) and `templating` the Jinja2 environment.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from firebreak.settings import Settings
from firebreak.web import account, dashboard, inbox, issues, live, mention, settings, setup
from firebreak.web.auth import FailedSignIns
from firebreak.web.common import PageError, SignInRequired, WebConfig, error_page
from firebreak.web.sessions import SessionSigner, cookie_is_secure, load_secret

AREAS = (account, setup, inbox, live, mention, issues, dashboard, settings)


def register(app: FastAPI, app_settings: Settings) -> None:
    """Mount the pages, their error handling and /static on `app` (which already holds state.db and services)."""
    app.state.web = WebConfig(SessionSigner(load_secret(app_settings)), FailedSignIns(),
                              cookie_is_secure(app_settings))

    @app.exception_handler(PageError)
    async def _page_error(_: Request, exc: PageError) -> Response:
        return error_page(exc)

    @app.exception_handler(SignInRequired)
    async def _sign_in_required(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_path, safe='')}", status_code=303)

    for area in AREAS:
        app.include_router(area.router)
    static = resources.files("firebreak.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
