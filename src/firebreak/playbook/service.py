"""The playbook in force for each workspace: upload (validated first), history, rollback, and a cache.

A workspace without an uploaded version runs the deployment's playbook (FIREBREAK_PLAYBOOK_PATH or the
shipped default). An upload that fails validation raises PlaybookError and changes nothing, so the
playbook in force stays in force.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.errors import NotFound
from firebreak.playbook.loader import LoadedPlaybook, PlaybookError, parse_playbook
from firebreak.playbook.models import PlaybookVersion

MAX_PLAYBOOK_BYTES = 2_000_000


def apply_playbook(
    *, session: Session, workspace_id: int, text: str, source: str, actor: str, comment: str | None = None,
    user_id: int | None = None,
) -> PlaybookVersion:
    """Validate `text` and make it the workspace's playbook; raise PlaybookError (nothing changed) if invalid."""
    if len(text.encode()) > MAX_PLAYBOOK_BYTES:
        raise PlaybookError([f"{source}: the playbook is larger than {MAX_PLAYBOOK_BYTES // 1_000_000} MB"])
    loaded = parse_playbook(text, source=source)
    session.execute(update(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                  PlaybookVersion.active.is_(True)).values(active=False))
    version = PlaybookVersion(
        workspace_id=workspace_id, version=loaded.version, digest=loaded.digest, source=source[:300], text=text,
        comment=comment, created_by=actor, created_by_user_id=user_id, active=True,
    )
    session.add(version)
    session.flush()
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="playbook.applied",
                 subject_type="playbook_version", subject_id=version.id,
                 details={"version": loaded.version, "source": source, "comment": comment})
    return version


def activate_version(*, session: Session, workspace_id: int, version_id: int, actor: str) -> PlaybookVersion:
    """Put an earlier version back in force (a rollback); it is validated again first."""
    version = session.scalar(select(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                           PlaybookVersion.id == version_id))
    if version is None:
        raise NotFound(f"playbook version {version_id} does not exist in this workspace")
    parse_playbook(version.text, source=version.source)
    session.execute(update(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                  PlaybookVersion.active.is_(True)).values(active=False))
    version.active = True
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="playbook.activated",
                 subject_type="playbook_version", subject_id=version.id, details={"version": version.version})
    return version


def use_deployment_default(*, session: Session, workspace_id: int, actor: str) -> None:
    """Stop using an uploaded version: the workspace runs the deployment's playbook again (history is kept)."""
    session.execute(update(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id,
                                                  PlaybookVersion.active.is_(True)).values(active=False))
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="playbook.default_restored",
                 subject_type="workspace", subject_id=workspace_id)


def history(*, session: Session, workspace_id: int) -> list[PlaybookVersion]:
    """Every uploaded version of the workspace, newest first."""
    return list(session.scalars(select(PlaybookVersion).where(PlaybookVersion.workspace_id == workspace_id)
                                .order_by(PlaybookVersion.id.desc())))


@dataclass(slots=True)
class _Entry:
    version_id: int | None
    checked_at: float


class PlaybookStore:
    """Which playbook each workspace runs, re-checked every few seconds so uploads spread to all workers.

    Parsed playbooks are cached by content hash, so a hundred workspaces on the default share one.
    """

    def __init__(self, default: LoadedPlaybook | Callable[[], LoadedPlaybook], *, recheck_seconds: float = 2.0):
        self._default = default
        self._recheck = recheck_seconds
        self._active: dict[int, _Entry] = {}
        self._parsed: dict[int, LoadedPlaybook] = {}
        self._lock = threading.Lock()

    @property
    def default(self) -> LoadedPlaybook:
        if not isinstance(self._default, LoadedPlaybook):
            with self._lock:
                if not isinstance(self._default, LoadedPlaybook):
                    self._default = self._default()
        return self._default  # type: ignore[return-value]

    def for_workspace(self, session: Session, workspace_id: int) -> LoadedPlaybook:
        """Return the playbook in force for the workspace."""
        now = time.monotonic()
        entry = self._active.get(workspace_id)
        if entry is None or now - entry.checked_at > self._recheck:
            version_id = session.scalar(select(PlaybookVersion.id).where(
                PlaybookVersion.workspace_id == workspace_id, PlaybookVersion.active.is_(True)))
            entry = _Entry(version_id, now)
            self._active[workspace_id] = entry
        if entry.version_id is None:
            return self.default
        loaded = self._parsed.get(entry.version_id)
        if loaded is None:
            row = session.get(PlaybookVersion, entry.version_id)
            if row is None:  # deleted meanwhile; look again next time
                self._active.pop(workspace_id, None)
                return self.default
            loaded = parse_playbook(row.text, source=row.source)
            self._parsed[entry.version_id] = loaded
        return loaded

    def forget(self, workspace_id: int | None = None) -> None:
        """Drop cached answers (after an upload in this process, so it applies at once)."""
        if workspace_id is None:
            self._active.clear()
        else:
            self._active.pop(workspace_id, None)
