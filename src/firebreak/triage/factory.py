"""Build the Triager the settings ask for: the playbook in force and the models to use."""

from __future__ import annotations

from pathlib import Path

from firebreak.playbook.loader import LoadedPlaybook, load_playbook
from firebreak.settings import Settings
from firebreak.triage.assess import Triager


def build_triager(settings: Settings, *, playbook: LoadedPlaybook | Path | None = None) -> Triager:
    """Load the playbook (given, or the one in force) and the text models named by `settings`."""
    from firebreak.triage.ml.predict import load_models

    loaded = playbook if isinstance(playbook, LoadedPlaybook) else load_playbook(playbook or settings.playbook_path)
    return Triager(loaded, load_models(settings.resolved_models_dir))
