"""Feed commands (filled in by this change)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the feed commands to the main app."""
