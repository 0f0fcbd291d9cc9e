"""Playbook commands: check a file and run its examples, put a version in force, see history, roll back.

A workspace runs the deployment's playbook (FIREBREAK_PLAYBOOK_PATH or the shipped default) until a
version is applied to it; every applied version is kept, so a rollback is one command.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts.models import TeamMember
from firebreak.assessment import AssessmentTree
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.cli.workflow import print_columns
from firebreak.core.clock import utcnow
from firebreak.mentions.models import Author, Mention
from firebreak.pipeline.stages.normalise import detect_language
from firebreak.playbook import service as playbook_service
from firebreak.playbook.loader import (
    DEFAULT_PLAYBOOK,
    DEFAULT_SOURCE,
    LoadedPlaybook,
    PlaybookError,
    load_playbook,
)
from firebreak.playbook.schema import Example
from firebreak.services import Services
from firebreak.triage import service as triage_service
from firebreak.triage.assess import Triager
from firebreak.triage.factory import build_triager
from firebreak.triage.result import PostInput, TriageResult
from firebreak.workflow.facts import BatchContext, mention_facts
from firebreak.workspaces import service as workspace_service

playbook_app = typer.Typer(
    help="Check a playbook, put it in force in a workspace, see its history and roll back.", no_args_is_help=True
)
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]
ACTOR = "cli"
_EXAMPLE_CHANNEL = 0
_EXAMPLE_AUTHOR = 1


@playbook_app.command("check")
@clean_errors
def playbook_check(
    file: Annotated[Path | None, typer.Argument(help="Playbook YAML; default: the one in force.")] = None,
) -> None:
    """Validate a playbook and run its embedded examples; exit 1 with a readable diff on failures.

    Examples that name an `action:` are also walked through the assessment tree, with the facts the
    pipeline would build from the example's text, channel kind and author.
    """
    loaded = load_playbook(file or settings().playbook_path)
    examples = loaded.playbook.examples
    out.print(
        f"{loaded.source}: valid ({len(loaded.playbook.risk.categories)} categories, "
        f"{len(examples)} examples, version {loaded.version})"
    )
    if not examples:
        return
    triager = build_triager(settings(), playbook=loaded)
    tree = AssessmentTree.from_spec(loaded.playbook.assessment)
    results = triager.triage([_post(example) for example in examples])
    failures = 0
    for index, (example, result) in enumerate(zip(examples, results, strict=True)):
        problems = []
        if example.flag and example.flag != result.flag:
            problems.append(f"flag: expected {example.flag}, got {result.flag}")
        if example.category and example.category != result.category:
            problems.append(f"category: expected {example.category}, got {result.category}")
        path = None
        if example.action is not None:
            assessment = tree.evaluate(_example_facts(example, result, triager))
            if assessment.action != example.action:
                problems.append(f"action: expected {example.action}, got {assessment.action} "
                                f"(outcome {assessment.outcome})")
                path = assessment.summary()
        if problems:
            failures += 1
            out.print(f"[red]✗[/red] examples[{index}] {escape(repr(example.text))}")
            for problem in problems:
                out.print(f"    - {escape(problem)}")
            out.print(f"    because: {escape(result.explain())}")
            if path:
                out.print(f"    path: {escape(path)}")
    assessed = sum(1 for example in examples if example.action is not None)
    out.print(f"{len(examples) - failures} of {len(examples)} examples pass"
              + (f" ({assessed} checked against the assessment tree)." if assessed else "."))
    if failures:
        raise typer.Exit(1)


def _post(example: Example) -> PostInput:
    return PostInput(
        text=example.text,
        channel_kind=example.channel_kind,
        author_handle=example.author.handle if example.author else None,
        author_followers=example.author.followers if example.author else None,
        author_tags=tuple(example.author.tags) if example.author else (),
    )


def _example_facts(example: Example, result: TriageResult, triager: Triager) -> dict[str, Any]:
    """The facts the pipeline would give the tree for this example, as a first post in a new thread.

    Built by the pipeline's own `mention_facts` from unsaved rows, so the names and meanings cannot drift.
    """
    author = None
    if example.author is not None:
        author = Author(id=_EXAMPLE_AUTHOR, network=example.channel_kind, handle=example.author.handle,
                        follower_count=example.author.followers, verified=False, tags=list(example.author.tags))
    mention = Mention(
        workspace_id=0, channel_id=_EXAMPLE_CHANNEL, author_id=author.id if author else None, direction="inbound",
        text=example.text, language=detect_language(example.text)[0], conversation_id=None,
        reply_to_external_id=None,
    )
    # Examples name a channel kind, not a channel, so `channel:` conditions never match them.
    context = BatchContext(channels={_EXAMPLE_CHANNEL: ("", example.channel_kind)},
                           authors={author.id: author} if author else {})
    verdict = triage_service.result_row(mention=mention, result=result, triager=triager, now=utcnow())
    return mention_facts(mention, verdict, context)


@playbook_app.command("apply")
@clean_errors
def playbook_apply(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Playbook YAML to put in force.")],
    workspace: WorkspaceOpt,
    comment: Annotated[str | None, typer.Option(help="Why this change, for the history.")] = None,
) -> None:
    """Validate a playbook and put it in force in a workspace.

    An invalid file is refused with every problem as file:line: field: message, exit code 1, and the
    version in force stays in force.
    """
    with database() as db:
        try:
            text = _read(file)
            with db.write() as session:
                ws = workspace_service.get_workspace(session=session, slug=workspace)
                version = playbook_service.apply_playbook(session=session, workspace_id=ws.id, text=text,
                                                          source=str(file), actor=ACTOR, comment=comment)
                version_id, label = version.id, version.version
        except PlaybookError as exc:
            console.print(f"[red]{escape(str(file))} is not valid; the playbook in force in {escape(workspace)} "
                          "is unchanged:[/red]", soft_wrap=True)
            for problem in exc.problems:
                console.print(f"  {escape(problem)}", soft_wrap=True)
            raise typer.Exit(1) from None
        with db.read() as session:
            empty = _teams_without_members(session, ws.id, Services(settings()).playbook(session, ws.id))
    out.print(f"Playbook {label} (version id {version_id}) is now in force in {workspace}.")
    for team in empty:
        console.print(f"Team {team} has no members yet: firebreak team join EMAIL -w {workspace} --team {team}")


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise PlaybookError([f"{file}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise PlaybookError([f"{file}: not UTF-8 text ({exc.reason})"]) from None


def _teams_without_members(session: Session, workspace_id: int, loaded: LoadedPlaybook) -> list[str]:
    staffed = set(session.scalars(select(TeamMember.team).where(TeamMember.workspace_id == workspace_id).distinct()))
    return [team.id for team in loaded.playbook.teams if team.id not in staffed]


@playbook_app.command("show")
@clean_errors
def playbook_show(
    workspace: WorkspaceOpt,
    yaml: Annotated[bool, typer.Option("--yaml", help="Print the YAML in force, e.g. to edit and apply it.")] = False,
) -> None:
    """Show which playbook is in force in a workspace: version, who applied it, when and why."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        active = next((v for v in playbook_service.history(session=session, workspace_id=ws.id) if v.active), None)
        loaded = Services(settings()).playbook(session, ws.id)
        if yaml:
            text = active.text if active else _source_text(loaded)
            typer.echo(text, nl=not text.endswith("\n"))
            return
        book = loaded.playbook
        if active is None:
            out.print(f"{workspace} runs the deployment's playbook {loaded.source} (version {loaded.version}); "
                      "no version has been applied to it.")
        else:
            out.print(f"{workspace} runs playbook version id {active.id}: {active.version}, applied "
                      f"{_when(active.created_at)} by {escape(active.created_by)} from {escape(active.source)}")
            if active.comment:
                out.print(f"  comment: {escape(active.comment)}")
        out.print(f"  {escape(book.playbook.name)}: {len(book.risk.categories)} categories, "
                  f"{len(book.assessment.nodes)} assessment questions, {len(book.assessment.outcomes)} outcomes, "
                  f"{len(book.teams)} teams, {len(book.queues)} queues, {len(book.routing.rules)} routing rules, "
                  f"{len(book.sla.policies)} SLA policies, {len(book.alerts.targets)} alert targets")


