"""Answering a mention from Firebreak: a reply from a saved text, taking it private, escalating it; and
what a person reads before answering (the whole thread, the author's history, where an escalation goes).

A reply is queued in the durable outbox for the mention's channel, in the same transaction that
records it, with an idempotency key made of the mention and the text, so sending the same form twice
queues one message. Queueing counts as the brand's response by the workflow's own rule (the one that
counts a brand reply seen on the network, `intake.write_plans`): the item becomes `responded` and its
response clock is met. When the network's copy of the reply comes back as an outbound mention, the
same rule counts it as a later response to the same item: nothing is met or answered twice.

Escalating sends the item to the queue and priority the playbook's routing gives a red flag, and
alerts the playbook's red-flag targets and the on-call person of the team that takes it, once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.audit.models import AuditEntry
from firebreak.channels.models import Channel
from firebreak.core.errors import Conflict, InvalidInput
from firebreak.lifecycle import placeholders, render
from firebreak.mentions.models import Author, Mention
from firebreak.notify import outbox as alerts_outbox
from firebreak.notify.outbox import AlertDraft
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.outbox.models import OutboxMessage
from firebreak.triage.models import MentionTriage
from firebreak.workflow.actions import Actor, check_revision, get_item, require_permission
from firebreak.workflow.facts import load_context, mention_facts
from firebreak.workflow.intake import Plan, mention_link, write_plans
from firebreak.workflow.models import WorkItem
from firebreak.workflow.notices import person_target
from firebreak.workflow.queries import PRIORITY_RANK
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

# The saved reply that "take private" starts from.
PRIVATE_REPLY = "take-it-private"
PRIVATE_NOTE = "Asked the customer to continue in direct messages."
MAX_REPLY = 2000
MAX_REASON = 2000
# Posts of a long thread shown on each side of the mention (the thread's first post is always shown).
THREAD_AROUND = 100
PREVIOUS_POSTS = 10
EXCERPT = 280
_CLOSED = ("resolved", "closed")


# ------------------------------------------------------------------------------------------ saved replies


def fill_reply(text: str, *, handle: str | None, brand: str) -> str:
    """A saved reply for one mention: {author} is the author's @handle, {brand} the workspace's name.

    Without an author, {author} stays in the text for the person to replace before sending.
    """
    values = {"brand": brand}
    if handle:
        values["author"] = f"@{handle}"
    return render(text, values)


def saved_replies(runtime: WorkflowRuntime, *, handle: str | None, brand: str) -> dict[str, str]:
    """The playbook's saved replies, in playbook order, filled in for one mention."""
    return {name: fill_reply(text, handle=handle, brand=brand)
            for name, text in runtime.loaded.playbook.replies.items()}


def author_handle(session: Session, *, workspace_id: int, mention_id: int) -> str | None:
    """The handle of the mention's author ({author} in a saved reply), or None."""
    return session.scalar(select(Author.handle).join(Mention, Mention.author_id == Author.id).where(
        Mention.workspace_id == workspace_id, Mention.id == mention_id))


def _reply_text(runtime: WorkflowRuntime, text: str, template: str | None) -> str:
    if template is not None and template not in runtime.loaded.playbook.replies:
        known = ", ".join(runtime.loaded.playbook.replies) or "(none in this playbook)"
        raise InvalidInput(f"unknown saved reply {template!r}; saved replies are {known}", field="template")
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("write the reply, or start from a saved reply", field="text")
    if len(cleaned) > MAX_REPLY:
        raise InvalidInput(f"the reply is {len(cleaned)} characters; at most {MAX_REPLY}", field="text")
    left = sorted(placeholders(cleaned) & {"author", "brand"})
    if left:
        raise InvalidInput(f"replace {', '.join(f'{{{name}}}' for name in left)} before sending", field="text")
    return cleaned


