"""Turn triaged mentions into work: assess, route, assign, start SLA clocks, alert on red flags.

`plan_batch` is the CPU phase (read-only queries plus pure playbook logic); it returns, per mention,
everything to write. `write_plans` stores a batch of plans in a handful of bulk statements. The
pipeline's workflow stage calls one then the other, so the write lock is held only for the writes.

A brand's own post that replies to a customer counts as the response to that customer's mention: the
work item becomes `responded` and its response clock is met, whether the reply was typed in Firebreak
or straight into the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from firebreak.accounts.models import Membership, TeamMember, User
from firebreak.audit.models import AuditEntry
from firebreak.mentions.models import Mention
from firebreak.notify import outbox
from firebreak.notify.outbox import AlertDraft
from firebreak.routing import Assigner, Candidate
from firebreak.workflow import clocks
from firebreak.workflow.facts import BatchContext, already_answered, in_threads, load_context, mention_facts
from firebreak.workflow.models import OPEN_STATES, SlaClock, WorkItem
from firebreak.workflow.notices import red_flag_alerts, routing_alerts
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

ACTOR = "workflow"
_WORK = cast(Table, WorkItem.__table__)
_CLOCKS = cast(Table, SlaClock.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
# Bound parameters per statement: under SQLite's limit of 32,766.
_SQLITE_MAX_PARAMS = 32_000


@dataclass(slots=True)
class Plan:
    """What the workflow writes for one mention."""

    work_item: dict[str, Any] | None = None
    clocks: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[AlertDraft] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    # A brand reply: the (channel, external id) it replies to. Then, for a reply or for a new post already
    # answered: the work item answered (mention id), when, and by which reply.
    reply_to: tuple[int, str] | None = None
    answers: int | None = None
    answered_at: datetime | None = None
    reply_mention_id: int | None = None
    # The answering workspace's playbook, whose calendars measure the clocks the reply meets.
    runtime: WorkflowRuntime | None = None
    assigned: tuple[int, str, int] | None = None  # (workspace, team, user) given work now
    # The assignment's place in the team's turn: stored as the member's last_assigned_at.
    assigned_at: datetime | None = None
    # A customer's new post in a thread where their earlier items wait on them: those items resume.
    resumes: list[int] = field(default_factory=list)
    resumed_at: datetime | None = None


RuntimeFor = Callable[[Session, int], WorkflowRuntime]


def plan_batch(
    session: Session,
    mentions: Sequence[Mention],
    triage: Sequence[dict[str, Any] | None],
    *,
    runtime_for: RuntimeFor,
    now: datetime,
    public_url: str,
) -> list[Plan]:
    """Decide, for each mention in order, its work item, clocks, alerts and audit entries."""
    plans = [Plan() for _ in mentions]
    if not mentions:
        return plans
    context = load_context(session, mentions, now=now)
    existing = set(session.scalars(select(WorkItem.mention_id).where(
        WorkItem.mention_id.in_([m.id for m in mentions]))))
    workspace_ids = {m.workspace_id for m in mentions}
    slugs = dict(session.execute(select(Workspace.id, Workspace.slug).where(Workspace.id.in_(workspace_ids))).all())
    runtimes = {ws: runtime_for(session, ws) for ws in workspace_ids}
    assigners = _Assigners(session, workspace_ids)

    for plan, mention, verdict in zip(plans, mentions, triage, strict=True):
        runtime = runtimes[mention.workspace_id]
        if mention.direction != "inbound":
            if mention.reply_to_external_id is not None:
                plan.reply_to = (mention.channel_id, mention.reply_to_external_id)
                plan.answered_at = mention.created_at
                plan.reply_mention_id = mention.id
                plan.runtime = runtime
            continue
        if mention.id in existing or verdict is None:
            continue  # already has its work item (a re-run): keep its state, people and clocks
        _plan_inbound(plan, mention, verdict, context, runtime, assigners, now=now,
                      link=mention_link(public_url, slugs.get(mention.workspace_id, ""), mention.id))
        earlier_reply = context.earlier_replies.get((mention.channel_id, mention.external_id))
        if earlier_reply is not None:  # answered before this post got through the pipeline
            plan.answers, plan.runtime = mention.id, runtime
            plan.reply_mention_id, plan.answered_at = earlier_reply
    _find_waiting(session, mentions, plans, runtimes)
    stamps = assigners.stamps()
    for plan in plans:
        if plan.assigned is not None:
            plan.assigned_at = stamps.get(plan.assigned, now)
    _resolve_answers(session, mentions, plans)
    return plans


def _find_waiting(
    session: Session, mentions: Sequence[Mention], plans: list[Plan], runtimes: dict[int, WorkflowRuntime]
) -> None:
    """Point each new customer post at that customer's items in the thread that wait on them."""
    posts = {(m.workspace_id, m.conversation_id, m.author_id): (m, p) for m, p in zip(mentions, plans, strict=True)
             if p.work_item is not None and m.conversation_id and m.author_id is not None}
    if not posts:
        return
    rows = session.execute(
        select(Mention.workspace_id, Mention.conversation_id, Mention.author_id, WorkItem.mention_id)
        .join(WorkItem, WorkItem.mention_id == Mention.id)
        .where(in_threads({(ws, conversation) for ws, conversation, _author in posts}),
               WorkItem.state == "waiting"))
    for workspace_id, conversation, author_id, waiting_id in rows:
        found = posts.get((workspace_id, conversation, author_id))
        if found is None:
            continue  # another author waiting in the same thread
        mention, plan = found
        if waiting_id != mention.id:
            plan.resumes.append(waiting_id)
            plan.resumed_at = mention.created_at
            plan.runtime = runtimes[workspace_id]


