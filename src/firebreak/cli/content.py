"""`firebreak draft`: an issue's content from the shell: drafts, versions, diffs, comments, legal review.

Texts come from `--file PATH` or standard input (`firebreak draft version add 4 < response.md`). Changes
act as `--as EMAIL`, checked against that person's roles and their part in the issue; without `--as`
the local operator acts as `cli` with the admin role.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy.orm import Session

from firebreak.cli.common import clean_errors, database, out, settings
from firebreak.cli.workflow import AsOpt, WorkspaceOpt, acting, print_columns
from firebreak.core.clock import utcnow
from firebreak.core.durations import format_duration
from firebreak.core.errors import InvalidInput
from firebreak.issues import content
from firebreak.lifecycle import DRAFT_KINDS
from firebreak.services import Services
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces import service as workspace_service

draft_app = typer.Typer(
    help="An issue's content: drafts, versions, diffs, comments, and legal review.", no_args_is_help=True)
version_app = typer.Typer(help="Versions of a draft: every change is a new version.", no_args_is_help=True)
review_app = typer.Typer(help="Legal review of a version: approve it (it is then locked) or ask for changes.",
                         no_args_is_help=True)
draft_app.add_typer(version_app, name="version")
draft_app.add_typer(review_app, name="review")

IssueArg = Annotated[int, typer.Argument(help="The issue id.")]
DraftArg = Annotated[int, typer.Argument(help="The draft id (first column of `firebreak draft list`).")]
VersionArg = Annotated[int, typer.Argument(help="The version id (the `id` column of `firebreak draft show`).")]
FileOpt = Annotated[Path | None, typer.Option(
    "--file", "-f", help="Read the text from this file ('-': standard input). Without it, standard input is read "
                         "when it is not a terminal.", allow_dash=True)]
STATE_STYLE = {"approved": "green", "in_review": "yellow", "changes_requested": "red", "superseded": "dim"}


def _runtime(session: Session, workspace_id: int) -> WorkflowRuntime:
    return Services(settings()).workflow(session, workspace_id)


def _read_text(path: Path | None) -> str | None:
    """The text from `--file`, else from standard input when something is piped in; None when neither."""
    if path is not None and str(path) != "-":
        try:
            return path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}", field="file") from None
    if path is None and sys.stdin.isatty():
        return None
    text = sys.stdin.read()
    return text if text.strip() else None


@draft_app.command("new")
@clean_errors
def draft_new(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    kind: Annotated[str, typer.Option(help=f"What it is: {', '.join(DRAFT_KINDS)}.")],
    title: Annotated[str, typer.Option(help="A title for the team (the response's headline when published).")],
    audience: Annotated[str | None, typer.Option(
        help=f"Who talking points are for: {', '.join(content.AUDIENCES)}.")] = None,
    from_statement: Annotated[str | None, typer.Option(
        "--from-statement", help="Start from this playbook holding statement (its id, e.g. aware).")] = None,
    file: FileOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Start a draft for an issue, with version 1 from a holding statement, a file or standard input.

    A holding statement gets the issue's title and number and the brand; {product} and the like stay for you.
    """
    body = None if from_statement is not None else _read_text(file)
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = _runtime(session, ws.id)
        draft = content.create_draft(session, runtime=runtime, workspace_id=ws.id,
                                     actor=acting(session, ws.id, as_user), now=utcnow(), issue_id=issue_id,
                                     kind=kind, title=title, body=body, from_statement=from_statement,
                                     audience=audience)
        detail = content.draft_detail(session, runtime=runtime, workspace_id=ws.id, draft_id=draft.id, now=utcnow())
    first = detail["versions"][0] if detail["versions"] else None
    made = f"with version 1 (id {first['id']})" if first else "with no version yet"
    out.print(f"Draft {detail['id']} ({detail['kind']}) {made}: {escape(detail['title'])}")
    if first is not None:
        out.print(escape(first["body"]))


