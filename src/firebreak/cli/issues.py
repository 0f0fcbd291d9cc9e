"""`firebreak issue`: run a rapid-response issue from the shell: open it, see the board and one issue,
move it through its stages, record the one-off / systemic decision, people, tasks, linked mentions, close.

Changes act as `--as EMAIL`, checked against that person's roles and their part in the issue (the
owner runs their own issue); without `--as` the local operator acts as `cli` with the admin role.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy.orm import Session

from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.cli.workflow import AsOpt, WorkspaceOpt, acting, print_columns
from firebreak.core.clock import utcnow
from firebreak.core.durations import format_duration, parse_duration
from firebreak.core.errors import InvalidInput
from firebreak.issues import board as issue_board
from firebreak.issues import service
from firebreak.services import Services
from firebreak.workspaces import service as workspace_service

issue_app = typer.Typer(
    help="Rapid-response issues: open, board, show, stages, decision, people, tasks, linked mentions, close.",
    no_args_is_help=True,
)
stakeholder_app = typer.Typer(help="The people on an issue and their roles.", no_args_is_help=True)
task_app = typer.Typer(help="An issue's checklists: add tasks, tick them off, reopen them.", no_args_is_help=True)
issue_app.add_typer(stakeholder_app, name="stakeholder")
issue_app.add_typer(task_app, name="task")

IssueArg = Annotated[int, typer.Argument(help="The issue id (first column of `firebreak issue list`).")]
ClosedOpt = Annotated[bool, typer.Option("--closed", help="Closed issues instead.")]
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": None}


def _context(session: Session, workspace: str, as_user: str | None) -> dict[str, Any]:
    """The keywords every issue service call takes: runtime, workspace, actor and now."""
    ws = workspace_service.get_workspace(session=session, slug=workspace)
    return {"runtime": Services(settings()).workflow(session, ws.id), "workspace_id": ws.id,
            "actor": acting(session, ws.id, as_user), "now": utcnow()}


def _stakeholder(value: str) -> tuple[str, str]:
    email, sep, role = value.partition("=")
    if not sep or not email.strip() or not role.strip():
        raise InvalidInput(f"--stakeholder {value!r} is not EMAIL=ROLE (e.g. cora@acme.test=communications)",
                           field="stakeholder")
    return email.strip(), role.strip()


@issue_app.command("open")
@clean_errors
def issue_open(
    workspace: WorkspaceOpt,
    title: Annotated[str, typer.Argument(help="What people call it: 'Latch battery drain'.")],
    owner: Annotated[str | None, typer.Option(help="E-mail of the owner (default: the --as user).")] = None,
    summary: Annotated[str, typer.Option(help="What is happening, in a few lines.")] = "",
    severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "medium",
    stakeholder: Annotated[list[str] | None, typer.Option(
        help="EMAIL=ROLE (communications, legal, product, support, executive_sponsor); repeat.")] = None,
    mention: Annotated[list[int] | None, typer.Option(help="A mention id to link; repeat.")] = None,
    keyword: Annotated[list[str] | None, typer.Option(help="Link arriving mentions with this keyword; repeat.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Link arriving mentions of this category; repeat.")] = None,
    product: Annotated[list[str] | None, typer.Option(help="Link arriving mentions of this product; repeat.")] = None,
    detection: Annotated[bool, typer.Option("--detection", help="Opened from a detection alert.")] = False,
    as_user: AsOpt = None,
) -> None:
    """Open an issue in the playbook's first stage, with its time goal, checklist and people."""
    if owner is None and as_user is None:
        raise typer.BadParameter("name the owner with --owner EMAIL (or act --as the owner)")
    rules = {"keywords": keyword or [], "categories": category or [], "products": product or []}
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        issue = service.open_issue(
            session, **context, title=title, summary=summary, severity=severity, owner_email=owner or as_user or "",
            mention_ids=mention or [], link_rules=rules, opened_from="detection" if detection else None,
            stakeholders=[_stakeholder(value) for value in stakeholder or []])
        detail = issue_board.issue_detail(session, context["runtime"], context["workspace_id"], issue.id,
                                          context["now"])
    current = detail["current"]
    out.print(f"Opened issue {detail['number']} (id {detail['id']}) '{escape(detail['title'])}' in "
              f"{detail['stage_label']}, owner {detail['owner']}{_due(current)}; "
              f"{detail['counts']['linked_mentions']} mention(s) linked, {detail['counts']['tasks_open']} task(s).")


