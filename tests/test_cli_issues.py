"""`firebreak issue` through the real CLI, on both databases: the happy path of an issue from opening to
closing, and the refusals people meet (roles, gates, bad values)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from firebreak.cli.main import app
from firebreak.core.clock import utcnow
from firebreak.db.engine import Database
from firebreak.issues.models import Issue, IssueTask
from firebreak.settings import get_settings
from tests.factories import WorkspaceFixture
from tests.issues_support import ANA, CORA, GUS, LEE, LEX, OWEN, SUE, IssueCast, add_issue_cast
from tests.workflow_support import ingest_at, post


@pytest.fixture
def cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> IssueCast:
    return add_issue_cast(db, acme, globex)


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    """Run `firebreak ARGS` against this test's database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path), "COLUMNS": "200"}

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env=env)

    yield run
    get_settings.cache_clear()


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.output


def refused(result, *phrases: str, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    flat = " ".join(result.output.split())
    for phrase in phrases:
        assert phrase in flat, result.output
    return result.output


def only_issue(db: Database) -> Issue:
    with db.read() as session:
        issue = session.scalars(select(Issue)).one()
        session.expunge(issue)
    return issue


def test_an_issue_from_the_shell(cli, db: Database, acme: WorkspaceFixture, cast: IssueCast) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    first, second = ingest_at(db, acme, [post("c1", "latch battery dead", at=now, url="https://x.com/u/status/1"),
                                         post("c2", "same", at=now)], received_at=now)
    output = ok(cli("issue", "open", "-w", "acme", "Latch battery drain", "--severity", "high",
                    "--stakeholder", f"{CORA}=communications", "--stakeholder", f"{SUE}=support",
                    "--mention", str(first), "--keyword", "battery", "--as", OWEN))
    issue = only_issue(db)
    assert f"Opened issue 1 (id {issue.id}) 'Latch battery drain' in Acknowledgement, owner {OWEN}" in output
    assert "1 mention(s) linked, 4 task(s)" in output
    assert issue.link_rules["keywords"] == ["battery"] and issue.opened_from == "mentions"
    ident = str(issue.id)

    listing = ok(cli("issue", "list", "-w", "acme"))
    assert "Acknowledgement (goal 2h): 1" in listing and "Latch battery drain" in listing and OWEN in listing
    assert "Discovery / confirmation (goal 2 business days): 0" in ok(cli("issue", "board", "-w", "acme"))

    ok(cli("issue", "link", "-w", "acme", ident, str(first), str(second), "--as", ANA))
    assert f"mention {second} unlinked" in ok(cli("issue", "unlink", "-w", "acme", ident, str(second), "--as", ANA))
    assert "is legal" in ok(cli("issue", "stakeholder", "add", "-w", "acme", ident, LEX, "legal", "--as", OWEN))
    assert "no longer legal" in ok(cli("issue", "stakeholder", "remove", "-w", "acme", ident, LEX, "legal",
                                       "--as", OWEN))
    added = ok(cli("issue", "task", "add", "-w", "acme", ident, "Call the firmware team", "--owner", SUE,
                   "--due", "4h", "--required", "--as", OWEN))
    task_id = int(re.search(r"task (\d+) added to acknowledgement", added).group(1))  # type: ignore[union-attr]
    assert f"task {task_id} done" in ok(cli("issue", "task", "done", "-w", "acme", ident, str(task_id), "--as", SUE))
    ok(cli("issue", "task", "reopen", "-w", "acme", ident, str(task_id), "--as", OWEN))
    with db.read() as session:
        due = session.scalar(select(IssueTask.due_at).where(IssueTask.id == task_id))
    assert due is not None and abs((due - now).total_seconds() - 4 * 3600) < 120

    refused(cli("issue", "stage", "-w", "acme", ident, "discovery", "--as", OWEN),
            "acknowledgement cannot be left yet", "2 required tasks are open")
    moved = ok(cli("issue", "stage", "-w", "acme", ident, "discovery", "--override", "acknowledged", "--as", OWEN))
    assert "moved to discovery" in moved and "record the one-off / systemic decision" in moved
    assert "recorded systemic" in ok(cli("issue", "decide", "-w", "acme", ident, "systemic",
                                        "--reason", "hundreds of reports", "--as", OWEN))

    shown = ok(cli("issue", "show", "-w", "acme", ident))
    for phrase in ("Issue 1", "Stage: Discovery / confirmation", "decision: systemic: hundreds of reports",
                   "Tasks in acknowledgement", "Tasks in discovery", "Call the firmware team",
                   "gate of acknowledgement overridden: acknowledged", "stage acknowledgement → discovery",
                   "Linked mentions: 1 (x.com 1)", f"communications {CORA}"):
        assert phrase in shown, shown

    assert "closed" in ok(cli("issue", "close", "-w", "acme", ident, "--reason", "handled by support",
                              "--as", LEE))
    assert "No open issues." in ok(cli("issue", "list", "-w", "acme"))
    assert "Latch battery drain" in ok(cli("issue", "list", "-w", "acme", "--closed"))


def test_refusals_from_the_shell(cli, db: Database, acme: WorkspaceFixture, cast: IssueCast) -> None:  # type: ignore[no-untyped-def]
    refused(cli("issue", "open", "-w", "acme", "Checkout errors", "--as", LEX), "may not open an issue", "open_issue")
    refused(cli("issue", "open", "-w", "acme", "Checkout errors"), "--owner")
    refused(cli("issue", "open", "-w", "acme", "Checkout errors", "--owner", GUS), "not a member of this workspace")
    refused(cli("issue", "open", "-w", "acme", "Checkout errors", "--stakeholder", CORA, "--as", OWEN), "EMAIL=ROLE")
    refused(cli("issue", "open", "-w", "acme", "Checkout errors", "--as", "nobody@acme.test"), "no user")
    refused(cli("issue", "open", "-w", "acme", "Checkout errors", "--as", GUS), "not a member of this workspace")
    ok(cli("issue", "open", "-w", "acme", "Checkout errors", "--as", OWEN))
    ident = str(only_issue(db).id)
    refused(cli("issue", "stage", "-w", "acme", ident, "discovery", "--override", "go", "--as", ANA), "open_issue")
    refused(cli("issue", "stage", "-w", "acme", ident, "discovery", "--override", "go", "--as", CORA), "override_gate")
    refused(cli("issue", "stage", "-w", "acme", ident, "publishing", "--as", OWEN), "one stage at a time")
    refused(cli("issue", "decide", "-w", "acme", ident, "maybe", "--reason", "x", "--as", OWEN), "one_off, systemic")
    refused(cli("issue", "task", "add", "-w", "acme", ident, "Later", "--due", "tomorrow", "--as", OWEN),
            "neither a time")
    refused(cli("issue", "task", "done", "-w", "acme", ident, "99999", "--as", OWEN), "no task 99999")
    refused(cli("issue", "link", "-w", "acme", ident, "1", "--as", LEX), "respond")
    refused(cli("issue", "close", "-w", "acme", ident, "--as", OWEN), "needs a reason")
    refused(cli("issue", "show", "-w", "acme", "424242"), "issue 424242 does not exist")
    refused(cli("issue", "show", "-w", "globex", ident), f"issue {ident} does not exist")
