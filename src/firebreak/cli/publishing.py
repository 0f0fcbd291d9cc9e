"""Publishing commands: publish an issue's approved content, and work the outbox of posts and replies.

    firebreak publish 7 -w acme --channel x-main --as comms@acme.test
    firebreak outbox connect x-main -w acme --url https://bridge.acme.example/firebreak
    firebreak outbox list -w acme --issue 7
    firebreak outbox send
    firebreak outbox retry 12 -w acme

Changes act as `--as EMAIL` with that person's roles, or as the local operator (`cli`, admin).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape

from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.cli.workflow import AsOpt, WorkspaceOpt, acting, print_columns
from firebreak.core.clock import utcnow
from firebreak.issues.access import get_issue, require
from firebreak.issues.publishing import publish
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.services import Services
from firebreak.workspaces import service as workspace_service

outbox_app = typer.Typer(
    help="The outbox of posts and replies: connect a channel, list messages, send the due ones, retry.",
    no_args_is_help=True,
)
STATE_STYLE = {"sent": "green", "failed": "bold red", "sending": "yellow", "cancelled": "dim"}


@clean_errors
def publish_command(
    issue: Annotated[int, typer.Argument(help="The issue id.")],
    workspace: WorkspaceOpt,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", "-c", help="Post the link on this channel (slug); repeat for several.")] = None,
    replies: Annotated[bool, typer.Option(help="Reply with the link in every thread linked to the issue.")] = True,
    kind: Annotated[str, typer.Option(help="Which content: response, acknowledgement, confirmation or faq.")] = (
        "response"),
    version: Annotated[int | None, typer.Option(help="Publish this approved version id instead of the newest.")] = (
        None),
    slug: Annotated[str | None, typer.Option(help="The page's address (default: from the issue's title).")] = None,
    as_user: AsOpt = None,
) -> None:
    """Publish an issue's approved content on the newsroom, and queue its posts and thread replies.

    The text must have an approved version. Each chosen channel gets a post with the link, each linked
    thread a reply from the playbook's reply template, spaced by its publish_throttle per channel;
    `firebreak serve` (or `firebreak outbox send`) delivers them.
    """
    cfg = settings()
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        runtime = Services(cfg).workflow(session, ws.id)
        result = publish(session, runtime=runtime, workspace_id=ws.id, issue_id=issue,
                         actor=acting(session, ws.id, as_user), now=utcnow(), base_url=cfg.base_url, kind=kind,
                         version_id=version, channels=channel or [], reply_in_threads=replies, slug=slug)
    out.print(f"Published at {escape(result.link)}")
    _print_messages(result.messages)
    posts = sum(1 for view in result.messages if view.message.kind == "post")
    console.print(f"Queued {_count(posts, 'post')} and {_count(len(result.messages) - posts, 'reply')}.")
    for skip in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {_count(skip.count, skip.kind)} on {escape(skip.channel)}: "
                      f"{escape(skip.reason)}", soft_wrap=True)


@outbox_app.command("connect")
@clean_errors
def outbox_connect(
    channel: Annotated[str, typer.Argument(help="The channel's slug.")],
    workspace: WorkspaceOpt,
    url: Annotated[str | None, typer.Option(help="Where the webhook connector POSTs this channel's messages.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Disconnect: nothing is sent to the channel.")] = False,
) -> None:
    """Point a channel's webhook connector at a URL (a bridge that posts to the network), or disconnect it.

    Messages are POSTed as signed JSON with the channel's webhook secret; see the README for the protocol.
    """
    if (url is None) == (not clear):
        raise typer.BadParameter("give either --url URL or --clear")
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        found = outbox.set_outbound_url(session=session, workspace_id=ws.id, channel=channel, url=url, actor="cli")
        reason = cannot_send(OutboundChannel.of(found))
    if reason is None:
        out.print(f"Channel {escape(channel)} sends to {escape(url or '')}.")
    else:
        out.print(f"Channel {escape(channel)} cannot send: {escape(reason)}")


@outbox_app.command("list")
@clean_errors
def outbox_list(
    workspace: WorkspaceOpt,
    issue: Annotated[int | None, typer.Option(help="Only this issue's messages (issue id).")] = None,
    state: Annotated[list[str] | None, typer.Option(
        help="pending, sending, sent, failed or cancelled; repeat for several.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel (slug).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=outbox.MAX_LIST, help="Most rows shown, newest first.")] = 50,
) -> None:
    """List outbox messages, newest first: where each goes, its state, when it goes (or went) and any error."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        if issue is not None:
            get_issue(session, ws.id, issue)
        views = outbox.list_messages(session=session, workspace_id=ws.id, issue_id=issue, states=state or (),
                                     channel=channel, limit=limit)
        _print_messages(views)
    if not views:
        out.print("No messages.")
        return
    console.print(f"{len(views)} message(s){' (limit reached)' if len(views) == limit else ''}. Times are UTC.")


