"""The schema is created by migrations only, and matches the ORM models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from firebreak.audit import service as audit
from firebreak.core.errors import DatabaseNotMigrated
from firebreak.db.engine import Database
from firebreak.db.migrate import ensure_migrated, head_revision
from firebreak.schema import metadata


def _ignore_fts(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (name or "").startswith("mentions_fts") and name != "ix_mentions_text_fts"


def test_models_match_migrations(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ignore_fts, "compare_type": False})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrated_database_passes_the_check(db):
    ensure_migrated(db.engine)


def test_empty_database_is_refused_with_the_command_to_run(tmp_path):
    empty = Database(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(DatabaseNotMigrated, match="firebreak init"):
        ensure_migrated(empty.engine)
    assert head_revision()


def test_audit_log_is_append_only(db, acme):
    with db.write() as s:
        audit.record(session=s, workspace_id=acme.id, actor="t", action="x")
    with pytest.raises(DatabaseError, match="append-only"), db.write() as s:
        s.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(DatabaseError, match="append-only"), db.write() as s:
        s.execute(text("DELETE FROM audit_log"))