def _board(workspace: str, closed: bool) -> None:
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = Services(settings()).workflow(session, ws.id)
        result = issue_board.board(session, runtime, ws.id, utcnow(), state="closed" if closed else "open")
    total = sum(len(column["cards"]) for column in result["columns"])
    if not total:
        out.print(f"No {result['state']} issues.")
        return
    for column in result["columns"]:
        goal = f" (goal {column['goal']})" if column["goal"] else ""
        out.print(f"[bold]{escape(column['label'])}[/bold]{goal}: {len(column['cards'])}")
        if column["cards"]:
            print_columns(("id", "#", "severity", "owner", "mentions", "in stage", "left", "title"), [
                [(str(card["id"]), None), (str(card["number"]), None),
                 (card["severity"], SEVERITY_STYLE.get(card["severity"])), (card["owner"] or "-", None),
                 (str(card["linked_mentions"]), None), (format_duration(card["time_in_stage_seconds"]), None),
                 _left(card), (card["title"], None)] for card in column["cards"]], indent="  ")
    console.print(f"{total} {result['state']} issue(s); times left are business time on each stage's calendar.")


@issue_app.command("list")
@clean_errors
def issue_list(workspace: WorkspaceOpt, closed: ClosedOpt = False) -> None:
    """The board: open issues by stage, with owner, severity, linked mentions, time in stage and time left."""
    _board(workspace, closed)


@issue_app.command("board")
@clean_errors
def issue_board_command(workspace: WorkspaceOpt, closed: ClosedOpt = False) -> None:
    """The same as `list`."""
    _board(workspace, closed)