def _source_text(loaded: LoadedPlaybook) -> str:
    """The YAML of the deployment's playbook (the shipped default or FIREBREAK_PLAYBOOK_PATH)."""
    if loaded.source == DEFAULT_SOURCE:
        return resources.files("firebreak.playbook.defaults").joinpath(DEFAULT_PLAYBOOK).read_text("utf-8")
    return Path(loaded.source).read_text("utf-8")


@playbook_app.command("history")
@clean_errors
def playbook_history(workspace: WorkspaceOpt) -> None:
    """List every playbook version applied to a workspace, newest first, marking the one in force."""
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        versions = playbook_service.history(session=session, workspace_id=ws.id)
    if not versions:
        out.print(f"No playbook has been applied to {workspace}; it runs the deployment's playbook.")
        return
    print_columns(("id", "in force", "version", "applied (UTC)", "by", "source", "comment"), [
        [(str(v.id), None), ("yes" if v.active else "", "bold green"), (v.version, None),
         (f"{v.created_at:%Y-%m-%d %H:%M}", None), (v.created_by, None), (v.source, None), (v.comment or "", None)]
        for v in versions])


@playbook_app.command("rollback")
@clean_errors
def playbook_rollback(
    workspace: WorkspaceOpt,
    version_id: Annotated[int, typer.Argument(help="The id from `firebreak playbook history`.")],
) -> None:
    """Put an earlier playbook version back in force (it is validated again first)."""
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        version = playbook_service.activate_version(session=session, workspace_id=ws.id, version_id=version_id,
                                                    actor=ACTOR)
        label = version.version
    out.print(f"Playbook version id {version_id} ({label}) is back in force in {workspace}.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def register(app: typer.Typer) -> None:
    """Attach the playbook commands to the main app."""
    app.add_typer(playbook_app, name="playbook")