def _reason(reason: str | None, *, required: bool, doing: str) -> str | None:
    cleaned = (reason or "").strip()
    if not cleaned:
        if required:
            raise InvalidInput(f"say why you {doing}: the reason goes into the alert and the audit log",
                               field="reason")
        return None
    if len(cleaned) > MAX_REASON:
        raise InvalidInput(f"the reason is {len(cleaned)} characters; at most {MAX_REASON}", field="reason")
    return cleaned


# ------------------------------------------------------------------------------------------ replying


@dataclass(frozen=True, slots=True)
class Replied:
    """The item after the reply, and the outbox message that carries it."""

    item: WorkItem
    message: OutboxMessage
    channel: str


def reply(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, text: str, actor: Actor,
    now: datetime, template: str | None = None, expected_revision: int | None = None,
) -> Replied:
    """Queue a public reply to the mention on its channel and count it as the brand's response.

    Needs the `respond` permission; refuses a closed or resolved item, a channel that cannot send, and
    a text that still holds {author} or {brand}.
    """
    return _reply(session, runtime=runtime, workspace_id=workspace_id, mention_id=mention_id, text=text,
                  actor=actor, now=now, template=template, expected_revision=expected_revision, note=None)


def take_private(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, text: str, actor: Actor,
    now: datetime, note: str | None = None, expected_revision: int | None = None,
) -> Replied:
    """Reply asking the customer to continue in direct messages, and note on the item that it went private."""
    return _reply(session, runtime=runtime, workspace_id=workspace_id, mention_id=mention_id, text=text,
                  actor=actor, now=now, template=None, expected_revision=expected_revision,
                  note=_reason(note, required=False, doing="take it private") or PRIVATE_NOTE)


def _reply(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, text: str, actor: Actor,
    now: datetime, template: str | None, expected_revision: int | None, note: str | None,
) -> Replied:
    private = note is not None
    require_permission(runtime, actor, "respond", "take a conversation private" if private else "reply to a mention")
    item = get_item(session, workspace_id, mention_id, lock=True)
    check_revision(item, expected_revision)
    if item.state in _CLOSED:
        raise InvalidInput(f"mention {mention_id} is {item.state}; reopen it before replying", field="state")
    body = _reply_text(runtime, text, template)
    mention = session.get(Mention, mention_id)
    channel = session.get(Channel, mention.channel_id) if mention is not None else None
    assert mention is not None and channel is not None  # the work item's foreign keys cascade deletes
    reason = cannot_send(OutboundChannel.of(channel))
    if reason is not None:
        raise InvalidInput(f"the reply cannot be sent: {reason}", field="channel")
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    draft = outbox.OutboxDraft(
        channel_id=channel.id, kind="reply", idempotency_key=f"mention:{mention_id}:reply:{digest}", body=body,
        in_reply_to=mention.external_id, conversation_id=mention.conversation_id or mention.external_id,
        payload={"mention_id": mention_id, "template": template, "private": private})
    spacing = timedelta(seconds=runtime.loaded.playbook.issues.publish_throttle)
    queued = outbox.enqueue(session=session, workspace_id=workspace_id, drafts=[draft], spacing=spacing,
                            actor=actor.name, now=now)
    message = queued.messages[0]
    if not queued.created:
        raise Conflict(f"this reply to mention {mention_id} is already in the outbox (message {message.id}, "
                       f"{message.state}); it is not sent twice", field="text")
    details: dict[str, Any] = {"message_id": message.id, "channel": channel.slug, "template": template,
                               "private": private, "excerpt": _excerpt(body)}
    if note is not None:
        details["note"] = note
    audit.record(session=session, workspace_id=workspace_id, actor=actor.name,
                 action="work.taken_private" if private else "work.replied", subject_type="mention",
                 subject_id=mention_id, details=details).at = now
    session.flush()  # the person's entry comes before the workflow's "responded" in the trail
    revision = item.revision
    # The workflow's own rule for a brand reply: responded, response clock met, audited.
    write_plans(session, [Plan(answers=mention_id, answered_at=now, runtime=runtime)], now=now)
    if item.revision == revision:  # a response at the same instant was already counted
        item.revision += 1
        item.updated_at = now
    return Replied(item, message, channel.slug)


