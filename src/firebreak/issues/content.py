"""An issue's words: drafts, their immutable versions, diffs, comments, and legal review with its own clock.

    draft = create_draft(session, runtime=rt, workspace_id=ws, actor=cora, now=t, issue_id=7, kind="response",
                         title="What happened", from_statement="fixed")       # version 1 from a holding statement
    v2 = add_version(session, ..., draft_id=draft.id, body=text, expected_number=1)
    submit_for_review(session, ..., version_id=v2.id)                         # starts the legal review clock
    review(session, ..., version_id=v2.id, verdict="approved", comment="")    # legal only; locks the version

A version is never edited: a change is a new version, and the one before it is superseded. The states:

    draft ──submit──► in_review ──approve──► approved (locked for good)
                          └──request changes──► changes_requested
    draft / in_review / changes_requested ──a newer version is added──► superseded

An approved version stays approved when a newer version is written after it, so publishing always has
the last approved words while the next ones are in review. Legal review is timed like an SLA: an
`sla_clocks` row (metric `legal_review`, reference = the version) on the playbook's
`issues.legal_review` goal and calendar, met when the reviewer gives a verdict.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.issues import access, timeline
from firebreak.issues.models import Draft, DraftReview, DraftVersion, Issue
from firebreak.lifecycle import DRAFT_KINDS, render
from firebreak.routing.schema import ROLES
from firebreak.workflow import clocks
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import SlaClock
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

Verdict = Literal["approved", "changes_requested"]
VERDICTS: tuple[Verdict, ...] = ("approved", "changes_requested")
# Who talking points are written for; every other kind of draft speaks to the public.
AUDIENCES = ("sales", "marketing", "communications", "support")
LEGAL_REVIEW = "legal_review"
# The stakeholder roles that may write an issue's content without the workspace-wide permission.
WRITERS = frozenset({"owner", "communications"})
# A version that is still being worked on; a newer version supersedes it.
OPEN_VERSION_STATES = ("draft", "in_review", "changes_requested")
MAX_TITLE = 200
MAX_BODY = 100_000
MAX_COMMENT = 10_000


@dataclass(frozen=True, slots=True)
class LineChange:
    """One changed line between two versions: a line removed, added, or replaced (both set)."""

    from_line: int | None  # 1-based line number in the older version
    to_line: int | None  # 1-based line number in the newer version
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """The difference between two versions: a unified diff for people, line pairs for the UI."""

    from_number: int
    to_number: int
    unified: str
    changes: tuple[LineChange, ...]


# ---------------------------------------------------------------------------------------------- pure helpers


def normalise_body(body: str) -> str:
    """Return the text as stored: Unix line ends, no trailing whitespace at the end (files end with one)."""
    return body.replace("\r\n", "\n").replace("\r", "\n").rstrip()


def diff_texts(old: str, new: str, *, from_number: int, to_number: int) -> VersionDiff:
    """Compare two texts line by line: a unified diff named by version, and each changed line paired."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    unified = "\n".join(difflib.unified_diff(old_lines, new_lines, fromfile=f"version {from_number}",
                                             tofile=f"version {to_number}", lineterm=""))
    changes: list[LineChange] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        # A replaced block pairs its lines in order; the longer side's extra lines stand alone.
        for offset in range(max(a1 - a0, b1 - b0)):
            a, b = a0 + offset, b0 + offset
            changes.append(LineChange(a + 1 if a < a1 else None, b + 1 if b < b1 else None,
                                      old_lines[a] if a < a1 else None, new_lines[b] if b < b1 else None))
    return VersionDiff(from_number, to_number, unified, tuple(changes))


def statement_values(issue: Issue, brand: str) -> dict[str, str]:
    """The values a holding statement can take from the issue; the rest ({product}, ...) stay for the writer."""
    return {"title": issue.title, "issue": f"issue {issue.number}", "brand": brand}


def locked_message(version: DraftVersion, draft: Draft) -> str:
    """Say that an approved version cannot change, and what to do instead."""
    return (f"version {version.number} of the {_kind_words(draft.kind)} is approved and locked; add a new version "
            "to change it")


