"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is found at FIREBREAK_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
When it cannot be reached the PostgreSQL half is skipped with a message on a laptop, and fails under
CI (CI=true), so a green CI always means both databases ran.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from firebreak.db.engine import Database
from firebreak.db.migrate import upgrade
from firebreak.settings import Settings

# Browser fixtures (Playwright driving Debian's chromium) for the tests that need them.
pytest_plugins = ["tests.browser_support"]

POSTGRES_ADMIN_URL = os.environ.get(
    "FIREBREAK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = [b for b in os.environ.get("FIREBREAK_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _postgres_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}", poolclass=NullPool)
    upgrade(db.engine)
    db.dispose()  # the last connection to close checkpoints the WAL into the main file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh migrated PostgreSQL database for this test session, dropped at the end."""
    name = f"firebreak_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = _postgres_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI requires PostgreSQL)")
        pytest.skip(message)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url, poolclass=NullPool)
    upgrade(db.engine)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database: a copied SQLite file or a truncated PostgreSQL one."""
    if request.param == "sqlite":
        target = tmp_path / "firebreak.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, worker_enabled=False, feed_poll_enabled=False,
                    _env_file=None)


@pytest.fixture
def acme(db: Database):  # type: ignore[no-untyped-def]
    """Workspace 'acme' with an X channel and a webhook channel (alice's brand)."""
    from tests.factories import make_workspace

    return make_workspace(db, "acme")


@pytest.fixture
def globex(db: Database):  # type: ignore[no-untyped-def]
    """Workspace 'globex' (charlie's brand): must never see acme's data."""
    from tests.factories import make_workspace

    return make_workspace(db, "globex")
