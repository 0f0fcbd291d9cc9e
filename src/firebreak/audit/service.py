"""Write to the audit log; there is deliberately no way to change or delete an entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from firebreak.audit.models import AuditEntry


def record(
    *,
    session: Session,
    workspace_id: int | None,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log in the caller's transaction."""
    entry = AuditEntry(
        workspace_id=workspace_id,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        details=details or {},
    )
    session.add(entry)
    return entry
