"""People and issues for the rapid-response issue tests (shared by every issue test module).

    cast = add_issue_cast(db, acme, globex)                 # owen owns, cora writes, lex reviews, ...
    issue_id = open_test_issue(db, settings, acme)           # issue 1, in acknowledgement, opened OPENED_AT
    advance_to(db, settings, acme, issue_id, "publishing", now=OPENED_AT)
    with issue_write(db, settings, acme) as (session, runtime):
        service.add_task(session, runtime=runtime, workspace_id=acme.id, actor=as_actor(session, acme, OWEN), ...)

The workspace runs the shipped default playbook (its `issues:` section: acknowledgement 2h on `always`,
discovery 2bd on `support_hours`, ...). Every helper goes through the real issue service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.db.engine import Database
from firebreak.issues import service
from firebreak.issues.models import Issue, IssueEvent, IssueTask
from firebreak.settings import Settings
from firebreak.workflow.actions import Actor
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces import service as workspace_service
from tests.factories import WorkspaceFixture
from tests.workflow_support import add_member, london, services_for

# Friday 13 November 2026, 15:00 in London (GMT, so also 15:00 UTC): a working afternoon before a weekend.
OPENED_AT = london(2026, 11, 13, 15, 0)

OWEN = "owen@acme.test"  # lead: owns the test issues
CORA = "cora@acme.test"  # communications: writes and publishes
LEX = "lex@acme.test"  # legal: approves legal review, may not open issues
PIA = "pia@acme.test"  # agent, the product stakeholder
SUE = "sue@acme.test"  # agent in care, the support stakeholder
EXA = "exa@acme.test"  # executive: the executive sponsor
LEE = "lee@acme.test"  # lead, not on the issue: may override gates
ADA = "ada@acme.test"  # admin
ANA = "ana@acme.test"  # agent, not on the issue
GUS = "gus@globex.test"  # a globex agent: not a member of acme

# The stakeholders a test issue gets besides its owner: (e-mail, stakeholder role).
STAKEHOLDERS: tuple[tuple[str, str], ...] = (
    (CORA, "communications"), (LEX, "legal"), (PIA, "product"), (SUE, "support"), (EXA, "executive_sponsor"),
)
OVERRIDE = "test: moving on past the gate"
WRITE_SCOPES = ("mentions:read", "workflow:write")


@dataclass(frozen=True)
class IssueCast:
    """The people of the issue tests; ids are user ids."""

    owen: int
    cora: int
    lex: int
    pia: int
    sue: int
    exa: int
    lee: int
    ada: int
    ana: int
    gus: int


def give_roles(db: Database, ws: WorkspaceFixture, email: str, roles: Sequence[str], *,
               teams: Iterable[str] = ()) -> int:
    """Create (or reuse) the user and grant them workspace roles (and teams); return the user id."""
    return add_member(db, ws, email, roles, teams=teams)


def add_issue_cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> IssueCast:
    """Everyone in IssueCast, with their workspace roles in acme (gus in globex)."""
    return IssueCast(
        owen=give_roles(db, acme, OWEN, ["lead"]),
        cora=give_roles(db, acme, CORA, ["communications"]),
        lex=give_roles(db, acme, LEX, ["legal"]),
        pia=give_roles(db, acme, PIA, ["agent"]),
        sue=give_roles(db, acme, SUE, ["agent"], teams=["care"]),
        exa=give_roles(db, acme, EXA, ["executive"]),
        lee=give_roles(db, acme, LEE, ["lead"]),
        ada=give_roles(db, acme, ADA, ["admin"]),
        ana=give_roles(db, acme, ANA, ["agent"], teams=["care"]),
        gus=give_roles(db, globex, GUS, ["agent"], teams=["care"]),
    )


def as_actor(session: Session, ws: WorkspaceFixture, email: str) -> Actor:
    """The Actor for a user with their roles in `ws` (no roles when not a member)."""
    user = accounts.get_user(session=session, email=email)
    return Actor.for_user(session, ws.id, user)


def personal_token(db: Database, ws: WorkspaceFixture, email: str, scopes: Sequence[str] = WRITE_SCOPES) -> str:
    """A personal API token acting as the user in `ws` (default scopes: read and write the workflow)."""
    with db.write() as session:
        user = accounts.get_user(session=session, email=email)
        _, secret = workspace_service.create_token(session=session, workspace_id=ws.id, name=f"{email} test",
                                                   scopes=list(scopes), user_id=user.id)
    return secret


def runtime_of(session: Session, settings: Settings, ws: WorkspaceFixture) -> WorkflowRuntime:
    """The compiled playbook in force for `ws` (the shipped default unless a test applied another)."""
    return services_for(settings).workflow(session, ws.id)


@contextmanager
def issue_write(db: Database, settings: Settings, ws: WorkspaceFixture) -> Iterator[tuple[Session, WorkflowRuntime]]:
    """A write session (committed on exit) with the workspace's runtime, for calling the issue services."""
    with db.write() as session:
        yield session, runtime_of(session, settings, ws)