# ------------------------------------------------------------------------------------------ escalating


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    """Where an escalation sends the item and whom it alerts."""

    queue: str
    team: str
    priority: str
    rule: str  # the routing rule a red flag matches, or "default" when none does
    targets: tuple[str, ...]  # the playbook's red-flag alert targets
    on_call: str | None  # the e-mail of the receiving team's on-call person now
    unassigns: bool  # the item changes team, so it goes back to the receiving queue

    def describe(self) -> str:
        alerted = [*self.targets, *([self.on_call] if self.on_call else [])]
        where = f"queue {self.queue} ({self.team}) at priority {self.priority}"
        return f"{where}; alerts {', '.join(alerted) if alerted else 'nobody (no red-flag targets)'}"


@dataclass(frozen=True, slots=True)
class Escalated:
    item: WorkItem
    plan: EscalationPlan
    alerts: int  # alert rows queued


def plan_escalation(session: Session, *, runtime: WorkflowRuntime, item: WorkItem, now: datetime) -> EscalationPlan:
    """Route the mention as if it were red: the playbook's escalation queue and priority, never lower."""
    mention = session.get(Mention, item.mention_id)
    assert mention is not None  # the work item's foreign key cascades deletes
    triage = session.get(MentionTriage, item.mention_id)
    verdict = None if triage is None else {
        "flag": triage.flag, "category": triage.category, "category_group": triage.category_group,
        "sentiment": triage.sentiment, "intent": triage.intent, "offensive": triage.offensive,
        "confidence": triage.confidence}
    facts = mention_facts(mention, verdict, load_context(session, [mention], now=now))
    facts["flag"] = "red"
    route = runtime.router.route(facts)
    if route.rule == "default":  # the playbook routes no red flag anywhere special: stay, but urgently
        queue, team, priority = item.queue, item.team, "urgent"
    else:
        queue, team, priority = route.queue, route.team, route.priority
    if PRIORITY_RANK.get(item.priority, 9) < PRIORITY_RANK.get(priority, 9):
        priority = item.priority
    team_spec = runtime.teams.get(team)
    on_call = runtime.on_call(team_spec, now) if team_spec is not None else None
    return EscalationPlan(queue=queue, team=team, priority=priority, rule=route.rule,
                          targets=tuple(runtime.alerts.targets_for("red_flag")), on_call=on_call,
                          unassigns=team != item.team and item.assignee_id is not None)


def escalate(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, reason: str, actor: Actor,
    now: datetime, public_url: str, expected_revision: int | None = None,
) -> Escalated:
    """Raise the item to the escalation queue and priority, and alert the red-flag targets and the on-call person.

    Needs the `escalate` permission and a reason; an item is escalated once (409 the second time).
    """
    require_permission(runtime, actor, "escalate", "escalate a mention")
    why = _reason(reason, required=True, doing="escalate")
    assert why is not None
    item = get_item(session, workspace_id, mention_id, lock=True)
    check_revision(item, expected_revision)
    if item.state in _CLOSED:
        raise InvalidInput(f"mention {mention_id} is {item.state}; reopen it before escalating", field="state")
    earlier = session.execute(
        select(AuditEntry.actor, AuditEntry.at).where(
            AuditEntry.subject_type == "mention", AuditEntry.subject_id == str(mention_id),
            AuditEntry.workspace_id == workspace_id, AuditEntry.action == "work.escalated")
        .order_by(AuditEntry.id).limit(1)).first()
    if earlier is not None:
        raise Conflict(f"mention {mention_id} was already escalated by {earlier.actor} at "
                       f"{earlier.at:%Y-%m-%d %H:%M} UTC; its alerts went out then", field="reason")
    plan = plan_escalation(session, runtime=runtime, item=item, now=now)
    before = {"queue": item.queue, "priority": item.priority, "assignee_id": item.assignee_id, "state": item.state}
    item.queue, item.team, item.priority = plan.queue, plan.team, plan.priority
    if plan.queue != before["queue"]:
        item.route_rule = "escalated"
    if plan.unassigns:
        item.assignee_id = None
        item.assigned_at = None
        if item.state == "assigned":
            item.state = "new"
    item.updated_at = now
    item.revision += 1
    mention = session.get(Mention, mention_id)
    slug = session.scalar(select(Workspace.slug).where(Workspace.id == workspace_id)) or ""
    assert mention is not None
    drafts = _escalation_alerts(session, mention, item, plan, reason=why, actor=actor,
                                link=mention_link(public_url, slug, mention_id))
    stored = alerts_outbox.enqueue(session=session, alerts=drafts, now=now)
    audit.record(session=session, workspace_id=workspace_id, actor=actor.name, action="work.escalated",
                 subject_type="mention", subject_id=mention_id, details={
                     "reason": why, "from": before, "queue": plan.queue, "priority": plan.priority, "rule": plan.rule,
                     "unassigned": plan.unassigns, "alerted": [draft.target for draft in drafts]}).at = now
    return Escalated(item, plan, stored)


