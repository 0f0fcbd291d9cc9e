"""Feed commands: see each RSS/Atom feed's schedule and health, and poll feeds now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape

from firebreak.cli.common import clean_errors, database, out, settings
from firebreak.connectors.rss.poller import FeedPoller, list_feeds
from firebreak.workspaces import service as workspace_service

feeds_app = typer.Typer(help="List and poll RSS/Atom feeds.", no_args_is_help=True)

WorkspaceFilter = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Only this workspace's feeds (default: all).")
]


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at else "-"


@feeds_app.command("list")
@clean_errors
def feeds_list(workspace: WorkspaceFilter = None) -> None:
    """List feeds with their interval, last status, last and next poll, failures and last error."""
    with database() as db, db.read() as session:
        ws_id = workspace_service.get_workspace(session=session, slug=workspace).id if workspace else None
        rows = list_feeds(session=session, workspace_id=ws_id)
    if not rows:
        out.print("No feeds. Add one with `firebreak channel add-feed`.")
        return
    # One block per feed rather than a table: URLs and errors are long and a table of eight
    # columns folds them unreadably in an 80-column terminal.
    for row in rows:
        status = str(row.last_status) if row.last_status is not None else "-"
        inactive = "  (inactive)" if not row.active else ""
        out.print(
            f"{row.workspace}/{row.channel}  every {row.interval_seconds}s  status {status}"
            f"  failures {row.consecutive_failures}{inactive}"
        )
        out.print(f"  url:        {escape(row.url)}")
        out.print(f"  last poll:  {_when(row.last_polled_at)}   next poll: {_when(row.next_poll_at)}")
        if row.last_error:
            out.print(f"  last error: {escape(row.last_error)}")


@feeds_app.command("poll")
@clean_errors
def feeds_poll(
    workspace: WorkspaceFilter = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every active feed, due or not.")] = False,
) -> None:
    """Poll the feeds that are due now (or all of them) and print what came in."""
    cfg = settings()
    with database() as db:
        ws_id = None
        if workspace:
            with db.read() as session:
                ws_id = workspace_service.get_workspace(session=session, slug=workspace).id
        with FeedPoller(db, max_text_chars=cfg.max_text_chars) as poller:
            summary = poller.poll_due(workspace_id=ws_id, force=all_feeds)
    if not summary.feeds:
        out.print("No feeds due." if not all_feeds else "No active feeds.")
        return
    for result in summary.results:
        status = str(result.status) if result.status is not None else "-"
        name = escape(f"{result.workspace}/{result.channel}")
        if result.error:
            out.print(f"{name}  {status}  error: {escape(result.error)}  (next try {_when(result.next_poll_at)})")
            continue
        seen = "not modified" if result.status == 304 else f"{result.entries} entries, {result.new_mentions} new"
        out.print(f"{name}  {status}  {seen}  (next poll {_when(result.next_poll_at)})")
        if result.warning:
            out.print(f"  warning: {escape(result.warning)}")
        for preview in result.previews:
            out.print(f"  + {escape(preview)}")
        if result.new_mentions > len(result.previews):
            out.print(f"  … and {result.new_mentions - len(result.previews)} more")
    out.print(f"Polled {summary.feeds} feed(s): {summary.new_mentions} new mention(s), {summary.failed} failed.")


def register(app: typer.Typer) -> None:
    """Attach the feed commands to the main app."""
    app.add_typer(feeds_app, name="feeds")
