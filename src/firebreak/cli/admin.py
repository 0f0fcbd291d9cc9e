"""Administration commands: workspaces, channels, tokens and the pipeline."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from firebreak.accounts import service as accounts_service
from firebreak.channels import service as channel_service
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput
from firebreak.mentions import service as mention_service
from firebreak.pipeline import runner
from firebreak.services import build_pipeline
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service

workspace_app = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
channel_app = typer.Typer(help="Create channels, feeds and webhook secrets.", no_args_is_help=True)
token_app = typer.Typer(help="Create and revoke API tokens.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Inspect and drive the mention pipeline.", no_args_is_help=True)

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]
ACTOR = "cli"


@workspace_app.command("create")
@clean_errors
def workspace_create(slug: str, name: Annotated[str | None, typer.Option(help="Display name.")] = None) -> None:
    """Create a workspace."""
    with database() as db, db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug=slug, name=name or slug, actor=ACTOR)
    out.print(f"Created workspace {ws.slug} (id {ws.id}).")


@workspace_app.command("list")
@clean_errors
def workspace_list() -> None:
    """List workspaces."""
    with database() as db, db.read() as session:
        rows = workspace_service.list_workspaces(session=session)
    table = Table("slug", "name", "id")
    for ws in rows:
        table.add_row(ws.slug, ws.name, str(ws.id))
    out.print(table)


@channel_app.command("create")
@clean_errors
def channel_create(
    workspace: WorkspaceOpt,
    slug: str,
    kind: Annotated[
        str,
        typer.Option(
            help="x, facebook, instagram, reddit, mastodon, bluesky, forum, blog, news, rss, webhook or support_forum."
        ),
    ] = "webhook",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a channel and print its webhook secret (shown here once; rotate to replace it)."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        channel = channel_service.create_channel(
            session=session, workspace_id=ws.id, slug=slug, kind=kind, name=name, actor=ACTOR
        )
    out.print(f"Created channel {channel.slug} ({channel.kind}).")
    out.print(f"Webhook URL:    {settings().base_url}/api/v1/workspaces/{workspace}/mentions")
    out.print(f"Webhook secret: {channel.webhook_secret}")


@channel_app.command("add-feed")
@clean_errors
def channel_add_feed(
    workspace: WorkspaceOpt,
    slug: str,
    url: str,
    interval: Annotated[int | None, typer.Option(help="Seconds between polls.")] = None,
    kind: Annotated[str, typer.Option(help="rss, news, blog or forum.")] = "rss",
) -> None:
    """Add an RSS/Atom feed that `serve` polls with conditional GET."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        channel_service.add_feed(
            session=session,
            workspace_id=ws.id,
            slug=slug,
            url=url,
            kind=kind,
            interval_seconds=interval or settings().feed_default_interval_seconds,
            actor=ACTOR,
        )
    out.print(f"Added feed {slug}: {url}")


@channel_app.command("list")
@clean_errors
def channel_list(workspace: WorkspaceOpt) -> None:
    """List a workspace's channels."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
    table = Table("slug", "kind", "name", "active", "feed")
    for channel in channels.values():
        table.add_row(
            channel.slug,
            channel.kind,
            channel.name,
            "yes" if channel.active else "no",
            str(channel.config.get("feed_url", "")),
        )
    out.print(table)


@channel_app.command("rotate-secret")
@clean_errors
def channel_rotate_secret(workspace: WorkspaceOpt, slug: str) -> None:
    """Replace a channel's webhook secret and print the new one."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        channel = channel_service.get_channel(session=session, workspace_id=ws.id, slug=slug)
        secret = channel_service.rotate_secret(session=session, channel=channel, actor=ACTOR)
    out.print(f"Webhook secret: {secret}")


@token_app.command("create")
@clean_errors
def token_create(
    workspace: WorkspaceOpt,
    name: str,
    scope: Annotated[
        list[str] | None, typer.Option(help="mentions:read, mentions:write, workflow:write or admin; repeat.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="A personal token: it acts as this member, with their roles.")
    ] = None,
) -> None:
    """Create an API token; the secret is printed once."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        user_id = None
        if user is not None:
            person = accounts_service.get_user(session=session, email=user)
            if not accounts_service.roles_of(session=session, workspace_id=ws.id, user_id=person.id):
                raise InvalidInput(f"{person.email} is not a member of {workspace}; grant a role first", field="user")
            user_id = person.id
        token, secret = workspace_service.create_token(
            session=session, workspace_id=ws.id, name=name, scopes=scope or ["mentions:read"], actor=ACTOR,
            user_id=user_id,
        )
    console.print(f"Token {token.id} ({', '.join(token.scopes)}) — store it now, it is not shown again:")
    out.print(secret)


@token_app.command("revoke")
@clean_errors
def token_revoke(workspace: WorkspaceOpt, token_id: int) -> None:
    """Revoke an API token."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        workspace_service.revoke_token(session=session, workspace_id=ws.id, token_id=token_id, actor=ACTOR)
    out.print(f"Revoked token {token_id}.")


@pipeline_app.command("status")
@clean_errors
def pipeline_status(workspace: Annotated[str | None, typer.Option("--workspace", "-w")] = None) -> None:
    """Show mentions by processing state and the parked ones with their errors."""
    with database() as db, db.read() as session:
        ws_id = workspace_service.get_workspace(session=session, slug=workspace).id if workspace else None
        counts = mention_service.count_by_state(session=session, workspace_id=ws_id)
        parked = runner.parked_mentions(session=session, workspace_id=ws_id)
        errors = runner.last_errors(session=session, mention_ids=[m.id for m in parked])
    out.print("  ".join(f"{state}: {counts.get(state, 0)}" for state in ("pending", "processed", "parked")))
    if parked:
        table = Table("id", "tries", "last error", "text")
        for mention in parked:
            history = errors.get(mention.id, [])
            table.add_row(
                str(mention.id), str(mention.attempts), history[-1].error if history else "", mention.text[:60]
            )
        out.print(table)


@pipeline_app.command("retry")
@clean_errors
def pipeline_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Mention ids; omit with --all.")] = None,
    all_parked: Annotated[bool, typer.Option("--all", help="Retry every parked mention.")] = False,
    workspace: Annotated[str | None, typer.Option("--workspace", "-w")] = None,
) -> None:
    """Send parked mentions back to the queue with a fresh try count."""
    if not ids and not all_parked:
        raise typer.BadParameter("give mention ids or --all")
    with database() as db, db.write() as session:
        ws_id = workspace_service.get_workspace(session=session, slug=workspace).id if workspace else None
        moved = runner.retry_parked(
            session=session, workspace_id=ws_id, mention_ids=None if all_parked else ids, actor=ACTOR, now=utcnow()
        )
    out.print(f"Requeued {moved} mention(s).")


@pipeline_app.command("run")
@clean_errors
def pipeline_run() -> None:
    """Process every due mention now, without starting the server."""
    cfg = settings()
    with database() as db:
        worker = BackgroundWorker(db, build_pipeline(cfg), batch_size=cfg.worker_batch_size)
        done = worker.drain()
    out.print(f"Processed {done} mention(s).")


def register(app: typer.Typer) -> None:
    """Attach the admin command groups to the main app."""
    app.add_typer(workspace_app, name="workspace")
    app.add_typer(channel_app, name="channel")
    app.add_typer(token_app, name="token")
    app.add_typer(pipeline_app, name="pipeline")
