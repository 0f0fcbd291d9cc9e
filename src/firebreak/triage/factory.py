"""Build the Triager the settings ask for: the playbook in force and the models to use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from firebreak.playbook.loader import LoadedPlaybook, load_playbook
from firebreak.playbook.service import PlaybookStore
from firebreak.settings import Settings
from firebreak.triage.assess import Triager

if TYPE_CHECKING:
    from firebreak.triage.ml.predict import TextModels


def build_triager(settings: Settings, *, playbook: LoadedPlaybook | Path | None = None) -> Triager:
    """Load the playbook (given, or the one in force) and the text models named by `settings`."""
    from firebreak.triage.ml.predict import load_models

    loaded = playbook if isinstance(playbook, LoadedPlaybook) else load_playbook(playbook or settings.playbook_path)
    return Triager(loaded, load_models(settings.resolved_models_dir))


class TriagerCache:
    """One Triager per playbook in force (per workspace), all sharing one loaded set of models."""

    def __init__(self, settings: Settings, store: PlaybookStore) -> None:
        self._settings = settings
        self._store = store
        self._models: TextModels | None = None
        self._triagers: dict[str, Triager] = {}
        self._lock = threading.Lock()

    def models(self) -> TextModels:
        if self._models is None:
            from firebreak.triage.ml.predict import load_models

            with self._lock:
                if self._models is None:
                    self._models = load_models(self._settings.resolved_models_dir)
        return self._models

    def for_playbook(self, loaded: LoadedPlaybook) -> Triager:
        triager = self._triagers.get(loaded.digest)
        if triager is None:
            models = self.models()
            with self._lock:
                triager = self._triagers.get(loaded.digest)
                if triager is None:
                    triager = self._triagers[loaded.digest] = Triager(loaded, models)
        return triager

    def warm_up(self) -> None:
        """Load the models and the deployment's playbook before the first batch."""
        self.for_playbook(self._store.default).triage_text("warm up")

    def for_workspace(self, session: Session, workspace_id: int) -> Triager:
        return self.for_playbook(self._store.for_workspace(session, workspace_id))

    def __call__(self, session: Session, workspace_id: int) -> Triager:
        return self.for_workspace(session, workspace_id)