def _kind_words(kind: str) -> str:
    return kind.replace("_", " ")


# ---------------------------------------------------------------------------------------------- loading


def _lock_if_postgres(session: Session, stmt: Any, lock: bool) -> Any:
    if lock and session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def get_draft(session: Session, workspace_id: int, draft_id: int, *, issue_id: int | None = None,
              lock: bool = False) -> Draft:
    """The draft of this workspace (and of `issue_id` when given), or NotFound."""
    stmt = select(Draft).where(Draft.workspace_id == workspace_id, Draft.id == draft_id)
    if issue_id is not None:
        stmt = stmt.where(Draft.issue_id == issue_id)
    draft = session.scalar(_lock_if_postgres(session, stmt, lock))
    if draft is None:
        where = f" of issue {issue_id}" if issue_id is not None else ""
        raise NotFound(f"draft {draft_id} does not exist{where} in this workspace")
    return draft


def get_version(session: Session, workspace_id: int, version_id: int, *, issue_id: int | None = None,
                lock: bool = False) -> tuple[DraftVersion, Draft]:
    """The version and its draft (locked on PostgreSQL when asked, so reviews of one draft take turns)."""
    stmt = (select(DraftVersion.draft_id).join(Draft, Draft.id == DraftVersion.draft_id)
            .where(DraftVersion.workspace_id == workspace_id, DraftVersion.id == version_id))
    if issue_id is not None:
        stmt = stmt.where(Draft.issue_id == issue_id)
    draft_id = session.scalar(stmt)
    if draft_id is None:
        where = f" of issue {issue_id}" if issue_id is not None else ""
        raise NotFound(f"draft version {version_id} does not exist{where} in this workspace")
    draft = get_draft(session, workspace_id, draft_id, lock=lock)
    version = session.get(DraftVersion, version_id)
    assert version is not None
    return version, draft


def _versions(session: Session, draft_id: int) -> list[DraftVersion]:
    return list(session.scalars(select(DraftVersion).where(DraftVersion.draft_id == draft_id)
                                .order_by(DraftVersion.number)))


def _legal_clock(session: Session, issue_id: int, version_id: int) -> SlaClock | None:
    return session.scalar(select(SlaClock).where(SlaClock.issue_id == issue_id, SlaClock.metric == LEGAL_REVIEW,
                                                 SlaClock.reference_id == version_id).order_by(SlaClock.id.desc()))


def _open_issue(session: Session, workspace_id: int, issue_id: int) -> Issue:
    issue = access.get_issue(session, workspace_id, issue_id)
    if issue.state != "open":
        raise InvalidInput(f"issue {issue.number} is {issue.state}; its content can no longer change", field="issue")
    return issue


# ---------------------------------------------------------------------------------------------- permissions


def _require_writer(session: Session, runtime: WorkflowRuntime, issue: Issue, actor: Actor, doing: str) -> None:
    """The issue's owner and communications stakeholders write its content; others need `write_content`."""
    if access.stakeholder_roles(session, issue, actor) & WRITERS:
        return
    access.require(runtime, actor, "write_content", doing)


def _legal_role(runtime: WorkflowRuntime, actor: Actor, verdict: str) -> str:
    """The role the reviewer gives the verdict as (legal before admin); Forbidden without `approve_legal`."""
    grants = runtime.roles.grants
    roles = [role for role in ROLES if role in actor.roles and "approve_legal" in grants[role]]
    if not roles:
        have = ", ".join(sorted(actor.roles)) or "no role"
        doing = "approve legal review" if verdict == "approved" else "request changes in legal review"
        raise Forbidden(f"{actor.name} ({have}) may not {doing}: only legal can {doing} (it needs the "
                        "'approve_legal' permission)")
    return "legal" if "legal" in roles else roles[0]


# ---------------------------------------------------------------------------------------------- changes