def open_test_issue(
    db: Database, settings: Settings, ws: WorkspaceFixture, *, title: str = "Latch battery drain",
    summary: str = "Smart latches drain their batteries in days after firmware 4.2", severity: str = "high",
    owner: str = OWEN, stakeholders: Sequence[tuple[str, str]] = STAKEHOLDERS, mention_ids: Sequence[int] = (),
    link_rules: dict[str, list[str]] | None = None, as_email: str = OWEN, now: datetime = OPENED_AT,
) -> int:
    """Open an issue through the service (the cast must exist); return its id."""
    with issue_write(db, settings, ws) as (session, runtime):
        issue = service.open_issue(
            session, runtime=runtime, workspace_id=ws.id, actor=as_actor(session, ws, as_email), now=now,
            title=title, summary=summary, severity=severity, owner_email=owner, mention_ids=mention_ids,
            link_rules=link_rules, stakeholders=stakeholders)
        return issue.id


def complete_open_tasks(db: Database, settings: Settings, ws: WorkspaceFixture, issue_id: int, *,
                        now: datetime, as_email: str = OWEN) -> int:
    """Tick off every open task of the issue's current stage (as the owner); return how many."""
    with issue_write(db, settings, ws) as (session, runtime):
        issue = session.get(Issue, issue_id)
        assert issue is not None
        tasks = list(session.scalars(select(IssueTask.id).where(
            IssueTask.issue_id == issue_id, IssueTask.stage == issue.stage, IssueTask.done_at.is_(None))))
        who = as_actor(session, ws, as_email)
        for task_id in tasks:
            service.complete_task(session, runtime=runtime, workspace_id=ws.id, actor=who, now=now,
                                  issue_id=issue_id, task_id=task_id)
        return len(tasks)


def advance_to(db: Database, settings: Settings, ws: WorkspaceFixture, issue_id: int, stage: str, *,
               now: datetime, as_email: str = OWEN, reason: str = OVERRIDE) -> None:
    """Move the issue forward one stage at a time up to `stage`, overriding any gate with `reason`."""
    with issue_write(db, settings, ws) as (session, runtime):
        ids = runtime.loaded.playbook.issues.stage_ids
        issue = session.get(Issue, issue_id)
        assert issue is not None
        here, there = ids.index(issue.stage), ids.index(stage)
        who = as_actor(session, ws, as_email)
        for target in ids[here + 1:there + 1]:
            service.move_stage(session, runtime=runtime, workspace_id=ws.id, actor=who, now=now, issue_id=issue_id,
                               target=target, override_reason=reason)


def issue_row(db: Database, issue_id: int) -> Issue:
    """The issue, detached (its columns stay readable)."""
    with db.read() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None, f"no issue {issue_id}"
        session.expunge(issue)
    return issue


def timeline_kinds(db: Database, issue_id: int) -> list[str]:
    """The kinds of the issue's timeline events, in order."""
    with db.read() as session:
        return list(session.scalars(select(IssueEvent.kind).where(IssueEvent.issue_id == issue_id)
                                    .order_by(IssueEvent.id)))