@outbox_app.command("send")
@clean_errors
def outbox_send(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace.")] = None,
) -> None:
    """Send every message that is due now (the worker in `firebreak serve` does this continuously).

    A channel's messages stay spaced by their throttle, so later ones wait for the worker.
    """
    totals = dict.fromkeys(("sent", "retrying", "failed"), 0)
    errors: list[str] = []
    with database() as db:
        workspace_id = None
        if workspace is not None:
            with db.read() as session:
                workspace_id = workspace_service.get_workspace(session=session, slug=workspace).id
        dispatcher = Services(settings()).outbox_dispatcher(db)
        while True:
            report = dispatcher.deliver_due(workspace_id=workspace_id)
            for name in totals:
                totals[name] += getattr(report, name)
            errors.extend(report.errors)
            # Every round that settles a message may make the next one on its channel due.
            if not report.more:
                break
        with db.read() as session:
            left, first = outbox.waiting(session=session, workspace_id=workspace_id)
    out.print(f"Sent {totals['sent']} message(s); {totals['retrying']} to retry, {totals['failed']} failed for good.")
    if left:
        out.print(f"{left} message(s) wait for their time, spaced per channel or backing off; the next is due "
                  f"{_when(first)} UTC.")
    for error in errors:
        console.print(f"[red]error:[/red] {escape(error)}", soft_wrap=True)
    if errors:
        raise typer.Exit(1)


@outbox_app.command("retry")
@clean_errors
def outbox_retry(
    message: Annotated[int, typer.Argument(help="The message id (first column of `firebreak outbox list`).")],
    workspace: WorkspaceOpt,
    as_user: AsOpt = None,
) -> None:
    """Queue a failed message again with a fresh set of tries (or a waiting one now), under the same key."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        actor = acting(session, ws.id, as_user)
        require(Services(settings()).workflow(session, ws.id), actor, "publish", "retry posts and replies")
        view = outbox.retry(session=session, workspace_id=ws.id, message_id=message, actor=actor.name, now=utcnow())
        when = view.message.next_attempt_at
    out.print(f"Message {message} is queued again for {_when(when)}; `firebreak outbox send` sends it now.")


def _count(number: int, kind: str) -> str:
    plural = {"reply": "replies"}.get(kind, f"{kind}s")
    return f"{number} {kind if number == 1 else plural}"


def _when(moment: datetime | None) -> str:
    return f"{moment:%m-%d %H:%M:%S}" if moment is not None else "-"


def _print_messages(views: list[outbox.MessageView]) -> None:
    if not views:
        return
    rows = []
    for view in views:
        message = view.message
        when = message.sent_at if message.state == "sent" else message.next_attempt_at
        target = message.in_reply_to or "-"
        rows.append([(str(message.id), None), (str(message.issue_id or "-"), None), (view.channel, None),
                     (message.kind, None), (message.state, STATE_STYLE.get(message.state)),
                     (str(message.attempts), None), (_when(when), None), (target, None),
                     (" ".join(message.body.split()), None)])
    print_columns(("id", "issue", "channel", "kind", "state", "tries", "sent/next", "replying to", "text"), rows)
    for view in views:
        if view.message.last_error:
            out.print(f"  message {view.message.id}: [red]{escape(view.message.last_error)}[/red]")


def register(app: typer.Typer) -> None:
    """Attach `publish` and `outbox` to the main app."""
    app.command("publish")(publish_command)
    app.add_typer(outbox_app, name="outbox")
