"""Who may do what to an issue: the playbook's role permissions, plus the issue's own people.

The owner of an issue may run it (move stages, override a gate with a reason, edit its tasks) even
without the role permission; everyone else needs the permission in the playbook's roles.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.core.errors import NotFound
from firebreak.issues.models import Issue, IssueStakeholder
from firebreak.workflow.actions import Actor, require_permission
from firebreak.workflow.runtime import WorkflowRuntime


def get_issue(session: Session, workspace_id: int, issue_id: int, *, lock: bool = False) -> Issue:
    """The issue of this workspace, or NotFound (an issue of another workspace is as good as missing)."""
    stmt = select(Issue).where(Issue.workspace_id == workspace_id, Issue.id == issue_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    issue = session.scalar(stmt)
    if issue is None:
        raise NotFound(f"issue {issue_id} does not exist in this workspace")
    return issue


def stakeholder_roles(session: Session, issue: Issue, actor: Actor) -> frozenset[str]:
    """The actor's stakeholder roles on this issue (owner, communications, legal, ...)."""
    if actor.user_id is None:
        return frozenset()
    roles = set(session.scalars(select(IssueStakeholder.role).where(
        IssueStakeholder.issue_id == issue.id, IssueStakeholder.user_id == actor.user_id)))
    if issue.owner_id == actor.user_id:
        roles.add("owner")
    return frozenset(roles)


require = require_permission  # the same rule for issues as for work items


def require_owner_or(session: Session, runtime: WorkflowRuntime, issue: Issue, actor: Actor, permission: str,
                     doing: str) -> None:
    """Let the issue's owner through; anyone else needs `permission`."""
    if issue.owner_id is not None and issue.owner_id == actor.user_id:
        return
    require(runtime, actor, permission, doing)
