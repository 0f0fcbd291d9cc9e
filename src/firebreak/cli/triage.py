"""Triage commands: triage a file, re-triage history, evaluate on labelled data."""

from __future__ import annotations

import csv
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress
from rich.table import Table

from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import ensure_utc, utcnow
from firebreak.core.errors import ImportRowError, InvalidInput
from firebreak.triage import service as triage_service
from firebreak.triage.assess import Triager
from firebreak.triage.evaluate import evaluate
from firebreak.triage.factory import build_triager
from firebreak.triage.inputs import read_posts
from firebreak.triage.result import FLAG_SEVERITY, PostInput
from firebreak.workspaces import service as workspace_service

BATCH = 512


def _triager(playbook: Path | None = None) -> Triager:
    return build_triager(settings(), playbook=playbook)


@clean_errors
def triage_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Posts: .txt (one per line), .csv or .jsonl")
    ],
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write JSONL here instead of stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, txt, csv or jsonl.")] = "auto",
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML (default: the one in force).")] = None,
) -> None:
    """Triage every post of a file and write one JSON object per post, in input order."""
    triager = _triager(playbook)
    sink = out_file.open("wb") if out_file else sys.stdout.buffer
    started, count = time.perf_counter(), 0
    try:
        batch: list[tuple[int, PostInput, dict]] = []  # type: ignore[type-arg]

        def flush() -> None:
            results = triager.triage([post for _, post, _ in batch])
            for (line, _, record), result in zip(batch, results, strict=True):
                row = {"line": line, "text": record.get("text"), **result.to_dict()}
                if "id" in record:
                    row["id"] = record["id"]
                sink.write(orjson.dumps(row) + b"\n")
            batch.clear()

        for item in read_posts(file, fmt):
            batch.append(item)
            count += 1
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    finally:
        if out_file:
            sink.close()
    elapsed = time.perf_counter() - started
    console.print(
        f"Triaged {count} post(s) in {elapsed:.2f}s ({count / elapsed if elapsed else 0:,.0f}/s) "
        f"with playbook {triager.playbook_version}, models {triager.model_version}."
    )


@clean_errors
def retriage(
    since: Annotated[str | None, typer.Option(help="Only mentions received since this ISO date/time.")] = None,
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
) -> None:
    """Triage stored mentions again with the playbook and models in force now (after a retrain)."""
    try:
        since_at = ensure_utc(datetime.fromisoformat(since)) if since else None
    except ValueError:
        raise InvalidInput(f"--since {since!r} is not an ISO date or date-time", field="since") from None
    triager = _triager()
    total = 0
    with database() as db:
        with db.read() as session:
            ws_id = workspace_service.get_workspace(session=session, slug=workspace).id if workspace else None
        with db.read() as reader, Progress(console=console, transient=True) as progress:
            task = progress.add_task("re-triaging", total=None)
            for batch in triage_service.mentions_to_retriage(
                session=reader, since=since_at, workspace_id=ws_id, batch_size=batch_size
            ):
                now = utcnow()
                results = triage_service.compute_triage(session=reader, triager=triager, mentions=batch, now=now)
                rows = [triage_service.result_row(mention=m, result=r, triager=triager, now=now)
                        for m, r in zip(batch, results, strict=True)]
                with db.write() as session:
                    triage_service.store_rows(session=session, rows=rows)
                total += len(batch)
                progress.update(task, advance=len(batch))
    out.print(
        f"Re-triaged {total} mention(s) with playbook {triager.playbook_version}, models {triager.model_version}."
    )


@clean_errors
def eval_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with text,label (category or flag).")],
    show: Annotated[int, typer.Option(help="How many misclassified examples to print.")] = 25,
    playbook: Annotated[Path | None, typer.Option(help="Playbook YAML (default: the one in force).")] = None,
) -> None:
    """Score triage on labelled texts: per-class precision/recall/F1, confusion matrix, mistakes."""
    triager = _triager(playbook)
    texts, labels = [], []
    with file.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise ImportRowError(f"needs columns text,label; header is {reader.fieldnames}", path=str(file), line=1)
        for record in reader:
            if not (record.get("text") or "").strip() or not (record.get("label") or "").strip():
                raise ImportRowError("empty text or label", path=str(file), line=reader.line_num)
            texts.append(record["text"])
            labels.append(record["label"].strip())
    if not texts:
        raise InvalidInput(f"{file} has no rows", field="file")
    results = []
    for start in range(0, len(texts), BATCH):
        results.extend(triager.triage([PostInput(text=t) for t in texts[start : start + BATCH]]))
    flag_labels = all(label in FLAG_SEVERITY for label in labels)
    predicted = [r.flag if flag_labels else r.category for r in results]
    _print_evaluation("flag" if flag_labels else "category", labels, predicted)
    if not flag_labels:
        flags = {c.id: c.flag for c in triager.guide.categories}
        expected_flags = [flags.get(label, "?") for label in labels]
        _print_evaluation(
            "flag (from category)", expected_flags, [r.flag for r in results], matrix_only=False, wrong=False
        )
    report = evaluate(labels, predicted)
    if report.wrong and show:
        table = Table("line", "expected", "got", "why", "text", title="Misclassified", show_lines=False)
        for index in report.wrong[:show]:
            table.add_row(
                str(index + 2), labels[index], predicted[index], results[index].explain()[:70], texts[index][:90]
            )
        out.print(table)
        if len(report.wrong) > show:
            out.print(f"… and {len(report.wrong) - show} more.")


def _print_evaluation(
    what: str, expected: list[str], predicted: list[str], *, matrix_only: bool = False, wrong: bool = True
) -> None:
    report = evaluate(expected, predicted)
    table = Table("label", "precision", "recall", "F1", "support", title=f"By {what}")
    for score in report.scores:
        table.add_row(
            score.label, f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}", str(score.support)
        )
    out.print(table)
    out.print(f"accuracy {report.accuracy:.3f}   macro-F1 {report.macro_f1:.3f}   n={len(expected)}")
    labels = report.labels
    short = {label: label[:6] for label in labels}
    matrix = Table("expected \\ got", *[short[label] for label in labels], title=f"Confusion ({what})")
    for row in labels:
        matrix.add_row(row, *[str(report.confusion.get((row, col), "") or "·") for col in labels])
    out.print(matrix)


def register(app: typer.Typer) -> None:
    """Attach the triage commands to the main app."""
    app.command("triage")(triage_file)
    app.command("retriage")(retriage)
    app.command("eval")(eval_command)
