"""The README documents every setting and every top-level CLI command."""

from __future__ import annotations

from pathlib import Path

import typer.main

from firebreak.cli.main import app
from firebreak.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [
        f"FIREBREAK_{name.upper()}" for name in Settings.model_fields if f"`FIREBREAK_{name.upper()}`" not in README
    ]
    assert not missing, f"settings missing from the README table: {missing}"


def test_every_command_is_mentioned():
    group = typer.main.get_command(app)
    missing = [name for name in group.commands if f"firebreak {name}" not in README]  # type: ignore[attr-defined]
    assert not missing, f"commands missing from the README: {missing}"
