"""The `firebreak` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from firebreak import __version__
from firebreak.cli import (
    admin,
    aftermath,
    content,
    data,
    demo,
    feeds,
    issues,
    people,
    playbook,
    publishing,
    train,
    triage,
    workflow,
)
from firebreak.cli.common import clean_errors, console, database, settings, setup_logging
from firebreak.db.migrate import current_revision, head_revision, upgrade

app = typer.Typer(
    name="firebreak",
    help="Firebreak: hear every mention, triage it, answer in time, and run the issue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"firebreak {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Firebreak: hear every mention, triage it, answer in time, and run the issue."""


@app.command()
@clean_errors
def init() -> None:
    """Create or migrate the database to the current schema (safe to run again)."""
    with database(migrated=False) as db:
        before = current_revision(db.engine)
        upgrade(db.engine)
        head = head_revision()
        where = db.engine.url.render_as_string(hide_password=True)
    if before == head:
        console.print(f"Database {where} is already at {head}.")
    else:
        console.print(f"Database {where} migrated from {before or 'empty'} to {head}.")


@app.command()
@clean_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default FIREBREAK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FIREBREAK_PORT).")] = None,
    worker: Annotated[bool, typer.Option(help="Run the in-process pipeline worker.")] = True,
) -> None:
    """Serve the web app and API, with the in-process worker."""
    import uvicorn

    from firebreak.app import create_app

    setup_logging()
    cfg = settings()
    if host:
        cfg.host = host
    if port:
        cfg.port = port
    application = create_app(cfg, run_worker=worker and cfg.worker_enabled)
    console.print(f"Firebreak {__version__} on {cfg.base_url}  (API docs: {cfg.base_url}/docs)")
    uvicorn.run(application, host=cfg.host, port=cfg.port, log_level="info", access_log=False)


admin.register(app)
data.register(app)
demo.register(app)
feeds.register(app)
triage.register(app)
playbook.register(app)
train.register(app)
people.register(app)
workflow.register(app)
content.register(app)
issues.register(app)
publishing.register(app)
aftermath.register(app)
