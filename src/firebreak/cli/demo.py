"""`firebreak demo`: load the Wrenly lockout scenario, process it, print how to reach it, serve."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import make_url

from firebreak.channels import service as channel_service
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import utcnow
from firebreak.core.errors import ConfigurationError
from firebreak.db.migrate import upgrade
from firebreak.demo import scenario
from firebreak.services import build_pipeline
from firebreak.settings import Settings
from firebreak.triage import service as triage_service
from firebreak.worker import BackgroundWorker

WEBHOOK_CHANNEL = "x"


def reset_default_sqlite(cfg: Settings) -> Path:
    """Delete the default SQLite file under the data dir, refusing any other database."""
    default = (cfg.data_dir / "firebreak.db").resolve()
    url = make_url(cfg.resolved_database_url)
    is_default = (
        url.get_backend_name() == "sqlite"
        and bool(url.database)
        and url.database != ":memory:"
        and Path(url.database).resolve() == default  # type: ignore[arg-type]
    )
    if not is_default:
        shown = url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"--reset only deletes the default SQLite file {default}; the configured database is {shown}. "
            "Drop the demo data there yourself, or run without --reset (loading is idempotent)."
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{default}{suffix}").unlink(missing_ok=True)
    return default


@clean_errors
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load and print, then exit instead of serving.")] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the default SQLite file under the data dir first.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Bind address (default FIREBREAK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FIREBREAK_PORT).")] = None,
) -> None:
    """Load the sample scenario (a fictional smart-lock crisis) into workspace `demo` and serve it."""
    cfg = settings()
    if host:
        cfg.host = host
    if port:
        cfg.port = port
    if reset:
        console.print(f"Deleted {reset_default_sqlite(cfg)} (--reset).")

    with database(migrated=False) as db:
        upgrade(db.engine)
        started = time.perf_counter()
        with db.write() as session:
            load = scenario.install_demo(session=session, now=utcnow())
            people = scenario.install_people(session=session, workspace_id=load.workspace_id)
        loaded_in = time.perf_counter() - started
        console.print(
            f"Scenario: {load.total} mentions over two days; {load.created} new, {load.duplicates} already stored "
            f"({loaded_in:.1f}s)."
        )
        started = time.perf_counter()
        processed = BackgroundWorker(db, build_pipeline(cfg), batch_size=cfg.worker_batch_size).drain()
        console.print(f"Pipeline: processed {processed} mention(s) ({time.perf_counter() - started:.1f}s).")
        with db.read() as session:
            flags = triage_service.counts_by_flag(session=session, workspace_id=load.workspace_id)
        console.print("Triage: " + ", ".join(f"{n} {flag}" for flag, n in flags.items())
                      + "  (curl …/mentions?flag=red to see the red ones with their reasons)")
        with db.write() as session:
            token = scenario.issue_demo_token(session=session, workspace_id=load.workspace_id)
            channel = channel_service.get_channel(session=session, workspace_id=load.workspace_id, slug=WEBHOOK_CHANNEL)
            secret = channel.webhook_secret or ""

    _print_guide(cfg, load, token=token, secret=secret)
    _print_people(people)
    # Piped output is block-buffered; whoever reads it (a script, a test) needs it before serving.
    sys.stdout.flush()
    if not no_serve:
        from firebreak.cli.main import serve  # main imports this module, so import at call time

        serve(host=cfg.host, port=cfg.port, worker=True)


def _print_people(people: tuple[scenario.DemoPerson, ...]) -> None:
    lines = ["", f"People (one per role; sign in at /sign-in with password {scenario.DEMO_PASSWORD}):"]
    for person in people:
        teams = ", ".join(f"{team}{' (lead)' if lead else ''}" for team, lead in person.teams) or "no team"
        lines.append(f"  {person.email:<20} {', '.join(person.roles):<15} {teams}")
    lines += [
        "",
        "Work the queue (ordered by SLA urgency) and one mention's assessment and clocks:",
        f"  firebreak work queue -w {scenario.WORKSPACE_SLUG}",
        f"  firebreak work show -w {scenario.WORKSPACE_SLUG} <mention id>",
    ]
    for line in lines:
        out.print(line, markup=False)


def _print_guide(cfg: Settings, load: scenario.DemoLoad, *, token: str, secret: str) -> None:
    base = cfg.base_url
    mentions_url = f"{base}/api/v1/workspaces/{scenario.WORKSPACE_SLUG}/mentions"
    channels = ", ".join(f"{slug} {count}" for slug, count in sorted(load.by_channel.items(), key=lambda kv: -kv[1]))
    body = '{"external_id": "demo-hello-1", "text": "Is the Latch fix out in Canada yet?"}'
    lines = [
        f"Workspace '{scenario.WORKSPACE_SLUG}' ({scenario.WORKSPACE_NAME}): {channels}",
        "",
        f"API token ({', '.join(scenario.TOKEN_SCOPES)}; earlier demo tokens are revoked):",
        f"  {token}",
        "",
        "Read the mentions:",
        f'  curl -sS -H "Authorization: Bearer {token}" "{mentions_url}?limit=5"',
        f'  curl -sS -H "Authorization: Bearer {token}" "{mentions_url}?channel=support-forum&q=battery"',
        "",
        f"Webhook for channel '{WEBHOOK_CHANNEL}' (HMAC-SHA256 of '<timestamp>.<body>'):",
        f"  URL:    {mentions_url}",
        f"  Secret: {secret}",
        f"  body='{body}'; ts=$(date +%s)",
        f"  sig=$(printf '%s.%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')",
        f"  curl -sS -X POST \"{mentions_url}\" -H 'Content-Type: application/json' "
        f"-H 'X-Firebreak-Channel: {WEBHOOK_CHANNEL}' -H \"X-Firebreak-Timestamp: $ts\" "
        '-H "X-Firebreak-Signature: sha256=$sig" -d "$body"',
        "",
        f"Open {base}/docs for the API reference.",
        "",
        f"The web app: {base}/sign-in, then {base}/w/{scenario.WORKSPACE_SLUG}/inbox (live), "
        f"/issues, /dashboard and /settings.",
    ]
    for line in lines:
        out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Attach the demo command to the main app."""
    app.command("demo")(demo)