def create_draft(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, issue_id: int,
    kind: str, title: str, body: str | None = None, from_statement: str | None = None, audience: str | None = None,
) -> Draft:
    """Start a piece of the issue's content, with version 1 from `body` or from a playbook holding statement.

    A draft given neither starts empty, for someone to write its first version later.
    """
    if kind not in DRAFT_KINDS:
        raise InvalidInput(f"unknown draft kind {kind!r}; kinds are {', '.join(DRAFT_KINDS)}", field="kind")
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"a draft needs a title of 1 to {MAX_TITLE} characters", field="title")
    if kind == "talking_points":
        if audience not in AUDIENCES:
            raise InvalidInput(f"talking points are written for an audience: one of {', '.join(AUDIENCES)}"
                               + (f", not {audience!r}" if audience else ""), field="audience")
    elif audience is not None:
        raise InvalidInput(f"only talking points have an audience; a {_kind_words(kind)} speaks to the public",
                           field="audience")
    if body is not None and from_statement is not None:
        raise InvalidInput("start from a body or from a holding statement, not both", field="from_statement")
    issue = _open_issue(session, workspace_id, issue_id)
    _require_writer(session, runtime, issue, actor, f"write content for issue {issue.number}")
    text: str | None = None
    if from_statement is not None:
        statement = runtime.loaded.playbook.issues.holding_statement(from_statement)
        if statement.kind != kind:
            raise InvalidInput(f"holding statement {statement.id!r} ({statement.label}) is approved for "
                               f"{_kind_words(statement.kind)} drafts, not a {_kind_words(kind)}",
                               field="from_statement")
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        text = render(statement.text, statement_values(issue, workspace.name))
    elif body is not None:
        text = _checked_body(body)
    draft = Draft(workspace_id=workspace_id, issue_id=issue.id, kind=kind, title=title, audience=audience,
                  created_at=now)
    session.add(draft)
    session.flush()
    details: dict[str, Any] = {"draft_id": draft.id, "kind": kind, "title": title, "audience": audience}
    if text is not None:
        version = _new_version(draft, 1, text, actor, now, source_statement=from_statement)
        session.add(version)
        session.flush()
        details.update(version=1, version_id=version.id, source_statement=from_statement)
    timeline.record(session, issue, kind="draft.created", actor=actor.name, at=now, details=details)
    return draft


def add_version(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, draft_id: int,
    body: str, expected_number: int | None = None, issue_id: int | None = None,
) -> DraftVersion:
    """Write a new version of the draft; the open version before it is superseded (an approved one stays).

    `expected_number` is the latest version the writer started from: if someone added a newer one since,
    the write is refused (Conflict) rather than silently replacing their words.
    """
    text = _checked_body(body)
    draft = get_draft(session, workspace_id, draft_id, issue_id=issue_id, lock=True)
    issue = _open_issue(session, workspace_id, draft.issue_id)
    _require_writer(session, runtime, issue, actor, f"write content for issue {issue.number}")
    versions = _versions(session, draft.id)
    latest = versions[-1] if versions else None
    latest_number = latest.number if latest is not None else 0
    if expected_number is not None and expected_number != latest_number:
        raise Conflict(f"the {_kind_words(draft.kind)} is at version {latest_number} now, not {expected_number}: "
                       "someone added a version since you started; reload, merge and try again",
                       field="expected_number")
    if latest is not None and latest.body == text:
        raise InvalidInput(f"the text is the same as version {latest.number}; change something to add a version",
                           field="body")
    superseded = []
    for older in versions:
        if older.state in OPEN_VERSION_STATES:
            if older.state == "in_review":
                _cancel_legal_clock(session, runtime, draft.issue_id, older, now)
            older.state = "superseded"
            superseded.append(older.number)
    version = _new_version(draft, latest_number + 1, text, actor, now)
    session.add(version)
    session.flush()
    timeline.record(session, issue, kind="draft.version_added", actor=actor.name, at=now, details={
        "draft_id": draft.id, "kind": draft.kind, "version": version.number, "version_id": version.id,
        "superseded": superseded})
    return version


