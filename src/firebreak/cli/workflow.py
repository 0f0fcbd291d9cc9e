"""Workflow commands: work a queue, see why a mention got its action, assign it, move it along, check
an offer against authority limits; fire due SLA events and send due alerts by hand.

Changes act as `--as EMAIL`, checked against that person's roles and the playbook's permissions. Without
`--as` the local operator acts as `cli` with the admin role: shell access to the server is admin access.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts_service
from firebreak.cli.common import clean_errors, console, database, out, settings
from firebreak.core.clock import utcnow
from firebreak.core.durations import format_duration
from firebreak.core.errors import Forbidden, InvalidInput, Unauthorized
from firebreak.mentions.models import Mention
from firebreak.notify.models import ALERT_STATES, Alert
from firebreak.routing import Offer, check_authority
from firebreak.routing.authority import OfferKind
from firebreak.services import Services
from firebreak.triage import service as triage_service
from firebreak.workflow import actions
from firebreak.workflow.actions import Actor
from firebreak.workflow.clocks import WARNING
from firebreak.workflow.models import OPEN_STATES, SlaClock
from firebreak.workflow.queries import QueueFilter, list_queue, work_detail
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import Workspace

work_app = typer.Typer(
    help="Work the queues: list by SLA urgency, show a mention's assessment and clocks, assign, change state.",
    no_args_is_help=True,
)
sla_app = typer.Typer(help="SLA clocks: fire due warnings, breaches and escalations now.", no_args_is_help=True)
alerts_app = typer.Typer(help="The alert outbox: list alerts and send the due ones now.", no_args_is_help=True)

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]
MentionArg = Annotated[int, typer.Argument(help="The mention id (first column of `firebreak work queue`).")]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this user, with their roles in the workspace. Without it you act as `cli` with the admin "
        "role, since shell access to the server is admin access.",
    ),
]
ReasonOpt = Annotated[str | None, typer.Option(help="Why, for the audit trail.")]
# Shell access to the server is admin access: the operator could edit the database directly.
OPERATOR = Actor("cli", frozenset({"admin"}))
FLAG_STYLE = {"red": "bold red", "yellow": "yellow", "green": "green"}
ALERT_STYLE = {"sent": "green", "failed": "bold red", "suppressed": "dim"}
MIN_LAST_COLUMN = 20
Cell = tuple[str, str | None]  # a table cell: its plain text and the rich style to show it in


def acting(session: Session, workspace_id: int, email: str | None) -> Actor:
    """The person a command acts as: `--as EMAIL` with their roles, else the local operator as admin."""
    if email is None:
        return OPERATOR
    user = accounts_service.get_user(session=session, email=email)
    if not user.active:
        raise Unauthorized(f"{user.email} is deactivated and cannot act")
    actor = Actor.for_user(session, workspace_id, user)
    if not actor.roles:
        raise Forbidden(f"{user.email} is not a member of this workspace")
    return actor


def _runtime(session: Session, workspace_id: int) -> WorkflowRuntime:
    return Services(settings()).workflow(session, workspace_id)


@work_app.command("queue")
@clean_errors
def work_queue(
    workspace: WorkspaceOpt,
    queue: Annotated[str | None, typer.Option(help="Only this queue (a queue id of the playbook).")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only work assigned to the --as user.")] = False,
    unassigned: Annotated[bool, typer.Option("--unassigned", help="Only work nobody has taken.")] = False,
    state: Annotated[
        list[str] | None, typer.Option(help="new, assigned, responded, waiting, resolved or closed; repeat. "
                                            "Default: the open states.")
    ] = None,
    flag: Annotated[str | None, typer.Option(help="Only red, yellow or green.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Most rows shown.")] = 50,
    as_user: AsOpt = None,
) -> None:
    """List work by SLA urgency: overdue first, then the nearest deadline, with flag, action and assignee."""
    if mine and as_user is None:
        raise typer.BadParameter("--mine needs --as EMAIL: whose work is 'mine'?")
    if mine and unassigned:
        raise typer.BadParameter("--mine and --unassigned exclude each other")
    if flag is not None and flag not in FLAG_STYLE:
        raise InvalidInput(f"unknown flag {flag!r}; flags are red, yellow, green", field="flag")
    now = utcnow()
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        actor = acting(session, ws.id, as_user)
        if queue is not None:
            queues = _runtime(session, ws.id).queues
            if queue not in queues:
                raise InvalidInput(f"unknown queue {queue!r}; queues are {', '.join(queues)}", field="queue")
        where = QueueFilter(queue=queue, assignee_id=actor.user_id if mine else None, unassigned=unassigned,
                            states=tuple(state) if state else OPEN_STATES, flag=flag)
        rows = list_queue(session, workspace_id=ws.id, where=where, limit=limit, now=now)
    if not rows:
        out.print("No work matches.")
        return
    print_columns(
        ("id", "SLA", "flag", "state", "queue", "priority", "action", "assignee", "text"),
        [[(str(row["mention_id"]), None), _countdown(row["sla_seconds_left"], row["state"]), _flag(row["flag"]),
          (row["state"], None), (row["queue"], None), (row["priority"], None), (row["action"], None),
          (row["assignee"] or "-", None), (" ".join(row["text"].split()), None)] for row in rows],
    )
    overdue = sum(1 for row in rows if row["overdue"])
    console.print(f"{len(rows)} item(s){', ' + str(overdue) + ' overdue' if overdue else ''}"
                  f"{' (limit reached)' if len(rows) == limit else ''}.")


def _countdown(seconds_left: float | None, state: str) -> Cell:
    if seconds_left is None:
        return ("paused" if state == "waiting" else "-"), None
    if seconds_left <= 0:
        return f"OVERDUE {format_duration(-seconds_left)}", "bold red"
    return f"{format_duration(seconds_left)} left", None


def _flag(flag: str | None) -> Cell:
    if flag is None or flag not in FLAG_STYLE:
        return "-", None
    return flag, FLAG_STYLE[flag]


def _styled(cell: Cell) -> str:
    text, style = cell
    return f"[{style}]{escape(text)}[/{style}]" if style else escape(text)


def print_columns(headers: Sequence[str], rows: Sequence[Sequence[Cell]], *, indent: str = "") -> None:
    """Print columns padded to their widest cell; the last one gets the rest of the line, cut with '…'.

    Plain padded lines rather than a rich Table, which squeezes every column unreadable at 80 columns.
    """
    widths = [max([len(header), *(len(row[i][0]) for row in rows)]) for i, header in enumerate(headers[:-1])]
    room = max(out.width - len(indent) - sum(widths) - 2 * len(widths), MIN_LAST_COLUMN)
    out.print(indent + "[bold]" + escape("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
                                       + "  " + headers[-1]) + "[/bold]")
    for row in rows:
        cells = [(text.ljust(width), style) for (text, style), width in zip(row, widths, strict=False)]
        last, style = row[-1]
        cells.append((last if len(last) <= room else last[: room - 1] + "…", style))
        out.print(indent + "  ".join(_styled(cell) for cell in cells))


@work_app.command("show")
@clean_errors
def work_show(workspace: WorkspaceOpt, mention_id: MentionArg) -> None:
    """Show one mention's assessment path, considerations, next step, SLA clocks and audit trail.

    The path lists each question of the assessment tree and the answer that held; each clock shows its
    business time used and left; the audit trail shows every change with who and why.
    """
    now = utcnow()
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        detail = work_detail(session, runtime=_runtime(session, ws.id), workspace_id=ws.id, mention_id=mention_id,
                             now=now)
        text, url = session.execute(select(Mention.text, Mention.url).where(
            Mention.workspace_id == ws.id, Mention.id == mention_id)).one()
        verdict = triage_service.verdicts(session=session, workspace_id=ws.id, mention_ids=[mention_id]).get(mention_id)
    out.print(f"[bold]Mention {mention_id}[/bold] · {detail['state']} · queue {detail['queue']} (team "
              f"{detail['team']}, rule {detail['route_rule']}) · priority {detail['priority']} · "
              f"assignee {detail['assignee'] or 'nobody'} · revision {detail['revision']}")
    out.print(f"  {escape(text)}")
    if url:
        out.print(f"  {escape(url)}")
    if verdict is not None:
        out.print(f"Triage: {_styled(_flag(verdict.flag))} {verdict.category} ({verdict.sentiment})"
                  + "".join(f"; {escape(r['label'])}" for r in verdict.reasons or [] if r.get("kind") != "dropped"))
    _print_assessment(detail)
    _print_clocks(detail["clocks"])
    _print_times(detail)
    out.print("[bold]Audit trail[/bold]")
    for entry in detail["audit"]:
        out.print(f"  {_when(entry['at'])}  {escape(entry['actor'])}  {escape(_describe(entry))}")
    if not detail["audit"]:
        out.print("  (no changes yet)")


def _print_assessment(detail: dict[str, Any]) -> None:
    assessment = detail["assessment"] or {}
    reply = "a reply is due" if detail["needs_response"] else "no reply due"
    out.print(f"[bold]Recommended action: {detail['recommended_action']}[/bold] "
              f"(outcome {detail['outcome']}: {escape(assessment.get('label', ''))}; {reply})")
    for number, step in enumerate(assessment.get("path", []), start=1):
        out.print(f"  {number}. {escape(step['question'])} → {escape(step['answer'])}")
    for name, advice in (assessment.get("considerations") or {}).items():
        out.print(f"  {name}: {escape(advice)}")
    if assessment.get("next_step"):
        out.print(f"  next step: {escape(assessment['next_step'])}")
    out.print(f"  playbook {detail['playbook_version']}, SLA policy {detail['sla_policy'] or 'none'}")


def _print_clocks(clocks: list[dict[str, Any]]) -> None:
    out.print("[bold]SLA clocks[/bold]")
    if not clocks:
        out.print("  none (no reply is due, so no clock runs)")
        return
    rows = []
    for clock in clocks:
        counting = clock["state"] in ("running", "paused")
        left = clock["remaining_seconds"] if counting else None
        rows.append([
            (clock["metric"], None), (clock["policy"], None), (clock["calendar"], None),
            (clock["state"] + (" breached" if clock["breached"] else ""), "bold red" if clock["breached"] else None),
            (format_duration(clock["target_seconds"]), None),
            (format_duration(clock["used_seconds"]) if clock["used_seconds"] is not None else "?", None),
            ("-", None) if left is None else _countdown(left, clock["state"]),
            (f"{clock['due_at']:%Y-%m-%d %H:%M}" if clock["state"] == "running" else "-", None),
        ])
    print_columns(("metric", "policy", "calendar", "state", "target", "used", "left", "due (UTC)"), rows,
                   indent="  ")


def _print_times(detail: dict[str, Any]) -> None:
    parts = [f"opened {_when(detail['opened_at'])}"]
    if detail["first_response_seconds"] is not None:
        parts.append(f"first response after {format_duration(detail['first_response_seconds'])}")
    if detail["resolution_seconds"] is not None:
        parts.append(f"resolved after {format_duration(detail['resolution_seconds'])}")
    if detail["waiting_since"] is not None:
        parts.append(f"waiting on the customer since {_when(detail['waiting_since'])}")
    out.print("  " + "; ".join(parts))


def _describe(entry: dict[str, Any]) -> str:
    """One audit entry in words: 'assigned to ana@…: she speaks Spanish'."""
    details = entry["details"] or {}
    reason = f": {details['reason']}" if details.get("reason") else ""
    if entry["action"] == "work.assigned":
        target = details.get("to_email")
        return (f"assigned to {target}" if target else "put back in the queue") + reason
    if entry["action"] == "work.state_changed":
        return f"{details.get('from')} → {details.get('to')}{reason}"
    if entry["action"] == "work.opened":
        return (f"opened in queue {details.get('queue')} by rule {details.get('rule')}, action "
                f"{details.get('action')}, SLA policy {details.get('sla_policy') or 'none'}"
                + (", assigned automatically" if details.get("assignee_id") else ""))
    shown = ", ".join(f"{key} {value}" for key, value in details.items() if value is not None)
    return f"{entry['action']}{' (' + shown + ')' if shown else ''}"


@work_app.command("assign")
@clean_errors
def work_assign(
    workspace: WorkspaceOpt,
    mention_id: MentionArg,
    assignee: Annotated[str | None, typer.Argument(help="E-mail of the member who takes it.")] = None,
    unassign: Annotated[bool, typer.Option("--unassign", help="Put it back in the queue instead.")] = False,
    reason: ReasonOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Give a mention to a member who may work its queue, or put it back with --unassign."""
    if (assignee is None) == (not unassign):
        raise typer.BadParameter("give the assignee's e-mail or --unassign")
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        item = actions.assign(session, runtime=_runtime(session, ws.id), workspace_id=ws.id, mention_id=mention_id,
                              assignee_email=assignee, actor=acting(session, ws.id, as_user), reason=reason,
                              now=utcnow())
        state = item.state
    who = f"assigned to {assignee.strip().lower()}" if assignee else "back in its queue, unassigned"
    out.print(f"Mention {mention_id} is {who} (state {state}).")


