"""`firebreak aftermath`: an issue's ripple map, the follow-up list, the executive summary, the lessons
learned and the timeline, from the shell.

    firebreak aftermath ripple -w acme 7 --bucket day
    firebreak aftermath followups -w acme 7
    firebreak aftermath followed-up -w acme 7 42 --note "DM'd, fixed" --as sue@acme.test
    firebreak aftermath summary -w acme 7 --format html --output issue-7.html
    firebreak aftermath lesson -w acme 7 "Link rules should start at acknowledgement" --change change.yaml

Changes act as `--as EMAIL` (without it, the local operator acts as `cli` with the admin role).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import typer
from rich.markup import escape

from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.cli.workflow import AsOpt, WorkspaceOpt, acting, print_columns
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.issues import aftermath, ripple
from firebreak.services import Services
from firebreak.workspaces import service as workspace_service

aftermath_app = typer.Typer(
    help="An issue's ripple map, follow-ups, executive summary, lessons learned and timeline.",
    no_args_is_help=True,
)

IssueArg = Annotated[int, typer.Argument(help="The issue id (first column of `firebreak issue list`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
BAR_WIDTH = 40


def _json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M")


@aftermath_app.command("ripple")
@clean_errors
def ripple_cmd(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    bucket: Annotated[str | None, typer.Option(help="hour or day (default: hours for an issue up to 3 days old).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Show where the conversation spreads: mentions by channel and site, per hour or day, and its threads."""
    if bucket is not None and bucket not in ripple.BUCKETS:
        raise InvalidInput(f"unknown bucket {bucket!r}; use {' or '.join(ripple.BUCKETS)}", field="bucket")
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        data = ripple.ripple_map(session, workspace_id=ws.id, issue_id=issue_id, now=utcnow(),
                                 bucket=cast(ripple.Bucket | None, bucket))
    if as_json:
        _json(data)
        return
    out.print(f"[bold]Issue {data['issue_number']}[/bold]: {data['total']} linked mention(s), by the "
              f"{data['bucket']} ({data['timezone']})")
    if not data["total"]:
        return
    print_columns(("channel", "kind", "count", "first seen", "last seen"), [
        [(c["channel"], None), (c["kind"], None), (str(c["count"]), None), (_when(c["first_seen"]), None),
         (_when(c["last_seen"]), None)] for c in data["channels"]])
    out.print()
    print_columns(("site", "count", "first seen", "last seen"), [
        [(s["site"], None), (str(s["count"]), None), (_when(s["first_seen"]), None), (_when(s["last_seen"]), None)]
        for s in data["sites"]])
    out.print()
    peak = max(slot["total"] for slot in data["series"])
    print_columns(("from", "count", "spread"), [
        [(_when(slot["start"]), None), (str(slot["total"]), None),
         ("#" * round(BAR_WIDTH * slot["total"] / peak) if slot["total"] else "", None)] for slot in data["series"]])
    out.print()
    print_columns(("channel", "site", "posts", "first post", "last post", "thread"), [
        [(t["channel"], None), (t["site"], None), (str(t["count"]), None), (_when(t["first_post_at"]), None),
         (_when(t["last_post_at"]), None), (t["url"] or t["conversation_id"], None)] for t in data["threads"]])


