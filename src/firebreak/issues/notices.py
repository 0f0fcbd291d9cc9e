"""Who is told when an issue's time goal warns, is missed or escalates, and in what words.

The SLA scheduler fires issue clocks like mention clocks and asks this module (its `issue_notices`
hook) for the recipients and alerts. An issue has no assignee or team, so the escalation levels read:

* warning, and `assignee` at any level: the issue's owner (for a legal review, the legal
  stakeholders as well: theirs is the work that is late);
* `team_lead`: the issue's executive sponsors, else the owner;
* `on_call`: the on-call person of the first team with a rotation, else the owner;
* any other entry: that alert target, as is.

    scheduler = SlaScheduler(runtime_for, public_url=url, issue_notices=partial(issue_notices, public_url=url))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts.models import User
from firebreak.core.durations import format_duration
from firebreak.issues.models import Draft, DraftVersion, Issue, IssueStage, IssueStakeholder
from firebreak.lifecycle import TimeGoal
from firebreak.notify.outbox import AlertDraft
from firebreak.workflow import clocks
from firebreak.workflow.models import SlaClock
from firebreak.workflow.notices import person_target
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

_TITLE_IN_SUBJECT = 80


def issue_link(public_url: str, workspace_slug: str, issue_id: int) -> str:
    """Where a person reads and runs the issue: its page in the web app."""
    return f"{public_url.rstrip('/')}/w/{workspace_slug}/issues/{issue_id}"


@dataclass(frozen=True, slots=True)
class IssueNotice:
    """What the scheduler needs to alert about one issue clock."""

    workspace_id: int
    issue_id: int
    number: int
    title: str
    goal_of: str  # what the goal is for: "acknowledgement", "legal review of the response v2"
    goal: str  # the goal in words: "2h", "2 business days"
    owner: str | None
    sponsors: tuple[str, ...]
    reviewers: tuple[str, ...]  # the legal stakeholders, told of a late legal review
    link: str

    def recipients(self, runtime: WorkflowRuntime, event: str, now: datetime) -> list[str]:
        """Alert targets for the event, by the rules in the module docstring."""
        if event == clocks.WARNING:
            wanted: tuple[str, ...] = ("assignee",)
        elif event == clocks.BREACH:
            wanted = () if runtime.escalation_delays else ("assignee",)
        else:
            level = int(event.removeprefix(clocks.ESCALATION))
            wanted = runtime.escalation_notify[level - 1] if level <= len(runtime.escalation_notify) else ()
        owner = [person_target(self.owner)] if self.owner else []
        recipients: list[str] = []
        for entry in wanted:
            if entry == "assignee":
                recipients.extend(owner)
                recipients.extend(person_target(email) for email in self.reviewers)
            elif entry == "team_lead":
                recipients.extend([person_target(email) for email in self.sponsors] or owner)
            elif entry == "on_call":
                on_call = next((email for team in runtime.teams.values() if team.on_call is not None
                                for email in [runtime.on_call(team, now)] if email), None)
                recipients.extend([person_target(on_call)] if on_call else owner)
            else:
                recipients.append(entry)
        return list(dict.fromkeys(recipients))

    def alerts(self, *, clock_id: int, metric: str, event: str, recipients: Sequence[str],
               overdue_seconds: float) -> list[AlertDraft]:
        """One alert per recipient, saying which issue, which goal, and how late."""
        title = self.title if len(self.title) <= _TITLE_IN_SUBJECT else self.title[:_TITLE_IN_SUBJECT - 1] + "…"
        about = f"Issue {self.number} '{title}': {self.goal_of} goal of {self.goal}"
        if event == clocks.WARNING:
            left = -overdue_seconds
            kind, subject = "sla_warning", f"{about} due {f'in {format_duration(left)}' if left >= 1 else 'now'}"
        elif event == clocks.BREACH:
            kind, subject = "sla_breach", f"{about} missed"
        else:
            late = f", overdue by {format_duration(overdue_seconds)}" if overdue_seconds >= 60 else ""
            kind = "escalation"
            subject = f"{about} missed{late} (escalation {event.removeprefix(clocks.ESCALATION)})"
        body = "\n".join([
            f"Issue {self.number}: {self.title}",
            f"Goal: {self.goal_of}, {self.goal}",
            f"Owner: {self.owner or 'nobody'}",
            f"Open: {self.link}",
        ])
        payload = {"issue_id": self.issue_id, "issue_number": self.number, "metric": metric, "event": event}
        return [AlertDraft(workspace_id=self.workspace_id, target=recipient, kind=kind,
                           dedupe_key=f"sla:{clock_id}:{event}", subject=subject, body=body, link=self.link,
                           payload=payload) for recipient in dict.fromkeys(recipients)]


def issue_notices(session: Session, due: Sequence[SlaClock], now: datetime, *,
                  public_url: str) -> dict[int, IssueNotice]:
    """The notice of each due issue clock, by clock id, in a handful of queries for the whole batch."""
    issue_ids = {clock.issue_id for clock in due if clock.issue_id is not None}
    if not issue_ids:
        return {}
    issues = {issue.id: issue for issue in session.scalars(select(Issue).where(Issue.id.in_(issue_ids)))}
    slugs = dict(session.execute(select(Workspace.id, Workspace.slug).where(
        Workspace.id.in_({issue.workspace_id for issue in issues.values()}))).all())
    owners = dict(session.execute(select(Issue.id, User.email).join(User, User.id == Issue.owner_id).where(
        Issue.id.in_(issue_ids), User.active.is_(True))).all())
    people: dict[tuple[int, str], list[str]] = defaultdict(list)
    for issue_id, role, email in session.execute(
            select(IssueStakeholder.issue_id, IssueStakeholder.role, User.email)
            .join(User, User.id == IssueStakeholder.user_id)
            .where(IssueStakeholder.issue_id.in_(issue_ids), IssueStakeholder.role.in_(("executive_sponsor", "legal")),
                   User.active.is_(True)).order_by(IssueStakeholder.id)):
        people[(issue_id, role)].append(email)
    stage_ids = {c.reference_id for c in due if c.metric == "stage" and c.reference_id is not None}
    stages = {visit.id: visit for visit in session.scalars(select(IssueStage).where(IssueStage.id.in_(stage_ids)))}
    version_ids = {c.reference_id for c in due if c.metric == "legal_review" and c.reference_id is not None}
    versions = {row.id: row for row in session.execute(
        select(DraftVersion.id, DraftVersion.number, Draft.title).join(Draft, Draft.id == DraftVersion.draft_id)
        .where(DraftVersion.id.in_(version_ids)))}
    notices: dict[int, IssueNotice] = {}
    for clock in due:
        issue = issues.get(clock.issue_id) if clock.issue_id is not None else None
        if issue is None:
            continue
        goal_of, goal = _goal(clock, stages, versions)
        notices[clock.id] = IssueNotice(
            workspace_id=issue.workspace_id, issue_id=issue.id, number=issue.number, title=issue.title,
            goal_of=goal_of, goal=goal, owner=owners.get(issue.id),
            sponsors=tuple(people[(issue.id, "executive_sponsor")]),
            reviewers=tuple(people[(issue.id, "legal")]) if clock.metric == "legal_review" else (),
            link=issue_link(public_url, slugs.get(issue.workspace_id, ""), issue.id))
    return notices


def _goal(clock: SlaClock, stages: dict[int, IssueStage], versions: dict[int, Any]) -> tuple[str, str]:
    """What the clock times, and its goal in words (as the playbook wrote it, where the row keeps it)."""
    if clock.metric == "stage":
        visit = stages.get(clock.reference_id) if clock.reference_id is not None else None
        stage = (visit.stage if visit is not None else clock.policy).replace("_", " ")
        if visit is not None and visit.goal:
            return stage, TimeGoal.parse(visit.goal).describe()
        return stage, format_duration(clock.target_seconds)
    if clock.metric == "legal_review":
        version = versions.get(clock.reference_id) if clock.reference_id is not None else None
        what = f"legal review of {version.title} v{version.number}" if version is not None else "legal review"
        return what, format_duration(clock.target_seconds)
    return clock.metric.replace("_", " "), format_duration(clock.target_seconds)
