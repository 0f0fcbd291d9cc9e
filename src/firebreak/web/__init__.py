"""The web app: server-rendered pages for the people who work the inbox, beside the JSON API.

Each area is its own module with its own router; `common` holds what they share (who is asking, the
workspace, CSRF-checked forms, page responses) and `templating` the Jinja2 environment.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from firebreak.settings import Settings
from firebreak.web import account, dashboard, inbox, issues, live, mention, settings, setup
from firebreak.web.auth import FailedSignIns
from firebreak.web.common import PageError, SignInRequired, WebConfig, error_page, ids_in_range
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

    api_validation = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """Pages answer bad ids and parameters with an HTML page; the API keeps its JSON errors."""
        if request.url.path.startswith("/api/") and api_validation is not None:
            return await api_validation(request, exc)  # type: ignore[no-any-return]
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        location = tuple(first.get("loc", ()))
        if location[:1] == ("path",):
            return error_page(PageError(404, "Not found", "That address names nothing here: "
                                        f"{location[-1]} is not a valid id."))
        field = location[-1] if location else "request"
        return error_page(PageError(422, "That request could not be read", f"{field}: {first.get('msg')}"))

    for area in AREAS:
        app.include_router(area.router, dependencies=[Depends(ids_in_range)])
    static = resources.files("firebreak.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
