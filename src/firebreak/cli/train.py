"""`firebreak train`: train the sentiment, offensive and category text models."""

from __future__ import annotations

import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from firebreak.cli.common import clean_errors, console, out, settings
from firebreak.triage.ml.model import MODEL_NAMES, ModelName
from firebreak.triage.ml.train import default_data_dir, total_bytes, train


class Only(StrEnum):
    """The model `--only` may name."""

    sentiment = "sentiment"
    offensive = "offensive"
    category = "category"


def register(app: typer.Typer) -> None:
    """Add the `train` command to the CLI."""

    @app.command("train")
    @clean_errors
    def train_command(
        data_dir: Annotated[
            Path | None,
            typer.Option(
                "--data-dir",
                metavar="DIR",
                help="Training data (default: FIREBREAK_TRAINING_DATA, else ../shared/data beside the repository).",
            ),
        ] = None,
        examples: Annotated[
            list[Path] | None,
            typer.Option(
                "--examples",
                metavar="CSV",
                help="A labelled CSV (text,label) added to the category data; new labels become new categories.",
            ),
        ] = None,
        out_dir: Annotated[
            Path | None,
            typer.Option(
                "--out",
                metavar="DIR",
                help="Where to write the models (default: FIREBREAK_MODELS_DIR, else FIREBREAK_DATA_DIR/models).",
            ),
        ] = None,
        only: Annotated[Only | None, typer.Option("--only", help="Train just this model.")] = None,
    ) -> None:
        """Train the text models, print their validation scores and write them for `load_models`."""
        source = data_dir or default_data_dir()
        cfg = settings()
        target = out_dir or cfg.models_dir or cfg.data_dir / "models"
        command = shlex.join(["firebreak", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else "firebreak train"
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[model]:<10}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(model: str, step: str) -> None:
                for name, task in tasks.items():
                    if name != model and not progress.tasks[task].finished:
                        progress.update(task, completed=1)
                if model not in tasks:
                    tasks[model] = progress.add_task(step, total=1, model=model)
                progress.update(tasks[model], description=step, completed=1 if step == "done" else 0)

            manifest = train(
                data_dir=source,
                out=target,
                only=_as_model(only),
                examples=list(examples or []),
                command=command,
                progress=report,
            )
            for task in tasks.values():
                progress.update(task, completed=1)
        _print_summary(manifest, target, trained=[only.value] if only else list(MODEL_NAMES))


def _as_model(value: Only | None) -> ModelName | None:
    for name in MODEL_NAMES:
        if value is not None and value.value == name:
            return name
    return None


def _print_summary(manifest: dict[str, object], target: Path, *, trained: list[str]) -> None:
    models = manifest["models"]
    assert isinstance(models, dict)
    out.print(f"Text models {manifest['version']}")
    for name in MODEL_NAMES:
        entry = models[name]
        val_name, scores = next(iter(entry["val"].items()))
        metric = entry["main_metric"]
        kept = "" if name in trained else "  (kept from before)"
        out.print(
            f"  {name:<10} {metric} {scores[metric]:.4f}  accuracy {scores['accuracy']:.4f}  on {val_name}"
            f"  ({entry['train_rows']:,} training rows, {len(entry['classes'])} classes,"
            f" {entry['bytes'] / 1e6:.2f} MB){kept}"
        )
    out.print(
        f"Wrote {target} ({total_bytes(target, manifest) / 1e6:.2f} MB) in {manifest['training_seconds']}s; "
        f"`load_models(Path({str(target)!r}))` reads it."
    )