def comment(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, version_id: int,
    text: str, issue_id: int | None = None,
) -> DraftReview:
    """Leave a comment on a version (any member who may view); it changes nothing, so even approved ones take it."""
    text = text.strip()
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInput(f"a comment needs 1 to {MAX_COMMENT} characters of text", field="text")
    access.require(runtime, actor, "view", "comment on drafts")
    version, draft = get_version(session, workspace_id, version_id, issue_id=issue_id)
    issue = access.get_issue(session, workspace_id, draft.issue_id)
    entry = DraftReview(workspace_id=workspace_id, version_id=version.id, reviewer=actor.name,
                        reviewer_role=_commenter_role(session, issue, actor), verdict=None, comment=text, at=now)
    session.add(entry)
    session.flush()
    timeline.record(session, issue, kind="draft.commented", actor=actor.name, at=now, details={
        "draft_id": draft.id, "kind": draft.kind, "version": version.number, "version_id": version.id,
        "comment": text})
    return entry


def submit_for_review(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, version_id: int,
    issue_id: int | None = None,
) -> DraftVersion:
    """Send a draft version to legal review and start the review clock on the playbook's goal and calendar."""
    version, draft = get_version(session, workspace_id, version_id, issue_id=issue_id, lock=True)
    issue = _open_issue(session, workspace_id, draft.issue_id)
    _require_writer(session, runtime, issue, actor, f"send issue {issue.number}'s content for review")
    if version.state == "approved":
        raise InvalidInput(locked_message(version, draft), field="state")
    if version.state != "draft":
        raise InvalidInput(_not_submittable(version, draft), field="state")
    version.state = "in_review"
    version.submitted_at = now
    clock = _start_legal_clock(runtime, issue, version, now)
    session.add(clock)
    session.flush()
    timeline.record(session, issue, kind="draft.submitted", actor=actor.name, at=now, details={
        "draft_id": draft.id, "kind": draft.kind, "version": version.number, "version_id": version.id,
        "review_due_at": clock.due_at.isoformat() if clock.due_at else None})
    return version


def review(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, actor: Actor, now: datetime, version_id: int,
    verdict: str, comment: str = "", issue_id: int | None = None,
) -> DraftReview:
    """Give legal's verdict on a version in review: approve (locks it) or request changes (with a comment)."""
    if verdict not in VERDICTS:
        raise InvalidInput(f"unknown verdict {verdict!r}; a review is approved or changes_requested", field="verdict")
    text = comment.strip()
    if verdict == "changes_requested" and not text:
        raise InvalidInput("requesting changes needs a comment saying what to change", field="comment")
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"a comment has at most {MAX_COMMENT} characters", field="comment")
    version, draft = get_version(session, workspace_id, version_id, issue_id=issue_id, lock=True)
    role = _legal_role(runtime, actor, verdict)
    issue = _open_issue(session, workspace_id, draft.issue_id)
    if version.state == "approved":
        raise InvalidInput(locked_message(version, draft), field="state")
    if version.state != "in_review":
        raise InvalidInput(f"version {version.number} of the {_kind_words(draft.kind)} is not in legal review "
                           f"(it is {version.state.replace('_', ' ')}); only a version sent for review gets a verdict",
                           field="state")
    clock = _legal_clock(session, issue.id, version.id)
    if clock is not None:
        _apply(clock, clocks.stop(runtime.clock_calendar(clock.calendar), clock, now, met=True))
    version.state = verdict
    if verdict == "approved":
        version.approved_at = now
        version.approved_by = actor.name
    entry = DraftReview(workspace_id=workspace_id, version_id=version.id, reviewer=actor.name, reviewer_role=role,
                        verdict=verdict, comment=text, at=now)
    session.add(entry)
    session.flush()
    details: dict[str, Any] = {"draft_id": draft.id, "kind": draft.kind, "version": version.number,
                               "version_id": version.id, "comment": text or None}
    if clock is not None:
        details["review_seconds"] = round(clock.consumed_seconds, 3)
        details["review_in_time"] = not clocks.view(runtime.clock_calendar(clock.calendar), clock, now).breached
    timeline.record(session, issue, kind=f"draft.{verdict}", actor=actor.name, at=now, details=details)
    return entry


