"""Liveness and readiness for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from firebreak import __version__
from firebreak.api.deps import DbDep
from firebreak.api.errors import OrjsonResponse
from firebreak.db.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", summary="Health of the server and its database")
def health(db: DbDep) -> OrjsonResponse:
    """Report whether the database answers and its schema is current; 503 when not."""
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(db.read_engine)
    except Exception as exc:  # noqa: BLE001 - health must answer, not raise
        return OrjsonResponse({"status": "error", "database": f"unreachable: {type(exc).__name__}"}, status_code=503)
    migrated = revision == head_revision()
    body = {
        "status": "ok" if migrated else "error",
        "version": __version__,
        "database": db.dialect,
        "schema": revision,
        "schema_current": migrated,
    }
    return OrjsonResponse(body, status_code=200 if migrated else 503)