@aftermath_app.command("followups")
@clean_errors
def followups_cmd(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    pending: Annotated[bool, typer.Option("--pending", help="Only people not followed up yet.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List everyone who complained, where, whether they were followed up, and the message to send them."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        items = aftermath.follow_ups(session, runtime=Services(settings()).workflow(session, ws.id),
                                     workspace_id=ws.id, issue_id=issue_id, base_url=settings().base_url)
    if pending:
        items = [item for item in items if not item["followed_up"]]
    if as_json:
        _json(items)
        return
    if not items:
        out.print("Nobody to follow up." if pending else "Nobody complained in the linked mentions.")
        return
    for item in items:
        state = (f"[green]followed up {_when(item['followed_up_at'])} by {escape(item['followed_up_by'])}[/green]"
                 if item["followed_up"] else "[yellow]not followed up[/yellow]")
        out.print(f"[bold]{item['author_id']}[/bold]  @{escape(item['handle'])} on {escape(item['channel'])} "
                  f"({len(item['posts'])} post(s)) · {state}")
        for entry in item["posts"]:
            where = entry["url"] or f"mention {entry['mention_id']}"
            out.print(f"    {_when(entry['posted_at'])}  {escape(where)}")
        out.print(f"    [dim]{escape(item['message'])}[/dim]")
    done = sum(1 for item in items if item["followed_up"])
    console.print(f"{len(items)} author(s), {done} followed up.")


@aftermath_app.command("followed-up")
@clean_errors
def followed_up_cmd(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    author_id: Annotated[int, typer.Argument(help="The author id (first column of `followups`).")],
    note: Annotated[str | None, typer.Option(help="How they were reached, for the timeline.")] = None,
    as_user: AsOpt = None,
) -> None:
    """Record that an author who complained was followed up (recording it again changes nothing)."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        entry = aftermath.mark_followed_up(
            session, runtime=Services(settings()).workflow(session, ws.id), workspace_id=ws.id, issue_id=issue_id,
            author_id=author_id, actor=acting(session, ws.id, as_user), now=utcnow(), note=note)
    out.print(f"@{escape(entry['handle'])} followed up {_when(entry['followed_up_at'])} by "
              f"{escape(entry['followed_up_by'])}.")


@aftermath_app.command("summary")
@clean_errors
def summary_cmd(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    output_format: Annotated[str, typer.Option("--format", help="text, json or html.")] = "text",
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The executive summary: stages against their goals, volumes, sentiment, response times, tasks, lessons."""
    if output_format not in ("text", "json", "html"):
        raise InvalidInput(f"unknown format {output_format!r}; use text, json or html", field="format")
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        summary = aftermath.executive_summary(session, runtime=Services(settings()).workflow(session, ws.id),
                                              workspace_id=ws.id, issue_id=issue_id, now=utcnow(),
                                              base_url=settings().base_url)
    if output_format == "text":
        if output is not None:
            raise InvalidInput("--output writes json or html; add --format json or --format html", field="output")
        _print_summary(summary)
        return
    text = (aftermath.summary_html(summary) if output_format == "html"
            else orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"Wrote the summary of issue {summary['issue']['number']} to {output}.")


def _print_summary(summary: dict[str, Any]) -> None:
    issue = summary["issue"]
    out.print(f"[bold]Issue {issue['number']}: {escape(issue['title'])}[/bold] · {issue['severity']} · "
              f"{issue['state']} · stage {escape(issue['stage_label'])} · owner {escape(issue['owner'] or 'nobody')}")
    print_columns(("stage", "entered", "left", "goal", "due", "on time"), [
        [(stage["label"], None), (_when(stage["entered_at"]), None),
         ("in progress" if stage["current"] else _when(stage["left_at"]), None), (stage["goal"] or "-", None),
         (_when(stage["due_at"]), None),
         ("OVERDUE" if stage["overdue"] else "yes" if stage["due_at"] else "-",
          "bold red" if stage["overdue"] else None)] for stage in summary["stages"]])
    volumes = summary["volumes"]
    channels = ", ".join(f"{c['channel']} {c['count']}" for c in volumes["channels"]) or "none"
    out.print(f"Volumes: {volumes['total']} linked mention(s) in {volumes['threads']} thread(s): {escape(channels)}")
    sentiment = summary["sentiment"]
    out.print("Sentiment " + _side("before publishing" if sentiment["first_publication_at"] else "so far",
                                   sentiment["before"])
              + (" · " + _side("after", sentiment["after"]) if sentiment["after"] else ""))
    response = summary["first_response"]
    compliance = "-" if response["compliance"] is None else f"{response['compliance'] * 100:.0f}%"
    out.print(f"First responses: {response['in_time']} in time, {response['late']} late, {response['waiting']} "
              f"waiting (compliance {compliance})")
    tasks, follow = summary["tasks"], summary["follow_ups"]
    out.print(f"Tasks: {tasks['done']} done, {tasks['open']} open · publications: {len(summary['publications'])} · "
              f"follow-ups: {follow['done']} of {follow['authors']} · lessons: {len(summary['lessons'])}")


def _side(name: str, side: dict[str, Any]) -> str:
    shares = ", ".join(f"{key} {side['shares'][key] * 100:.0f}%" for key in aftermath.SENTIMENTS)
    return f"{name}: {side['count']} ({shares})"


@aftermath_app.command("timeline")
@clean_errors
def timeline_cmd(workspace: WorkspaceOpt, issue_id: IssueArg, as_json: JsonOpt = False) -> None:
    """Everything that happened to the issue, in order."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        events = aftermath.export_timeline(session, workspace_id=ws.id, issue_id=issue_id)
    if as_json:
        _json(events)
        return
    print_columns(("when", "who", "what", "details"), [
        [(_when(e["at"]), None), (e["actor"], None), (e["kind"], None),
         ("; ".join(f"{key}: {value}" for key, value in e["details"].items()), None)] for e in events])


@aftermath_app.command("lessons")
@clean_errors
def lessons_cmd(workspace: WorkspaceOpt, issue_id: IssueArg, as_json: JsonOpt = False) -> None:
    """List the lessons learned and the playbook changes they propose."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        lessons = aftermath.list_lessons(session, workspace_id=ws.id, issue_id=issue_id)
    if as_json:
        _json(lessons)
        return
    if not lessons:
        out.print("No lessons recorded yet.")
    for lesson in lessons:
        touches = f" · proposes changes to {', '.join(lesson['sections'])}" if lesson["sections"] else ""
        out.print(f"[bold]{lesson['id']}[/bold]  {_when(lesson['at'])}  {escape(lesson['author'])}{touches}")
        out.print(f"    {escape(lesson['text'])}")
        if lesson["proposed_change"]:
            for line in lesson["proposed_change"].rstrip().splitlines():
                out.print(f"    [dim]| {escape(line)}[/dim]")


@aftermath_app.command("lesson")
@clean_errors
def lesson_cmd(
    workspace: WorkspaceOpt,
    issue_id: IssueArg,
    text: Annotated[str, typer.Argument(help="The lesson, in a sentence or two.")],
    change: Annotated[Path | None, typer.Option(
        help="A YAML file proposing a playbook change: a mapping of playbook sections (sla:, issues:, ...).",
        exists=True, dir_okay=False, readable=True)] = None,
    as_user: AsOpt = None,
) -> None:
    """Record a lesson learned, optionally with the playbook change it proposes (checked before it is kept)."""
    proposed = change.read_text(encoding="utf-8") if change is not None else None
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        lesson = aftermath.add_lesson(
            session, runtime=Services(settings()).workflow(session, ws.id), workspace_id=ws.id, issue_id=issue_id,
            actor=acting(session, ws.id, as_user), now=utcnow(), text=text, proposed_change=proposed)
    touches = f", proposing changes to {', '.join(lesson['sections'])}" if lesson["sections"] else ""
    out.print(f"Lesson {lesson['id']} recorded{touches}.")


def register(app: typer.Typer) -> None:
    """Attach `firebreak aftermath` to the main app."""
    app.add_typer(aftermath_app, name="aftermath")