def _checked_body(body: str) -> str:
    text = normalise_body(body)
    if not text.strip():
        raise InvalidInput("a version needs some text", field="body")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"a version has at most {MAX_BODY} characters, this one {len(text)}", field="body")
    return text


def _new_version(draft: Draft, number: int, text: str, actor: Actor, now: datetime, *,
                 source_statement: str | None = None) -> DraftVersion:
    return DraftVersion(workspace_id=draft.workspace_id, draft_id=draft.id, number=number, body=text, state="draft",
                        author=actor.name, created_at=now, source_statement=source_statement)


def _not_submittable(version: DraftVersion, draft: Draft) -> str:
    what = f"version {version.number} of the {_kind_words(draft.kind)}"
    if version.state == "in_review":
        return f"{what} is already in legal review"
    if version.state == "changes_requested":
        return f"{what} came back with changes requested; add a new version with the changes and submit that"
    return f"{what} is superseded by a newer version; submit the latest"


def _commenter_role(session: Session, issue: Issue, actor: Actor) -> str | None:
    """The role a comment is made in: the actor's part in the issue, else their first workspace role."""
    stake = access.stakeholder_roles(session, issue, actor)
    for role in ("legal", "communications", "owner", "product", "support", "executive_sponsor"):
        if role in stake:
            return role
    return next((role for role in ROLES if role in actor.roles), None)


# ---------------------------------------------------------------------------------------------- the legal clock


def _start_legal_clock(runtime: WorkflowRuntime, issue: Issue, version: DraftVersion, now: datetime) -> SlaClock:
    spec = runtime.loaded.playbook.issues.legal_review
    calendar = runtime.calendar(spec.calendar)
    due = spec.due_at(calendar, now)
    warn = spec.warn_at(calendar, now)
    assert due is not None and warn is not None
    # Clocks count business seconds; a goal in business days is the business time until its due moment.
    target = calendar.between(now, due)
    warn_fraction = calendar.between(now, warn) / target if target > 0 else 0.0
    columns = clocks.start(calendar, at=now, target_seconds=target, warn_fraction=warn_fraction)
    return SlaClock(workspace_id=issue.workspace_id, issue_id=issue.id, mention_id=None, reference_id=version.id,
                    metric=LEGAL_REVIEW, policy=LEGAL_REVIEW, calendar=spec.calendar, **columns)


def _cancel_legal_clock(session: Session, runtime: WorkflowRuntime, issue_id: int, version: DraftVersion,
                        now: datetime) -> None:
    clock = _legal_clock(session, issue_id, version.id)
    if clock is not None:
        _apply(clock, clocks.stop(runtime.clock_calendar(clock.calendar), clock, now, met=False))


def _apply(clock: SlaClock, columns: Mapping[str, Any]) -> None:
    for key, value in columns.items():
        setattr(clock, key, value)


# ---------------------------------------------------------------------------------------------- reading


def diff(session: Session, *, workspace_id: int, draft_id: int, from_number: int, to_number: int,
         issue_id: int | None = None) -> VersionDiff:
    """Compare two versions of a draft (either order)."""
    draft = get_draft(session, workspace_id, draft_id, issue_id=issue_id)
    bodies = dict(session.execute(select(DraftVersion.number, DraftVersion.body).where(
        DraftVersion.draft_id == draft.id, DraftVersion.number.in_((from_number, to_number)))).all())
    for number in (from_number, to_number):
        if number not in bodies:
            raise NotFound(f"the {_kind_words(draft.kind)} (draft {draft.id}) has no version {number}")
    return diff_texts(bodies[from_number], bodies[to_number], from_number=from_number, to_number=to_number)


