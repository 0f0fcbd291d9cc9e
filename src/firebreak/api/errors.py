"""Map the domain error tree onto JSON error responses that name what is wrong."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from firebreak.core.errors import (
    Conflict,
    DatabaseNotMigrated,
    FirebreakError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)


class OrjsonResponse(JSONResponse):
    """A JSON response for hand-built bodies, rendered by orjson (datetimes and all)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a message for the caller."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into `{"error": {...}}` responses."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> OrjsonResponse:
        return OrjsonResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)

    @app.exception_handler(FirebreakError)
    async def _domain_error(_: Request, exc: FirebreakError) -> OrjsonResponse:
        if isinstance(exc, NotFound):
            return OrjsonResponse(error_body("not_found", str(exc)), status_code=404)
        if isinstance(exc, InvalidInput):
            return OrjsonResponse(error_body("invalid_input", exc.message, exc.field), status_code=422)
        if isinstance(exc, Conflict):
            return OrjsonResponse(error_body("conflict", exc.message, exc.field), status_code=409)
        if isinstance(exc, Forbidden):
            return OrjsonResponse(error_body("forbidden", str(exc)), status_code=403)
        if isinstance(exc, Unauthorized):
            return OrjsonResponse(error_body("unauthorized", str(exc)), status_code=401)
        if isinstance(exc, DatabaseNotMigrated):
            return OrjsonResponse(error_body("not_migrated", str(exc)), status_code=503)
        return OrjsonResponse(error_body("error", str(exc)), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return OrjsonResponse(error_body("invalid_input", str(first.get("msg")), where or None), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> OrjsonResponse:
        # Starlette still logs the traceback; the caller gets JSON like every other error.
        return OrjsonResponse(
            error_body("internal_error", f"the server failed to handle this request ({type(exc).__name__})"),
            status_code=500,
            # uvicorn drops the connection after an unhandled error; say so, or clients reuse a dead socket.
            headers={"Connection": "close"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return OrjsonResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
