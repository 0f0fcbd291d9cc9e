"""Data commands: ingest mention files and export mentions."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from firebreak.channels import service as channel_service
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import ensure_utc
from firebreak.core.errors import ImportRowError, InvalidInput
from firebreak.core.types import ChannelKind, Direction, ProcessingState
from firebreak.importers import export as exporter
from firebreak.importers.export import ExportFormat
from firebreak.importers.formats import ImportFormat, read_mentions
from firebreak.importers.store import DEFAULT_BATCH_SIZE, check_channels, create_channels, paused_gc, store_batches
from firebreak.mentions.service import MentionFilter
from firebreak.workspaces import service as workspace_service

ACTOR = "cli"
SHOW_SKIPPED = 20


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@clean_errors
def ingest(
    file: Annotated[Path, typer.Argument(help="The file to import.", exists=True, dir_okay=False, readable=True)],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")],
    channel: Annotated[
        str | None, typer.Option(help="Channel for rows that name none (airline and twcs rows never do).")
    ] = None,
    create_channel: Annotated[
        bool, typer.Option("--create-channel", help="Create missing channels (--channel and any a row names).")
    ] = False,
    kind: Annotated[ChannelKind, typer.Option(help="Kind of channels that --create-channel creates.")] = ChannelKind.X,
    fmt: Annotated[ImportFormat, typer.Option("--format", help="File format; auto looks at name and header.")] = (
        ImportFormat.AUTO
    ),
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Mentions per committed batch.")] = (
        DEFAULT_BATCH_SIZE
    ),
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Import the good rows and list the bad ones instead of stopping.")
    ] = False,
) -> None:
    """Import mentions from a JSONL or CSV file; every row is checked before anything is stored."""
    cfg = settings()
    started = time.perf_counter()
    data = file.read_bytes()
    with database() as db:
        with db.read() as session:
            ws = workspace_service.get_workspace(session=session, slug=workspace)
            known = set(channel_service.channels_by_slug(session=session, workspace_id=ws.id))
        with _progress() as progress, paused_gc():
            reading = progress.add_task("reading", total=data.count(b"\n") + 1, unit="lines")
            parsed = read_mentions(
                data,
                path=str(file),
                fmt=fmt,
                max_text_chars=cfg.max_text_chars,
                skip_bad_rows=skip_bad_rows,
                progress=lambda n: progress.advance(reading, n),
            )
            to_create = check_channels(
                parsed,
                known=known,
                default_slug=channel,
                create_missing=create_channel,
                skip_bad_rows=skip_bad_rows,
            )
            if to_create:
                with db.write() as session:
                    create_channels(session=session, workspace_id=ws.id, slugs=to_create, kind=kind.value, actor=ACTOR)
                console.print(f"Created channel(s) {', '.join(sorted(to_create))} ({kind.value}).", soft_wrap=True)
            storing = progress.add_task("storing", total=len(parsed.items), unit="mentions")
            committed = [0]

            def on_commit(count: int, _result: object) -> None:
                committed[0] += count
                progress.advance(storing, count)

            try:
                result = store_batches(
                    db=db,
                    workspace_id=ws.id,
                    parsed=parsed,
                    default_slug=channel,
                    batch_size=batch_size,
                    on_commit=on_commit,
                )
            except Exception:
                # Committed batches stay; say how far it got and that a rerun only adds the rest.
                console.print(
                    f"[red]stopped after storing {committed[0]:,} of {len(parsed.items):,} mentions[/red]; "
                    "running the same import again is safe (stored rows count as duplicates)",
                    soft_wrap=True,
                )
                raise
    elapsed = time.perf_counter() - started
    _report_skipped(parsed.skipped)
    rate = parsed.rows_read / elapsed if elapsed > 0 else 0.0
    out.print(
        f"{escape(file.name)} ({parsed.format}): read {parsed.rows_read:,}, created {result.created:,}, "
        f"duplicates {result.duplicates:,}, skipped {len(parsed.skipped):,} "
        f"in {elapsed:.1f}s ({rate:,.0f} rows/s)"
    )


def _report_skipped(skipped: list[ImportRowError]) -> None:
    # Channel checks run after parsing, so put the list back in file order.
    skipped = sorted(skipped, key=lambda error: error.line)
    for error in skipped[:SHOW_SKIPPED]:
        console.print(f"[yellow]skipped[/yellow] {escape(str(error))}", soft_wrap=True)
    if len(skipped) > SHOW_SKIPPED:
        console.print(f"... and {len(skipped) - SHOW_SKIPPED:,} more skipped row(s)", soft_wrap=True)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 date or date and time", field=option) from None


@clean_errors
def export(
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl (every field) or csv (no raw).")] = (
        ExportFormat.JSONL
    ),
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write; default standard output.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel (slug).")] = None,
    state: Annotated[ProcessingState | None, typer.Option(help="Only mentions in this pipeline state.")] = None,
    direction: Annotated[Direction | None, typer.Option(help="Only inbound or outbound mentions.")] = None,
    since: Annotated[str | None, typer.Option(help="Only mentions received at or after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Only mentions received before this ISO time.")] = None,
    q: Annotated[str | None, typer.Option("--q", help="Only mentions whose text matches these words.")] = None,
) -> None:
    """Export mentions in the documented schema, streamed page by page."""
    filters = MentionFilter(
        channel=channel,
        state=state.value if state else None,
        direction=direction.value if direction else None,
        since=_parse_time(since, "since"),
        until=_parse_time(until, "until"),
        q=q,
    )
    write = exporter.WRITERS[fmt]
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        if channel:
            channel_service.get_channel(session=session, workspace_id=ws.id, slug=channel)
        records = exporter.iter_records(session=session, workspace_id=ws.id, filters=filters)
        if out_file is None:
            count = write(records, sys.stdout)
            sys.stdout.flush()
        else:
            # Write beside the target and rename at the end, so a failed export leaves no half file.
            partial = out_file.with_name(out_file.name + ".part")
            try:
                with partial.open("w", encoding="utf-8", newline="") as target:
                    count = write(records, target)
                partial.replace(out_file)
            finally:
                partial.unlink(missing_ok=True)
    console.print(f"Exported {count:,} mention(s){f' to {escape(str(out_file))}' if out_file else ''}.", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Attach the data commands to the main app."""
    app.command("ingest")(ingest)
    app.command("export")(export)
