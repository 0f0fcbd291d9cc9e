"""Helpers every CLI command shares: settings, the database, clean error exits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from firebreak.core.errors import FirebreakError
from firebreak.db.engine import Database
from firebreak.db.migrate import ensure_migrated
from firebreak.settings import Settings, get_settings

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Turn Firebreak errors into a one-line message and exit code 2 instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FirebreakError as exc:
            # One line, never wrapped, and the message's own brackets are not read as markup.
            console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    return get_settings()


@contextmanager
def database(*, migrated: bool = True) -> Iterator[Database]:
    """Open the configured database for one command, checking its schema unless told not to."""
    db = Database(settings().resolved_database_url)
    try:
        if migrated:
            ensure_migrated(db.engine)
        yield db
    finally:
        db.dispose()


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