def mention_link(public_url: str, workspace_slug: str, mention_id: int) -> str:
    """Where a person reads and acts on the mention: its page in the web app."""
    return f"{public_url.rstrip('/')}/w/{workspace_slug}/mentions/{mention_id}"


def _plan_inbound(
    plan: Plan, mention: Mention, verdict: dict[str, Any], context: BatchContext, runtime: WorkflowRuntime,
    assigners: _Assigners, *, now: datetime, link: str,
) -> None:
    workspace_id, mention_id = mention.workspace_id, mention.id  # ORM attribute reads are not free
    facts = mention_facts(mention, verdict, context)
    assessment = runtime.tree.evaluate(facts)
    route = runtime.router.route(facts)
    facts["priority"] = route.priority
    policy = runtime.policies.match(facts) if assessment.respond else None
    # Work that needs no reply (monitor, let stand) stays in the queue instead of using up someone's turn.
    assignee = assigners.pick(workspace_id, route.queue, runtime, now) if assessment.respond else None
    opened_at = mention.received_at or now
    plan.work_item = {
        "mention_id": mention_id, "workspace_id": workspace_id,
        "state": "assigned" if assignee is not None else "new",
        "queue": route.queue, "team": route.team, "priority": route.priority, "route_rule": route.rule,
        "assignee_id": assignee, "action": assessment.action, "outcome": assessment.outcome,
        "needs_response": assessment.respond, "assessment": assessment.as_dict(),
        "sla_policy": policy.policy if policy else None, "sla_due_at": None, "playbook_version": runtime.version,
        "opened_at": opened_at, "assigned_at": now if assignee is not None else None,
        "first_response_at": None, "last_response_at": None, "waiting_since": None, "resolved_at": None,
        "closed_at": None, "updated_at": now, "revision": 1,
    }
    if assignee is not None:
        plan.assigned = (workspace_id, route.team, assignee)
    if policy is not None:
        calendar = runtime.calendar(policy.calendar)
        response_metric = "next_response" if already_answered(mention, context) else "first_response"
        response_target = policy.next_response if response_metric == "next_response" else None
        targets = {response_metric: response_target or policy.first_response, "resolution": policy.resolution}
        for metric, seconds in targets.items():
            if seconds is None:
                continue
            columns = clocks.start(calendar, at=opened_at, target_seconds=seconds, warn_fraction=policy.warn_at)
            plan.clocks.append({"workspace_id": workspace_id, "mention_id": mention_id, "metric": metric,
                                "policy": policy.policy, "calendar": policy.calendar, **columns})
        plan.work_item["sla_due_at"] = min((c["due_at"] for c in plan.clocks), default=None)
    plan.audit.append(_audit(mention, "work.opened", now, {
        "queue": route.queue, "rule": route.rule, "explanation": route.explanation, "action": assessment.action,
        "path": assessment.summary(), "assignee_id": assignee, "sla_policy": policy.policy if policy else None,
    }))
    plan.alerts.extend(red_flag_alerts(runtime, mention, verdict, assessment, route, plan, link=link))
    plan.alerts.extend(routing_alerts(runtime, mention, verdict, assessment, route, link=link))


