"""Build the Triager the settings ask for: the playbook in force and the models to use."""

from __future__ import annotations

from firebreak.playbook.loader import load_playbook
from firebreak.settings import Settings
from firebreak.triage.assess import Triager


def build_triager(settings: Settings) -> Triager:
    """Load the playbook and the text models named by `settings` (errors name the bad file)."""
    from firebreak.triage.ml.predict import load_models

    return Triager(load_playbook(settings.playbook_path), load_models(settings.resolved_models_dir))