@work_app.command("state")
@clean_errors
def work_state(
    workspace: WorkspaceOpt,
    mention_id: MentionArg,
    to_state: Annotated[str, typer.Argument(metavar="STATE", help="responded, waiting, resolved, closed or "
                                                                   "assigned (reopen / customer replied).")],
    reason: ReasonOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Move a mention to another state: responded, waiting, resolved, closed, or back to assigned.

    The states run new → assigned → responded → waiting → resolved / closed. The SLA clocks follow:
    waiting pauses them, responding meets the response clock, resolving meets them all.
    """
    with database() as db, db.write() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        before = actions.get_item(session, ws.id, mention_id).state
        item = actions.change_state(session, runtime=_runtime(session, ws.id), workspace_id=ws.id,
                                    mention_id=mention_id, to_state=to_state, actor=acting(session, ws.id, as_user),
                                    reason=reason, now=utcnow())
        after = item.state
    out.print(f"Mention {mention_id}: {before} → {after}.")


@work_app.command("authority")
@clean_errors
def work_authority(
    workspace: WorkspaceOpt,
    offer: Annotated[str, typer.Argument(metavar="OFFER", help="refund, goodwill_credit, replacement, "
                                                                "public_apology, delete_post or hide_post.")],
    amount: Annotated[float | None, typer.Argument(help="The amount, for a refund or goodwill credit.")] = None,
    as_user: AsOpt = None,
) -> None:
    """Check whether someone may make an offer on their own, e.g. `refund 80`.

    Exit 0 when they may; exit 1 when it needs approval, naming the roles that could approve it.
    """
    wanted = Offer(cast(OfferKind, offer), amount)
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        actor = acting(session, ws.id, as_user)
        decision = check_authority(_runtime(session, ws.id).roles, actor.roles, wanted)
    if decision.allowed:
        out.print(f"[green]allowed[/green]: {actor.name} may offer this: {decision.reason}.")
        return
    ask = f"; ask someone with the role {' or '.join(decision.approvers)}" if decision.approvers else ""
    out.print(f"[red]needs approval[/red]: {decision.reason}{ask}.")
    raise typer.Exit(1)


@sla_app.command("tick")
@clean_errors
def sla_tick() -> None:
    """Fire every due SLA warning, breach and escalation now and print what fired.

    The worker in `firebreak serve` does this continuously; each event fires exactly once either way.
    """
    with database() as db:
        report = Services(settings()).scheduler().tick(db)
        fired_ids = [clock_id for clock_id, _ in report.fired]
        with db.read() as session:
            clocks = {row.id: row for row in session.execute(
                select(SlaClock.id, SlaClock.mention_id, SlaClock.metric, SlaClock.policy, Workspace.slug)
                .join(Workspace, Workspace.id == SlaClock.workspace_id).where(SlaClock.id.in_(fired_ids)))}
    if report.fired:
        print_columns(("workspace", "mention", "metric", "policy", "event"), [
            [(clocks[clock_id].slug, None), (str(clocks[clock_id].mention_id), None),
             (clocks[clock_id].metric, None), (clocks[clock_id].policy, None),
             (event, "yellow" if event == WARNING else "bold red")]
            for clock_id, event in report.fired])
    out.print(f"Fired {len(report.fired)} event(s), queued {report.alerts} alert(s).")
    if report.next_due is not None:
        out.print(f"Next event due {_when(report.next_due)}.")


@alerts_app.command("list")
@clean_errors
def alerts_list(
    workspace: WorkspaceOpt,
    state: Annotated[str | None, typer.Option(help="pending, sending, sent, failed or suppressed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most rows shown, newest first.")] = 50,
) -> None:
    """List a workspace's alerts, newest first, with where they went and why any failed."""
    if state is not None and state not in ALERT_STATES:
        raise InvalidInput(f"unknown alert state {state!r}; states are {', '.join(ALERT_STATES)}", field="state")
    with database() as db, db.read() as session:
        ws = workspace_service.get_workspace(session=session, slug=workspace)
        stmt = select(Alert).where(Alert.workspace_id == ws.id).order_by(Alert.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(Alert.state == state)
        alerts = list(session.scalars(stmt))
    if not alerts:
        out.print("No alerts.")
        return
    rows = []
    for alert in alerts:
        when = alert.sent_at or (alert.next_attempt_at if alert.state == "pending" else None)
        rows.append([(str(alert.id), None), (f"{alert.created_at:%m-%d %H:%M:%S}", None), (alert.kind, None),
                     (alert.target, None), (str(alert.mention_id or "-"), None),
                     (alert.state, ALERT_STYLE.get(alert.state)), (str(alert.attempts), None),
                     (f"{when:%m-%d %H:%M:%S}" if when else "-", None), (alert.subject, None)])
    print_columns(("id", "created", "kind", "target", "mention", "state", "tries", "sent/next", "subject"), rows)
    for alert in alerts:
        if alert.last_error:
            out.print(f"  alert {alert.id}: [red]{escape(alert.last_error)}[/red]")
    console.print("Times are UTC.")


@alerts_app.command("send")
@clean_errors
def alerts_send() -> None:
    """Send every due alert now (the worker in `firebreak serve` does this continuously)."""
    totals: dict[str, int] = dict.fromkeys(("messages", "sent", "retrying", "failed", "deferred", "suppressed"), 0)
    errors: list[str] = []
    with database() as db:
        dispatcher = Services(settings()).dispatcher(db)
        while True:
            # Every alert a round handles leaves the due set (sent, failed, or retried / deferred later),
            # so this ends once the outbox has nothing due.
            report = dispatcher.deliver_due(db)
            for name in totals:
                totals[name] += getattr(report, name)
            errors.extend(report.errors)
            if not (report.sent + report.retrying + report.failed + report.deferred + report.suppressed):
                break
    out.print(f"Sent {totals['sent']} alert(s) in {totals['messages']} message(s); {totals['retrying']} to retry, "
              f"{totals['failed']} failed for good, {totals['deferred']} held by a rate limit, "
              f"{totals['suppressed']} suppressed.")
    for error in errors:
        console.print(f"[red]error:[/red] {escape(error)}", soft_wrap=True)
    if errors:
        raise typer.Exit(1)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


def register(app: typer.Typer) -> None:
    """Attach the workflow commands to the main app: `work`, `sla` and `alerts`."""
    app.add_typer(work_app, name="work")
    app.add_typer(sla_app, name="sla")
    app.add_typer(alerts_app, name="alerts")