@draft_app.command("list")
@clean_errors
def draft_list(workspace: WorkspaceOpt, issue_id: IssueArg) -> None:
    """List an issue's drafts with their latest version and the approved one."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        rows = content.list_drafts(session, workspace_id=ws.id, issue_id=issue_id)
    if not rows:
        out.print("No drafts yet.")
        return
    print_columns(("id", "kind", "audience", "latest", "state", "approved", "title"), [[
        (str(row["id"]), None), (row["kind"], None), (row["audience"] or "-", None),
        (str(row["latest"] or "-"), None), _state(row["latest_state"]),
        (f"v{row['approved']}" if row["approved"] else "-", "green" if row["approved"] else None),
        (row["title"], None)] for row in rows])


@draft_app.command("show")
@clean_errors
def draft_show(
    workspace: WorkspaceOpt,
    draft_id: DraftArg,
    number: Annotated[int | None, typer.Option("--version", "-v", help="Print this version's text and "
                                               "comments (default: the latest).")] = None,
) -> None:
    """Show a draft's versions with states, locks and legal review clocks, and one version's text and comments."""
    now = utcnow()
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        detail = content.draft_detail(session, runtime=_runtime(session, ws.id), workspace_id=ws.id,
                                      draft_id=draft_id, now=now)
    audience = f" for {detail['audience']}" if detail["audience"] else ""
    approved = f"approved: version {detail['approved']}" if detail["approved"] else "nothing approved yet"
    out.print(f"[bold]Draft {detail['id']}[/bold] · {detail['kind']}{audience} · issue {detail['issue_id']} · "
              f"{approved}")
    out.print(f"  {escape(detail['title'])}")
    versions = detail["versions"]
    if not versions:
        out.print("No versions yet: add one with `firebreak draft version add`.")
        return
    print_columns(("version", "id", "state", "legal review", "written (UTC)", "author"), [[
        (str(v["number"]), None), (str(v["id"]), None), _state(v["state"], v["locked"]),
        (_legal(v["legal_review"]), None), (f"{v['created_at']:%Y-%m-%d %H:%M}", None), (v["author"], None)]
        for v in versions], indent="  ")
    shown = versions[-1] if number is None else next((v for v in versions if v["number"] == number), None)
    if shown is None:
        raise InvalidInput(f"draft {draft_id} has no version {number}", field="version")
    source = f" (from holding statement {shown['source_statement']})" if shown["source_statement"] else ""
    out.print(f"[bold]Version {shown['number']}[/bold]{source}")
    out.print(escape(shown["body"]))
    for entry in shown["reviews"]:
        verdict = {"approved": "[green]approved[/green]", "changes_requested": "[red]changes requested[/red]"}.get(
            entry["verdict"] or "", "commented")
        role = f" ({entry['role']})" if entry["role"] else ""
        said = f": {escape(entry['comment'])}" if entry["comment"] else ""
        out.print(f"  {entry['at']:%Y-%m-%d %H:%M} {escape(entry['reviewer'])}{role} {verdict}{said}")


def _state(state: str | None, locked: bool = False) -> tuple[str, str | None]:
    if state is None:
        return "-", None
    return state + (" (locked)" if locked else ""), STATE_STYLE.get(state)


def _legal(clock: dict[str, Any] | None) -> str:
    if clock is None:
        return "-"
    late = " LATE" if clock["breached"] else ""
    if clock["state"] == "running":
        left = clock["remaining_seconds"]
        return (f"due {clock['due_at']:%Y-%m-%d %H:%M}, "
                + (f"{format_duration(left)} left" if left > 0 else f"overdue {format_duration(-left)}"))
    if clock["state"] == "met":
        return f"answered after {format_duration(clock['used_seconds'])}{late}"
    return f"{clock['state']}{late}"


@version_app.command("add")
@clean_errors
def version_add(
    workspace: WorkspaceOpt,
    draft_id: DraftArg,
    file: FileOpt = None,
    based_on: Annotated[int | None, typer.Option(
        "--based-on", min=0, help="The version number you edited; refused if someone added a newer one.")] = None,
    as_user: AsOpt = None,
) -> None:
    """Add a version of a draft from a file or standard input; the previous open version is superseded."""
    body = _read_text(file)
    if body is None:
        raise InvalidInput("give the new text with --file PATH or on standard input", field="body")
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        version = content.add_version(session, runtime=_runtime(session, ws.id), workspace_id=ws.id,
                                      actor=acting(session, ws.id, as_user), now=utcnow(), draft_id=draft_id,
                                      body=body, expected_number=based_on)
        number, version_id = version.number, version.id
    out.print(f"Draft {draft_id}: version {number} added (id {version_id}).")


@draft_app.command("diff")
@clean_errors
def draft_diff(
    workspace: WorkspaceOpt,
    draft_id: DraftArg,
    from_number: Annotated[int, typer.Argument(metavar="FROM", help="The older version number.")],
    to_number: Annotated[int, typer.Argument(metavar="TO", help="The newer version number.")],
) -> None:
    """Print a unified diff between two versions of a draft."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        found = content.diff(session, workspace_id=ws.id, draft_id=draft_id, from_number=from_number,
                             to_number=to_number)
    if not found.changes:
        out.print(f"Versions {from_number} and {to_number} are the same.")
        return
    style = {"+": "green", "-": "red", "@": "cyan"}
    for line in found.unified.split("\n"):
        colour = None if line.startswith(("+++", "---")) else style.get(line[:1])
        out.print(f"[{colour}]{escape(line)}[/{colour}]" if colour else escape(line))