def draft_detail(session: Session, *, runtime: WorkflowRuntime, workspace_id: int, draft_id: int, now: datetime,
                 issue_id: int | None = None) -> dict[str, Any]:
    """The draft with every version (state, lock, comments and verdicts, legal clock) and its approved version."""
    draft = get_draft(session, workspace_id, draft_id, issue_id=issue_id)
    versions = _versions(session, draft.id)
    ids = [version.id for version in versions]
    reviews: dict[int, list[dict[str, Any]]] = {version_id: [] for version_id in ids}
    for entry in session.scalars(select(DraftReview).where(DraftReview.version_id.in_(ids))
                                 .order_by(DraftReview.at, DraftReview.id)) if ids else ():
        reviews[entry.version_id].append({"reviewer": entry.reviewer, "role": entry.reviewer_role,
                                          "verdict": entry.verdict, "comment": entry.comment, "at": entry.at})
    legal: dict[int, SlaClock] = {}
    if ids:
        for clock in session.scalars(select(SlaClock).where(
                SlaClock.issue_id == draft.issue_id, SlaClock.metric == LEGAL_REVIEW,
                SlaClock.reference_id.in_(ids)).order_by(SlaClock.id)):
            assert clock.reference_id is not None
            legal[clock.reference_id] = clock
    rows = [{
        "id": version.id, "number": version.number, "state": version.state, "locked": version.state == "approved",
        "body": version.body, "author": version.author, "created_at": version.created_at,
        "submitted_at": version.submitted_at, "approved_at": version.approved_at, "approved_by": version.approved_by,
        "source_statement": version.source_statement, "reviews": reviews[version.id],
        "legal_review": _clock_view(runtime, legal[version.id], now) if version.id in legal else None,
    } for version in versions]
    approved = [row for row in rows if row["state"] == "approved"]
    return {
        "id": draft.id, "issue_id": draft.issue_id, "kind": draft.kind, "title": draft.title,
        "audience": draft.audience, "created_at": draft.created_at,
        "latest": rows[-1]["number"] if rows else None,
        "approved": approved[-1]["number"] if approved else None,
        "versions": rows,
    }


def _clock_view(runtime: WorkflowRuntime, clock: SlaClock, now: datetime) -> dict[str, Any]:
    seen = clocks.view(runtime.clock_calendar(clock.calendar), clock, now)
    return {"state": clock.state, "calendar": clock.calendar, "target_seconds": clock.target_seconds,
            "started_at": clock.started_at, "due_at": clock.due_at, "warn_at": clock.warn_at,
            "stopped_at": clock.stopped_at, "breached_at": clock.breached_at, "used_seconds": seen.used_seconds,
            "remaining_seconds": seen.remaining_seconds, "breached": seen.breached}


def list_drafts(session: Session, *, workspace_id: int, issue_id: int) -> list[dict[str, Any]]:
    """The issue's drafts, oldest first, each with its latest and approved version numbers."""
    issue = access.get_issue(session, workspace_id, issue_id)
    drafts = list(session.scalars(select(Draft).where(Draft.issue_id == issue.id).order_by(Draft.id)))
    latest: dict[int, tuple[int, str]] = {}
    approved: dict[int, int] = {}
    for draft_id, number, state in session.execute(
            select(DraftVersion.draft_id, DraftVersion.number, DraftVersion.state)
            .join(Draft, Draft.id == DraftVersion.draft_id).where(Draft.issue_id == issue.id)
            .order_by(DraftVersion.number)):
        latest[draft_id] = (number, state)
        if state == "approved":
            approved[draft_id] = number
    return [{
        "id": draft.id, "kind": draft.kind, "title": draft.title, "audience": draft.audience,
        "created_at": draft.created_at,
        "latest": latest[draft.id][0] if draft.id in latest else None,
        "latest_state": latest[draft.id][1] if draft.id in latest else None,
        "approved": approved.get(draft.id),
    } for draft in drafts]


def approved_version(session: Session, *, workspace_id: int, issue_id: int, kind: str) -> DraftVersion | None:
    """The most recently approved version of that kind of content for the issue (what may be published)."""
    return session.scalar(
        select(DraftVersion).join(Draft, Draft.id == DraftVersion.draft_id)
        .where(Draft.workspace_id == workspace_id, Draft.issue_id == issue_id, Draft.kind == kind,
               DraftVersion.state == "approved")
        .order_by(DraftVersion.approved_at.desc(), DraftVersion.id.desc()).limit(1))

