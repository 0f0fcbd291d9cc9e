"""Moderating a mention: hide it, delete it or report it as spam, as the playbook's authority allows.

No network connector can moderate yet. The decision is recorded (audit log) and, when the mention's
channel has an outbound connector, queued in the durable outbox as a message of kind `moderate`: the
webhook connector hands the bridge `{"kind": "moderate", "body": "hide", "in_reply_to": <the post's
id>, ...}` like any other message, and it is up to the bridge to carry it out. Without a connector
the decision is recorded only, and the result says so, so nobody believes a post was hidden when it
was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.channels.models import Channel
from firebreak.core.errors import Conflict, Forbidden, InvalidInput
from firebreak.mentions.service import get_mention
from firebreak.outbox import service as outbox
from firebreak.outbox.connectors import OutboundChannel, cannot_send
from firebreak.outbox.models import OutboxMessage
from firebreak.routing import Offer, check_authority
from firebreak.routing.authority import OfferKind
from firebreak.workflow.actions import Actor
from firebreak.workflow.runtime import WorkflowRuntime

# action -> (the authority it needs in the playbook's roles, what it does in words)
MODERATIONS: dict[str, tuple[OfferKind, str]] = {
    "hide": ("hide_post", "hide the post"),
    "delete": ("delete_post", "delete the post"),
    "report_spam": ("hide_post", "report the post as spam"),
}
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Moderated:
    """The decision, and the outbox message carrying it out (None, with why, when it could not be queued)."""

    action: str
    channel: str
    message: OutboxMessage | None
    not_queued: str | None


def moderate(
    session: Session, *, runtime: WorkflowRuntime, workspace_id: int, mention_id: int, action: str,
    reason: str | None, actor: Actor, now: datetime,
) -> Moderated:
    """Record the moderation of a customer's post and queue it for the channel's connector.

    Hiding and reporting spam need the `hide_post` authority, deleting `delete_post`; a refusal names
    the roles that have it. The same action twice on one post is refused (409): it is queued already.
    """
    if action not in MODERATIONS:
        raise InvalidInput(f"unknown moderation {action!r}; choose {', '.join(MODERATIONS)}", field="action")
    authority, doing = MODERATIONS[action]
    decision = check_authority(runtime.roles, actor.roles, Offer(authority))
    if not decision.allowed:
        ask = f"; ask someone with the {' or '.join(decision.approvers)} role" if decision.approvers else ""
        raise Forbidden(f"{actor.name} may not {doing}: {decision.reason}{ask}")
    cleaned = (reason or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_REASON:
        raise InvalidInput(f"the reason is {len(cleaned)} characters; at most {MAX_REASON}", field="reason")
    mention = get_mention(session=session, workspace_id=workspace_id, mention_id=mention_id)
    if mention.direction != "inbound":
        raise InvalidInput(f"mention {mention_id} is the brand's own post; moderation is for posts by others",
                           field="action")
    channel = session.get(Channel, mention.channel_id)
    assert channel is not None  # the mention's foreign key cascades deletes
    not_queued = cannot_send(OutboundChannel.of(channel))
    message: OutboxMessage | None = None
    if not_queued is None:
        queued = outbox.enqueue(session=session, workspace_id=workspace_id, drafts=[outbox.OutboxDraft(
            channel_id=channel.id, kind="moderate", idempotency_key=f"mention:{mention_id}:moderate:{action}",
            body=action, in_reply_to=mention.external_id, conversation_id=mention.conversation_id,
            payload={"mention_id": mention_id, "action": action, "reason": cleaned})],
            spacing=timedelta(0), actor=actor.name, now=now)
        message = queued.messages[0]
        if not queued.created:
            raise Conflict(f"{action.replace('_', ' ')} of mention {mention_id} is already queued (outbox message "
                           f"{message.id}, {message.state})", field="action")
    audit.record(session=session, workspace_id=workspace_id, actor=actor.name, action="work.moderated",
                 subject_type="mention", subject_id=mention_id, details={
                     "action": action, "reason": cleaned, "channel": channel.slug,
                     "message_id": message.id if message else None, "not_queued": not_queued}).at = now
    return Moderated(action, channel.slug, message, not_queued)
