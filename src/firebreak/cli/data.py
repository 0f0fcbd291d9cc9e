"""Data commands: ingest files and export mentions (filled in by this change)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the data commands to the main app."""