@issue_app.command("show")
@clean_errors
def issue_show(workspace: WorkspaceOpt, issue_id: IssueArg) -> None:
    """One issue in full: people, stage visits and goals, what blocks the gate, tasks by stage, timeline."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = Services(settings()).workflow(session, ws.id)
        detail = issue_board.issue_detail(session, runtime, ws.id, issue_id, utcnow())
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    out.print(f"[bold]Issue {detail['number']}[/bold] (id {detail['id']}) · {escape(detail['title'])} · "
              f"{detail['severity']} · {detail['state']} · revision {detail['revision']}")
    if detail["summary"]:
        out.print(f"  {escape(detail['summary'])}")
    people = [f"owner {detail['owner'] or 'nobody'}",
              *(f"{person['role']} {person['email']}" for person in detail["stakeholders"])]
    out.print("  " + "; ".join(people))
    if detail["decision"]:
        out.print(f"  decision: {detail['decision'].replace('_', '-')}: {escape(detail['decision_reason'] or '')}")
    current = detail["current"]
    if detail["state"] == "open":
        after = f"; next: {current['next_stage']}" if current["next_stage"] else "; the last stage: close from here"
        out.print(f"[bold]Stage: {escape(detail['stage_label'])}[/bold] for "
                  f"{format_duration(current['time_in_stage_seconds'])}{_due(current)}{after}")
        for blocker in current["blockers"]:
            out.print(f"  [yellow]blocks the gate:[/yellow] {escape(blocker)}")
    out.print("[bold]Stages[/bold]")
    print_columns(("stage", "entered (UTC)", "left", "goal", "due (UTC)", "overdue", "override"), [
        [(visit["stage"], None), (f"{visit['entered_at']:%Y-%m-%d %H:%M}", None),
         (f"{visit['left_at']:%Y-%m-%d %H:%M}" if visit["left_at"] else "-", None),
         (visit["goal_text"] or "-", None), (f"{visit['due_at']:%Y-%m-%d %H:%M}" if visit["due_at"] else "-", None),
         ("yes", "bold red") if visit["overdue"] else ("no", None), (visit["override_reason"] or "-", None)]
        for visit in detail["stages"]], indent="  ")
    for group in detail["tasks"]:
        out.print(f"[bold]Tasks in {group['stage']}[/bold]")
        print_columns(("id", "done", "req", "owner", "due (UTC)", "title"), [
            [(str(task["id"]), None), ("x" if task["done_at"] else " ", "green" if task["done_at"] else None),
             ("*" if task["required"] else " ", None), (task["owner"] or "-", None),
             (f"{task['due_at']:%m-%d %H:%M}" if task["due_at"] else "-", "bold red" if task["overdue"] else None),
             (task["title"], None)] for task in group["tasks"]], indent="  ")
    counts = detail["counts"]
    sites = ", ".join(f"{site} {count}" for site, count in counts["by_site"].items())
    out.print(f"[bold]Linked mentions[/bold]: {counts['linked_mentions']}{' (' + sites + ')' if sites else ''}; "
              f"drafts {counts['drafts']}, publications {counts['publications']}")
    out.print("[bold]Timeline[/bold]")
    for event in detail["timeline"]:
        out.print(f"  {event['at']:%Y-%m-%d %H:%M}  {escape(event['actor'])}  {escape(_describe(event))}")


def _due(current: dict[str, Any]) -> str:
    if current["due_at"] is None:
        return ""
    left = current["time_left_seconds"]
    if current["overdue"]:
        return f", [bold red]OVERDUE[/bold red] (due {current['due_at']:%Y-%m-%d %H:%M} UTC)"
    shown = f", {format_duration(left)} business time left" if left is not None else ""
    return f", due {current['due_at']:%Y-%m-%d %H:%M} UTC{shown}"


def _left(card: dict[str, Any]) -> tuple[str, str | None]:
    if card["time_left_seconds"] is None:
        return "-", None
    if card["overdue"]:
        return f"OVERDUE {format_duration(max(-card['time_left_seconds'], 0))}", "bold red"
    return format_duration(card["time_left_seconds"]), None


def _describe(event: dict[str, Any]) -> str:
    """One timeline event in words."""
    details = event["details"] or {}
    kind = event["kind"]
    if kind == "issue.opened":
        return (f"opened ({details.get('severity')}, owner {details.get('owner')}, from {details.get('opened_from')}) "
                f"in {details.get('stage')}")
    if kind == "issue.closed":
        return f"closed from {details.get('stage')}" + (f": {details['reason']}" if details.get("reason") else "")
    if kind == "stage.moved":
        late = " (left overdue)" if details.get("overdue") else ""
        return f"stage {details.get('from')} → {details.get('to')}{late}"
    if kind == "gate.overridden":
        return f"gate of {details.get('stage')} overridden: {details.get('reason')}"
    if kind == "decision.recorded":
        return f"decided {str(details.get('decision')).replace('_', '-')}: {details.get('reason')}"
    if kind in ("task.added", "task.done", "task.reopened"):
        return f"{kind.split('.')[1]} task {details.get('task_id')}: {details.get('title')}"
    if kind == "mentions.linked":
        return f"linked {details.get('count')} mention(s) ({details.get('linked_by')})"
    shown = ", ".join(f"{key} {value}" for key, value in details.items() if value not in (None, [], {}))
    return f"{kind}{' (' + shown + ')' if shown else ''}"


def _report(session: Session, context: dict[str, Any], issue_id: int, done: str) -> None:
    detail = issue_board.issue_detail(session, context["runtime"], context["workspace_id"], issue_id, context["now"])
    out.print(f"Issue {detail['number']}: {done} (stage {detail['stage']}, {detail['state']}).")
    for blocker in detail["current"]["blockers"] if detail["state"] == "open" else []:
        out.print(f"  [yellow]blocks the gate:[/yellow] {escape(blocker)}")


@issue_app.command("stage")
@clean_errors
def issue_stage(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    stage: Annotated[str, typer.Argument(help="The next stage, or an earlier one to reopen.")],
    override: Annotated[str | None, typer.Option(
        "--override", help="Why the stage may be left although its gate is not met (the owner or a lead).")] = None,
    as_user: AsOpt = None,
) -> None:
    """Move the issue to the next stage, or back to an earlier one; a blocked gate needs --override REASON."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.move_stage(session, **context, issue_id=issue_id, target=stage, override_reason=override)
        _report(session, context, issue_id, f"moved to {stage}")


@issue_app.command("decide")
@clean_errors
def issue_decide(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    decision: Annotated[str, typer.Argument(help="one_off or systemic.")],
    reason: Annotated[str, typer.Option(help="Why: what the product group and support leadership found.")],
    as_user: AsOpt = None,
) -> None:
    """Record whether the problem is a one-off or systemic, with the reason."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.record_decision(session, **context, issue_id=issue_id, decision=decision.replace("-", "_"),
                                reason=reason)
        _report(session, context, issue_id, f"recorded {decision}")


@issue_app.command("close")
@clean_errors
def issue_close(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    reason: Annotated[str | None, typer.Option(help="Why; needed to close before the last stage.")] = None,
    as_user: AsOpt = None,
) -> None:
    """Close the issue from its last stage (earlier only with override_gate and --reason)."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.close_issue(session, **context, issue_id=issue_id, reason=reason)
        _report(session, context, issue_id, "closed")