def _audit(mention: Mention, action: str, at: datetime, details: dict[str, Any]) -> dict[str, Any]:
    return {"workspace_id": mention.workspace_id, "at": at, "actor": ACTOR, "action": action,
            "subject_type": "mention", "subject_id": str(mention.id), "details": details}


def _resolve_answers(session: Session, mentions: Sequence[Mention], plans: list[Plan]) -> None:
    """Point each brand reply at the open work item of the customer post it answers: stored already, or
    opened by this very batch (a backfill brings the question and its answer together)."""
    wanted = [p.reply_to for p in plans if p.reply_to is not None]
    if not wanted:
        return
    found = {(row[1], row[2]): row[0] for row in session.execute(
        select(Mention.id, Mention.channel_id, Mention.external_id)
        .join(WorkItem, WorkItem.mention_id == Mention.id)
        .where(or_(*(and_(Mention.channel_id == c, Mention.external_id == e) for c, e in dict.fromkeys(wanted))),
               WorkItem.state.in_(OPEN_STATES)))}
    for mention, plan in zip(mentions, plans, strict=True):
        if plan.work_item is not None:
            found.setdefault((mention.channel_id, mention.external_id), mention.id)
    for plan in plans:
        if plan.reply_to is not None:
            plan.answers = found.get(plan.reply_to)


class _Assigners:
    """One in-memory Assigner per (workspace, queue) for the batch, so a batch is spread fairly."""

    def __init__(self, session: Session, workspace_ids: set[int]) -> None:
        self._session = session
        self._assigners: dict[tuple[int, str], tuple[str, Assigner]] = {}  # (ws, queue) -> (team, assigner)
        self._members: dict[tuple[int, str], list[Candidate]] = {}
        self._on_call_ids: dict[tuple[int, str], int] | None = None  # (ws, e-mail) -> user, read when needed
        self._on_call_picks: dict[tuple[int, str, int], datetime] = {}
        members = session.execute(
            select(TeamMember.workspace_id, TeamMember.team, TeamMember.user_id, TeamMember.available,
                   TeamMember.last_assigned_at)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.workspace_id.in_(workspace_ids), User.active.is_(True))).all()
        # Only team members' load matters: counted on the (workspace, assignee, state) index, member by member.
        load: dict[tuple[int, int], int] = {}
        if members:
            load = {(ws, user): count for ws, user, count in session.execute(
                select(WorkItem.workspace_id, WorkItem.assignee_id, func.count())
                .where(WorkItem.workspace_id.in_(workspace_ids),
                       WorkItem.assignee_id.in_({row.user_id for row in members}),
                       WorkItem.state.in_(OPEN_STATES))
                .group_by(WorkItem.workspace_id, WorkItem.assignee_id))}
        for ws, team, user_id, available, last in members:
            self._members.setdefault((ws, team), []).append(
                Candidate(user_id=user_id, available=available, open_items=load.get((ws, user_id), 0),
                          last_assigned_at=last))
        self._workspace_ids = workspace_ids

    def pick(self, workspace_id: int, queue_id: str, runtime: WorkflowRuntime, now: datetime) -> int | None:
        """Return the user to give new work in `queue_id` now, or None to leave it in the queue."""
        queue = runtime.queues[queue_id]
        if queue.assignment == "manual":
            return None
        team = runtime.teams[queue.team]
        if not runtime.calendar(team.calendar).is_open(now):
            if queue.outside_hours == "on_call" and team.on_call is not None:
                return self._on_call(workspace_id, team.id, runtime.on_call(team, now), now)
            return None
        key = (workspace_id, queue_id)
        entry = self._assigners.get(key)
        if entry is None:
            members = self._members.get((workspace_id, queue.team), [])
            entry = self._assigners[key] = (queue.team, Assigner(queue.assignment, members, now=now))
        return entry[1].pick()

    def _on_call(self, workspace_id: int, team: str, email: str | None, now: datetime) -> int | None:
        """The on-call person's user id, if they are an active member of the workspace."""
        if email is None:
            return None
        if self._on_call_ids is None:
            self._on_call_ids = {
                (ws, address): user_id for ws, address, user_id in self._session.execute(
                    select(Membership.workspace_id, User.email, User.id).distinct()
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.workspace_id.in_(self._workspace_ids), User.active.is_(True)))}
        user_id = self._on_call_ids.get((workspace_id, email))
        if user_id is not None:
            self._on_call_picks[(workspace_id, team, user_id)] = now
        return user_id

    def stamps(self) -> dict[tuple[int, str, int], datetime]:
        """(workspace, team, user) -> the last_assigned_at to store for everyone given work in this batch."""
        stamps = dict(self._on_call_picks)
        for (workspace_id, _queue), (team, assigner) in self._assigners.items():
            for person in assigner.changed():
                key = (workspace_id, team, person.user_id)
                assert person.last_assigned_at is not None
                stamps[key] = max(stamps.get(key, person.last_assigned_at), person.last_assigned_at)
        return stamps


