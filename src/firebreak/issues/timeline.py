"""Write to an issue's timeline: every change to an issue is one ordered event (and one audit entry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.issues.models import Issue, IssueEvent


def record(session: Session, issue: Issue, *, kind: str, actor: str, at: datetime,
           details: dict[str, Any] | None = None) -> IssueEvent:
    """Append `kind` (e.g. 'stage.moved', 'draft.approved') to the issue's timeline and the audit log."""
    event = IssueEvent(workspace_id=issue.workspace_id, issue_id=issue.id, at=at, actor=actor, kind=kind,
                       details=details or {})
    session.add(event)
    audit.record(session=session, workspace_id=issue.workspace_id, actor=actor, action=f"issue.{kind}",
                 subject_type="issue", subject_id=issue.id, details=details or {})
    return event