@stakeholder_app.command("add")
@clean_errors
def stakeholder_add(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    email: Annotated[str, typer.Argument(help="A workspace member's e-mail.")],
    role: Annotated[str, typer.Argument(help="communications, legal, product, support or executive_sponsor.")],
    as_user: AsOpt = None,
) -> None:
    """Give a workspace member a role on the issue."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.add_stakeholder(session, **context, issue_id=issue_id, email=email, role=role)
        _report(session, context, issue_id, f"{email.strip().lower()} is {role}")


@stakeholder_app.command("remove")
@clean_errors
def stakeholder_remove(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    email: Annotated[str, typer.Argument(help="The stakeholder's e-mail.")],
    role: Annotated[str, typer.Argument(help="The role to take away.")],
    as_user: AsOpt = None,
) -> None:
    """Take a role on the issue away from a person."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.remove_stakeholder(session, **context, issue_id=issue_id, email=email, role=role)
        _report(session, context, issue_id, f"{email.strip().lower()} is no longer {role}")


def _due_at(value: str | None, now: datetime) -> datetime | None:
    """`--due`: an ISO time with a zone, or a duration from now ("4h", "1d")."""
    if value is None:
        return None
    try:
        return now + timedelta(seconds=parse_duration(value))
    except (ValueError, InvalidInput):
        pass
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--due {value!r} is neither a time (2026-11-16T15:00Z) nor a duration (4h)",
                           field="due") from None
    if due.tzinfo is None:
        raise InvalidInput(f"--due {value!r} needs a time zone, e.g. {value}Z", field="due")
    return due


@task_app.command("add")
@clean_errors
def task_add(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    title: Annotated[str, typer.Argument(help="What to do.")],
    stage: Annotated[str | None, typer.Option(help="The stage whose checklist gets it (default: current).")] = None,
    owner: Annotated[str | None, typer.Option(help="Who does it (default: the issue's owner).")] = None,
    due: Annotated[str | None, typer.Option(help="When: an ISO time with a zone, or a duration from now (4h).")] = None,
    required: Annotated[bool, typer.Option("--required", help="Block leaving the stage until it is done.")] = False,
    as_user: AsOpt = None,
) -> None:
    """Add an ad-hoc task to a stage's checklist."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        task = service.add_task(session, **context, issue_id=issue_id, title=title, stage=stage, owner_email=owner,
                                due_at=_due_at(due, context["now"]), required=required)
        _report(session, context, issue_id, f"task {task.id} added to {task.stage}")


@task_app.command("done")
@clean_errors
def task_done(workspace: WorkspaceOpt, issue_id: IssueArg,
              task_id: Annotated[int, typer.Argument(help="The task id (from `firebreak issue show`).")],
              as_user: AsOpt = None) -> None:
    """Tick a task off (its owner, the issue's owner, or someone who may open issues)."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.complete_task(session, **context, issue_id=issue_id, task_id=task_id)
        _report(session, context, issue_id, f"task {task_id} done")


@task_app.command("reopen")
@clean_errors
def task_reopen(workspace: WorkspaceOpt, issue_id: IssueArg,
                task_id: Annotated[int, typer.Argument(help="The task id (from `firebreak issue show`).")],
                as_user: AsOpt = None) -> None:
    """Mark a done task open again."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.reopen_task(session, **context, issue_id=issue_id, task_id=task_id)
        _report(session, context, issue_id, f"task {task_id} reopened")


@issue_app.command("link")
@clean_errors
def issue_link(workspace: WorkspaceOpt, issue_id: IssueArg,
               mention_ids: Annotated[list[int], typer.Argument(help="Mention ids to link.")],
               as_user: AsOpt = None) -> None:
    """Link mentions to the issue (linking one again changes nothing)."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        linked = service.link(session, **context, issue_id=issue_id, mention_ids=mention_ids)
        _report(session, context, issue_id, f"{linked} mention(s) newly linked")


@issue_app.command("unlink")
@clean_errors
def issue_unlink(workspace: WorkspaceOpt, issue_id: IssueArg,
                 mention_id: Annotated[int, typer.Argument(help="The mention id to unlink.")],
                 as_user: AsOpt = None) -> None:
    """Take a mention out of the issue's conversation."""
    with database() as db, db.write() as session:
        context = _context(session, workspace, as_user)
        service.unlink(session, **context, issue_id=issue_id, mention_id=mention_id)
        _report(session, context, issue_id, f"mention {mention_id} unlinked")


def register(app: typer.Typer) -> None:
    """Attach `firebreak issue` to the main app."""
    app.add_typer(issue_app, name="issue")

