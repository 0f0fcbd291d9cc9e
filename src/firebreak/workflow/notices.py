"""The words of workflow alerts: red flags, "also notify" routing notices, SLA warnings and breaches.

Every alert says what happened, why (the triage reasons), what to do (the recommended action and next
step) and where to look (a link), because the person paged at 3 a.m. must be able to act on the
message alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from firebreak.core.durations import format_duration
from firebreak.mentions.models import Mention
from firebreak.notify.outbox import AlertDraft

if TYPE_CHECKING:
    from firebreak.assessment import Assessment
    from firebreak.routing import RouteDecision
    from firebreak.workflow.intake import Plan
    from firebreak.workflow.runtime import WorkflowRuntime

PERSON_PREFIX = "email:"
EXCERPT = 280


def person_target(email: str) -> str:
    """The alert target that e-mails one person (through FIREBREAK_ALERT_EMAIL_URL)."""
    return f"{PERSON_PREFIX}{email}"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def _reasons(verdict: dict[str, Any]) -> list[str]:
    return [r["label"] for r in verdict.get("reasons", []) if r.get("kind") != "dropped" and r.get("label")][:6]


def red_flag_alerts(
    runtime: WorkflowRuntime, mention: Mention, verdict: dict[str, Any], assessment: Assessment,
    route: RouteDecision, plan: Plan, *, link: str,
) -> list[AlertDraft]:
    """Alerts for a red mention to the playbook's red-flag targets; none for other flags."""
    if verdict["flag"] != "red":
        return []
    targets = runtime.alerts.targets_for("red_flag")
    if not targets:
        return []
    due = min((c["due_at"] for c in plan.clocks if c["metric"] != "resolution"), default=None)
    subject = f"RED {verdict['category'].replace('_', ' ')}: {_excerpt(mention.text)[:90]}"
    lines = [
        f"Red flag in queue {route.queue} (priority {route.priority}).",
        "",
        f"Post: {_excerpt(mention.text)}",
        f"Why: {'; '.join(_reasons(verdict)) or verdict['category']}",
        f"Recommended: {assessment.label} ({assessment.action})",
        f"Next step: {assessment.next_step}",
    ]
    if due is not None:
        lines.append(f"Acknowledge by: {due.isoformat(timespec='minutes')}")
    lines.append(f"Open: {link}")
    payload = {"flag": "red", "category": verdict["category"], "reasons": _reasons(verdict),
               "action": assessment.action, "queue": route.queue, "link": link}
    return [AlertDraft(workspace_id=mention.workspace_id, target=target, kind="red_flag",
                       dedupe_key=f"red_flag:mention:{mention.id}", subject=subject, body="\n".join(lines),
                       link=link, mention_id=mention.id, payload=payload) for target in targets]


def routing_alerts(
    runtime: WorkflowRuntime, mention: Mention, verdict: dict[str, Any], assessment: Assessment,
    route: RouteDecision, *, link: str,
) -> list[AlertDraft]:
    """"Also notify" messages of the routing rule that matched (the account manager of a key customer)."""
    recipients = [*route.notify_targets, *(person_target(e) for e in route.notify_users)]
    if not recipients:
        return []
    subject = f"FYI {verdict['flag']} {verdict['category'].replace('_', ' ')}: {_excerpt(mention.text)[:90]}"
    body = "\n".join([
        f"You are on the notify list of routing rule {route.rule} ({route.explanation}).",
        "",
        f"Post: {_excerpt(mention.text)}",
        f"Recommended: {assessment.label}",
        f"Queue: {route.queue}",
        f"Open: {link}",
    ])
    return [AlertDraft(workspace_id=mention.workspace_id, target=recipient, kind="escalation",
                       dedupe_key=f"notify:mention:{mention.id}", subject=subject, body=body, link=link,
                       mention_id=mention.id, payload={"rule": route.rule}) for recipient in recipients]


def sla_alerts(
    *, workspace_id: int, mention_id: int, clock_id: int, metric: str, event: str, recipients: Iterable[str],
    text: str, overdue_seconds: float, target_seconds: float, queue: str, assignee: str | None, link: str,
) -> list[AlertDraft]:
    """Alerts for an SLA warning, breach or escalation level, one per recipient."""
    kind = "sla_warning" if event == "warning" else "sla_breach" if event == "breach" else "escalation"
    goal = metric.replace("_", " ")
    missed = f"SLA breached: {goal} goal of {format_duration(target_seconds)} missed"
    if event == "warning":
        left = -overdue_seconds
        subject = f"SLA warning: {goal} due {f'in {format_duration(left)}' if left >= 1 else 'now'}"
    elif event == "breach":
        subject = missed
    else:
        late = f", overdue by {format_duration(overdue_seconds)}" if overdue_seconds >= 60 else ""
        subject = f"{missed}{late} (escalation {event.removeprefix('escalation:')})"
    body = "\n".join([
        f"Post: {_excerpt(text)}",
        f"Queue: {queue}; assigned to: {assignee or 'nobody'}",
        f"Open: {link}",
    ])
    return [AlertDraft(workspace_id=workspace_id, target=recipient, kind=kind,
                       dedupe_key=f"sla:{clock_id}:{event}", subject=subject, body=body, link=link,
                       mention_id=mention_id, payload={"metric": metric, "event": event})
            for recipient in dict.fromkeys(recipients)]
