"""Put alerts in the outbox inside the caller's transaction, so an alert exists exactly when its cause does.

The pipeline calls `enqueue` in the same write transaction that stores a red-flag verdict: if that
transaction rolls back, no alert is left behind, and once it commits the dispatcher will deliver it
however often the process restarts. A repeated dedupe key is silently skipped, so re-processing a
mention never alerts twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from firebreak.core.errors import InvalidInput
from firebreak.notify.models import Alert
from firebreak.notify.schema import ALERT_KINDS

_SUBJECT_MAX = Alert.__table__.c.subject.type.length
_DEDUPE_KEY_MAX = Alert.__table__.c.dedupe_key.type.length
_TARGET_MAX = Alert.__table__.c.target.type.length


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert to store: what to say, to which target, and the key that makes it unique there.

    The dedupe key names the event, not the message ("red_flag:mention:1234",
    "sla_breach:clock:77:first_response"), so the same event queued twice is stored once per target.
    """

    workspace_id: int
    target: str
    kind: str
    dedupe_key: str
    subject: str
    body: str
    link: str | None = None
    mention_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def enqueue(*, session: Session, alerts: Sequence[AlertDraft], now: datetime) -> int:
    """Store `alerts` as pending, skipping any already stored; return how many were new."""
    if not alerts:
        return 0
    rows = [_row(draft, now) for draft in alerts]
    # One cached statement run over every row (SQLAlchemy pages it into multi-row INSERTs), instead of
    # a statement with a VALUES list of its own compiled for each call.
    # RETURNING yields only the rows inserted; rowcount is not reliable for multi-row inserts on psycopg.
    return len(session.execute(_insert_statement(session.get_bind().dialect.name), rows).all())


@lru_cache(maxsize=2)
def _insert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(Alert).on_conflict_do_nothing(
        index_elements=["workspace_id", "target", "dedupe_key"]).returning(Alert.id)


def _row(draft: AlertDraft, now: datetime) -> dict[str, Any]:
    if draft.kind not in ALERT_KINDS:
        raise InvalidInput(f"unknown alert kind {draft.kind!r}; known: {', '.join(ALERT_KINDS)}", field="kind")
    if not draft.target or len(draft.target) > _TARGET_MAX:
        raise InvalidInput(f"alert target {draft.target!r} must be 1 to {_TARGET_MAX} characters", field="target")
    if not draft.dedupe_key or len(draft.dedupe_key) > _DEDUPE_KEY_MAX:
        raise InvalidInput(f"dedupe key {draft.dedupe_key!r} must be 1 to {_DEDUPE_KEY_MAX} characters",
                           field="dedupe_key")
    subject = draft.subject if len(draft.subject) <= _SUBJECT_MAX else draft.subject[:_SUBJECT_MAX - 1] + "…"
    return {
        "workspace_id": draft.workspace_id,
        "target": draft.target,
        "kind": draft.kind,
        "dedupe_key": draft.dedupe_key,
        "subject": subject,
        "body": draft.body,
        "link": draft.link,
        "mention_id": draft.mention_id,
        "payload": draft.payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