def write_plans(session: Session, plans: Sequence[Plan], *, now: datetime) -> None:
    """Store a batch of plans: work items, clocks, answers, alerts, team cursors and audit, in bulk."""
    work = [p.work_item for p in plans if p.work_item is not None]
    if work:
        _insert_rows(session, _WORK, work)
    new_clocks = [c for p in plans for c in p.clocks]
    if new_clocks:
        _insert_rows(session, _CLOCKS, new_clocks)
    answers = [p for p in plans if p.answers is not None]
    if answers:
        _record_answers(session, answers, now)
    resumed = [p for p in plans if p.resumes]
    if resumed:
        _record_customer_replies(session, resumed, now)
    assigned = {p.assigned: p.assigned_at or now for p in plans if p.assigned is not None}
    if assigned:
        session.execute(
            update(TeamMember.__table__)
            .where(TeamMember.workspace_id == bindparam("ws"), TeamMember.team == bindparam("tm"),
                   TeamMember.user_id == bindparam("uid"))
            .values(last_assigned_at=bindparam("at")),
            [{"ws": ws, "tm": team, "uid": user, "at": at} for (ws, team, user), at in assigned.items()],
        )
    alerts = [a for p in plans for a in p.alerts]
    if alerts:
        outbox.enqueue(session=session, alerts=alerts, now=now)
    audit_rows = [row for p in plans for row in p.audit]
    if audit_rows:
        _insert_rows(session, _AUDIT, audit_rows)


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys.

    PostgreSQL gets SQLAlchemy's executemany. On SQLite that costs more in per-row parameter handling
    than the insert itself, so the rows go to the driver as multi-row INSERTs, each column's values
    converted by its type's bind processor (a value shared by many rows, such as `now`, once).
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        session.execute(insert(table), rows)
        return
    names = tuple(rows[0])
    columns = [[row[name] for row in rows] for name in names]
    for index, convert in _bind_processors(dialect, table, names):
        converted: dict[Any, Any] = {}
        values = columns[index]
        for position, value in enumerate(values):
            try:
                values[position] = converted[value]
            except KeyError:
                values[position] = converted[value] = convert(value)
            except TypeError:  # unhashable (a JSON document)
                values[position] = convert(value)
    one_row = "(" + ", ".join(["?"] * len(names)) + ")"
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) VALUES "
    per_page = _SQLITE_MAX_PARAMS // len(names)
    params = list(zip(*columns, strict=True))
    for start in range(0, len(params), per_page):
        page = params[start:start + per_page]
        connection.exec_driver_sql(into + ", ".join([one_row] * len(page)), tuple(chain.from_iterable(page)))


