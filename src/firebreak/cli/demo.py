"""The demo command (filled in by this change)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the demo command to the main app."""