@draft_app.command("comment")
@clean_errors
def draft_comment(
    workspace: WorkspaceOpt,
    version_id: VersionArg,
    text: Annotated[str, typer.Argument(help="The comment.")],
    as_user: AsOpt = None,
) -> None:
    """Comment on a version (it changes nothing, so any version takes comments)."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        content.comment(session, runtime=_runtime(session, ws.id), workspace_id=ws.id,
                        actor=acting(session, ws.id, as_user), now=utcnow(), version_id=version_id, text=text)
    out.print(f"Commented on version id {version_id}.")


@draft_app.command("submit")
@clean_errors
def draft_submit(workspace: WorkspaceOpt, version_id: VersionArg, as_user: AsOpt = None) -> None:
    """Send a version to legal review; the review clock starts on the playbook's legal review goal."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = _runtime(session, ws.id)
        version = content.submit_for_review(session, runtime=runtime, workspace_id=ws.id,
                                            actor=acting(session, ws.id, as_user), now=utcnow(),
                                            version_id=version_id)
        detail = content.draft_detail(session, runtime=runtime, workspace_id=ws.id, draft_id=version.draft_id,
                                      now=utcnow())
    shown = next(v for v in detail["versions"] if v["id"] == version_id)
    clock = shown["legal_review"]
    due = f"; legal review due {clock['due_at']:%Y-%m-%d %H:%M} UTC" if clock and clock["due_at"] else ""
    out.print(f"Version {shown['number']} of draft {detail['id']} ({detail['kind']}) is in legal review{due}.")


def _review(workspace: str, version_id: int, verdict: str, comment: str, as_user: str | None) -> None:
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        content.review(session, runtime=_runtime(session, ws.id), workspace_id=ws.id,
                       actor=acting(session, ws.id, as_user), now=utcnow(), version_id=version_id, verdict=verdict,
                       comment=comment)
        version, draft = content.get_version(session, ws.id, version_id)
        number, kind, draft_id = version.number, draft.kind, draft.id
    what = "approved and locked" if verdict == "approved" else "sent back with changes requested"
    out.print(f"Version {number} of the {kind.replace('_', ' ')} (draft {draft_id}) is {what}.")


@review_app.command("approve")
@clean_errors
def review_approve(
    workspace: WorkspaceOpt,
    version_id: VersionArg,
    comment: Annotated[str, typer.Option(help="A note with the approval.")] = "",
    as_user: AsOpt = None,
) -> None:
    """Approve a version in legal review (needs `approve_legal`): it is locked and may be published."""
    _review(workspace, version_id, "approved", comment, as_user)


@review_app.command("changes")
@clean_errors
def review_changes(
    workspace: WorkspaceOpt,
    version_id: VersionArg,
    comment: Annotated[str, typer.Option(help="What to change (required).")],
    as_user: AsOpt = None,
) -> None:
    """Send a version in legal review back with changes requested (needs `approve_legal` and a comment)."""
    _review(workspace, version_id, "changes_requested", comment, as_user)


def register(app: typer.Typer) -> None:
    """Attach `firebreak draft` to the main app."""
    app.add_typer(draft_app, name="draft")