@lru_cache(maxsize=16)
def _bind_processors(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[tuple[int, Any], ...]:
    """(position, bind processor) for the columns whose values the driver cannot take as they are."""
    out = []
    for index, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            out.append((index, processor))
    return tuple(out)


def _record_answers(session: Session, answers: Sequence[Plan], now: datetime) -> None:
    """Mark answered work items responded, meet their response clocks and say so in the audit log.

    A reply is counted from when it was posted, but never before its customer's post was received (a
    backfill can bring both at once); a reply seen again (a re-run) or older than one already counted
    changes nothing.
    """
    by_item: dict[int, Plan] = {}
    for plan in answers:  # the latest reply per item speaks for the batch
        assert plan.answers is not None
        latest = by_item.get(plan.answers)
        if latest is None or (plan.answered_at or now) >= (latest.answered_at or now):
            by_item[plan.answers] = plan
    items = session.scalars(select(WorkItem).where(WorkItem.mention_id.in_(list(by_item)))).all()
    open_clocks: dict[int, list[SlaClock]] = {}
    for clock in session.scalars(select(SlaClock).where(
            SlaClock.mention_id.in_(list(by_item)), SlaClock.state.in_(("running", "paused")))):
        open_clocks.setdefault(clock.mention_id, []).append(clock)
    audit_rows: list[dict[str, Any]] = []
    for item in items:
        plan = by_item[item.mention_id]
        assert plan.runtime is not None
        at = max(plan.answered_at or now, item.opened_at)
        if item.last_response_at is not None and item.last_response_at >= at:
            continue
        running = []
        for clock in open_clocks.get(item.mention_id, ()):
            if clock.metric == "resolution":
                running.append(clock)
                continue
            for key, value in clocks.stop(plan.runtime.clock_calendar(clock.calendar), clock, at).items():
                setattr(clock, key, value)
        if item.first_response_at is None:
            item.first_response_at = at
        item.last_response_at = at
        if item.state in ("new", "assigned"):
            item.state = "responded"
        item.sla_due_at = min((c.due_at for c in running if c.state == "running" and c.due_at), default=None)
        item.updated_at = now
        item.revision += 1
        audit_rows.append({"workspace_id": item.workspace_id, "at": at, "actor": ACTOR, "action": "work.responded",
                           "subject_type": "mention", "subject_id": str(item.mention_id),
                           "details": {"reply_mention_id": plan.reply_mention_id, "state": item.state}})
    if audit_rows:
        session.execute(insert(_AUDIT), audit_rows)


def _record_customer_replies(session: Session, plans: Sequence[Plan], now: datetime) -> None:
    """The customer answered: items waiting on them are back with the team, and their clocks run again."""
    resume_at = {item_id: p.resumed_at or now for p in plans for item_id in p.resumes}
    runtime_of = {item_id: p.runtime for p in plans for item_id in p.resumes}
    items = session.scalars(select(WorkItem).where(WorkItem.mention_id.in_(list(resume_at)),
                                                   WorkItem.state == "waiting")).all()
    paused: dict[int, list[SlaClock]] = {}
    for clock in session.scalars(select(SlaClock).where(SlaClock.mention_id.in_([i.mention_id for i in items]))):
        paused.setdefault(clock.mention_id, []).append(clock)
    audit_rows: list[dict[str, Any]] = []
    for item in items:
        runtime = runtime_of[item.mention_id]
        assert runtime is not None
        # From when the customer posted, but never before the wait began (a late-arriving older post).
        at = max(resume_at[item.mention_id], item.waiting_since or now)
        for clock in paused.get(item.mention_id, ()):
            calendar = runtime.clock_calendar(clock.calendar)
            for key, value in clocks.resume(calendar, clock, at, runtime.escalation_delays).items():
                setattr(clock, key, value)
        item.state = "assigned" if item.assignee_id is not None else "new"
        item.waiting_since = None
        item.sla_due_at = min((c.due_at for c in paused.get(item.mention_id, ()) if c.state == "running" and c.due_at),
                              default=None)
        item.updated_at = now
        item.revision += 1
        audit_rows.append({"workspace_id": item.workspace_id, "at": at, "actor": ACTOR,
                           "action": "work.customer_replied", "subject_type": "mention",
                           "subject_id": str(item.mention_id), "details": {"state": item.state}})
    if audit_rows:
        session.execute(insert(_AUDIT), audit_rows)