def _escalation_alerts(session: Session, mention: Mention, item: WorkItem, plan: EscalationPlan, *, reason: str,
                       actor: Actor, link: str) -> list[AlertDraft]:
    triage = session.get(MentionTriage, mention.id)
    flag = triage.flag if triage else "unflagged"
    category = (triage.category if triage else "uncategorised").replace("_", " ")
    subject = f"ESCALATED {flag} {category}: {_excerpt(mention.text)[:90]}"
    body = "\n".join([
        f"{actor.name} escalated a mention to queue {plan.queue} (priority {plan.priority}).",
        f"Why: {reason}",
        "",
        f"Post: {_excerpt(mention.text)}",
        f"Recommended: {item.action}",
        f"Open: {link}",
    ])
    payload = {"escalated_by": actor.name, "reason": reason, "queue": plan.queue, "flag": flag, "link": link}
    key = f"escalated:mention:{mention.id}"
    drafts = [AlertDraft(workspace_id=mention.workspace_id, target=target, kind="red_flag", dedupe_key=key,
                         subject=subject, body=body, link=link, mention_id=mention.id, payload=payload)
              for target in plan.targets]
    if plan.on_call:
        drafts.append(AlertDraft(workspace_id=mention.workspace_id, target=person_target(plan.on_call),
                                 kind="escalation", dedupe_key=key, subject=subject, body=body, link=link,
                                 mention_id=mention.id, payload=payload))
    return drafts


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class ThreadPost:
    mention_id: int
    direction: str  # outbound: the brand's own post
    text: str
    created_at: datetime
    url: str | None
    handle: str | None
    display_name: str | None
    flag: str | None
    has_work: bool  # has a mention page of its own
    current: bool


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation in order, around one mention: long threads show the first post and a window."""

    posts: list[ThreadPost]
    total: int
    hidden_before: int  # posts between the first one and the window
    hidden_after: int


def thread(session: Session, *, workspace_id: int, mention_id: int) -> Thread:
    """The mention's conversation on its channel, oldest first, with the brand's own replies marked."""
    mention = session.scalar(select(Mention).where(Mention.workspace_id == workspace_id, Mention.id == mention_id))
    if mention is None:
        return Thread([], 0, 0, 0)
    if mention.conversation_id is None:
        order = [mention.id]
    else:
        order = list(session.scalars(
            select(Mention.id).where(Mention.workspace_id == workspace_id, Mention.channel_id == mention.channel_id,
                                     Mention.conversation_id == mention.conversation_id)
            .order_by(Mention.created_at, Mention.id)))
    at = order.index(mention.id)
    start, end = max(0, at - THREAD_AROUND), min(len(order), at + THREAD_AROUND + 1)
    shown = ([order[0]] if start > 0 else []) + order[start:end]
    rows = {row.id: row for row in session.execute(
        select(Mention.id, Mention.direction, Mention.text, Mention.created_at, Mention.url, Author.handle,
               Author.display_name, MentionTriage.flag, WorkItem.mention_id.label("work"))
        .outerjoin(Author, Author.id == Mention.author_id)
        .outerjoin(MentionTriage, MentionTriage.mention_id == Mention.id)
        .outerjoin(WorkItem, WorkItem.mention_id == Mention.id)
        .where(Mention.id.in_(shown)))}
    posts = [ThreadPost(mention_id=row.id, direction=row.direction, text=row.text, created_at=row.created_at,
                        url=row.url, handle=row.handle, display_name=row.display_name, flag=row.flag,
                        has_work=row.work is not None, current=row.id == mention.id)
             for row in (rows[post_id] for post_id in shown)]
    return Thread(posts, len(order), max(0, start - 1), len(order) - end)


@dataclass(frozen=True, slots=True)
class AuthorPost:
    mention_id: int
    created_at: datetime
    flag: str | None
    text: str
    has_work: bool


@dataclass(frozen=True, slots=True)
class AuthorCard:
    """Who wrote the mention, and what they have said to the brand before."""

    handle: str
    network: str
    display_name: str | None
    followers: int | None
    verified: bool
    tags: list[str]
    total: int  # their inbound mentions in this workspace, this one included
    negative: int
    red: int
    previous: list[AuthorPost]  # the latest PREVIOUS_POSTS before or after this one, newest first


def author_card(session: Session, *, workspace_id: int, mention_id: int) -> AuthorCard | None:
    """The author of the mention with their history in this workspace; None for a post without an author."""
    author = session.scalar(select(Author).join(Mention, Mention.author_id == Author.id).where(
        Mention.workspace_id == workspace_id, Mention.id == mention_id))
    if author is None:
        return None
    theirs = (Mention.author_id == author.id, Mention.workspace_id == workspace_id, Mention.direction == "inbound")
    total, negative, red = session.execute(
        select(func.count(), func.count(MentionTriage.mention_id).filter(MentionTriage.sentiment == "negative"),
               func.count(MentionTriage.mention_id).filter(MentionTriage.flag == "red"))
        .select_from(Mention).outerjoin(MentionTriage, MentionTriage.mention_id == Mention.id).where(*theirs)).one()
    previous = [
        AuthorPost(mention_id=row.id, created_at=row.created_at, flag=row.flag, text=_excerpt(row.text),
                   has_work=row.work is not None)
        for row in session.execute(
            select(Mention.id, Mention.created_at, Mention.text, MentionTriage.flag,
                   WorkItem.mention_id.label("work"))
            .outerjoin(MentionTriage, MentionTriage.mention_id == Mention.id)
            .outerjoin(WorkItem, WorkItem.mention_id == Mention.id)
            .where(*theirs, Mention.id != mention_id)
            .order_by(Mention.created_at.desc(), Mention.id.desc()).limit(PREVIOUS_POSTS))
    ]
    return AuthorCard(handle=author.handle, network=author.network, display_name=author.display_name,
                      followers=author.follower_count, verified=author.verified, tags=list(author.tags or []),
                      total=int(total), negative=int(negative), red=int(red), previous=previous)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply or moderation queued for the mention, and how far the outbox got with it."""

    message_id: int
    kind: str
    body: str
    state: str
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    created_by: str


def outgoing(session: Session, *, workspace_id: int, mention_id: int) -> list[Outgoing]:
    """The replies and moderations queued from Firebreak for this mention, oldest first."""
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.workspace_id == workspace_id,
        OutboxMessage.idempotency_key.like(f"mention:{mention_id}:%")).order_by(OutboxMessage.id))
    return [Outgoing(message_id=row.id, kind=row.kind, body=row.body, state=row.state,
                     next_attempt_at=row.next_attempt_at, sent_at=row.sent_at, last_error=row.last_error,
                     created_by=row.created_by) for row in rows]
