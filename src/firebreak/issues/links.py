"""Which mentions are part of an issue's conversation: linking by hand or by rule, and the link rules.

A link remembers where the mention was posted (channel, site, thread) so the ripple map can count
the conversation by place and time, and so the final answer can be posted back into every thread.
Linking is idempotent: a mention is linked to an issue once, whoever links it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.issues import timeline
from firebreak.issues.models import Issue, IssueMention
from firebreak.mentions.models import Mention

LINK_RULE_KEYS = ("keywords", "categories", "products")
MAX_RULE_VALUES = 50
MAX_RULE_LENGTH = 200
MAX_LINK_BATCH = 1000
_SITE_MAX = 200


def normalise_link_rules(rules: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Return the rules as {keywords, categories, products}: trimmed, de-duplicated lists of words.

    Keywords keep their case for display (matching is the linker's business); categories and products
    are ids, compared lower-case.
    """
    if rules is None:
        return {key: [] for key in LINK_RULE_KEYS}
    if not isinstance(rules, Mapping):
        raise InvalidInput("link rules are an object with keywords, categories and products", field="link_rules")
    unknown = sorted(set(rules) - set(LINK_RULE_KEYS))
    if unknown:
        raise InvalidInput(f"unknown link rule {', '.join(map(repr, unknown))}; rules are "
                           f"{', '.join(LINK_RULE_KEYS)}", field="link_rules")
    cleaned: dict[str, list[str]] = {}
    for key in LINK_RULE_KEYS:
        values = rules.get(key) or []
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise InvalidInput(f"link rule {key} is a list of words, not {values!r}", field=f"link_rules.{key}")
        words: list[str] = []
        for value in values:
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"link rule {key} holds {value!r}; each entry is a non-empty text",
                                   field=f"link_rules.{key}")
            word = " ".join(value.split())
            if key != "keywords":
                word = word.lower()
            if len(word) > MAX_RULE_LENGTH:
                raise InvalidInput(f"link rule {key} entry {word[:40]!r}... is longer than {MAX_RULE_LENGTH} "
                                   "characters", field=f"link_rules.{key}")
            if word not in words:
                words.append(word)
        if len(words) > MAX_RULE_VALUES:
            raise InvalidInput(f"link rule {key} has {len(words)} entries; at most {MAX_RULE_VALUES}",
                               field=f"link_rules.{key}")
        cleaned[key] = words
    return cleaned


def site_of(url: str | None, channel_kind: str) -> str:
    """Where a mention was posted, for the ripple map: the URL's host, else the channel kind."""
    if url:
        try:
            host = urlsplit(url.strip()).hostname
        except ValueError:
            host = None
        if host:
            return host[:_SITE_MAX]
    return channel_kind


def link_mentions(session: Session, issue: Issue, mention_ids: Iterable[int], *, actor_name: str, now: datetime,
                  linked_by: str) -> int:
    """Link the mentions to the issue and return how many were not linked before.

    Every mention must belong to the issue's workspace (InvalidInput naming the others). `linked_by`
    is the person, or "rule:<what matched>" for the automatic linker; `actor_name` goes on the timeline.
    """
    wanted = list(dict.fromkeys(int(mention_id) for mention_id in mention_ids))
    if not wanted:
        return 0
    if len(wanted) > MAX_LINK_BATCH:
        raise InvalidInput(f"link at most {MAX_LINK_BATCH} mentions at a time, not {len(wanted)}",
                           field="mention_ids")
    found = session.execute(
        select(Mention.id, Mention.channel_id, Mention.url, Mention.conversation_id, Mention.created_at, Channel.kind)
        .join(Channel, Channel.id == Mention.channel_id)
        .where(Mention.workspace_id == issue.workspace_id, Mention.id.in_(wanted))).all()
    missing = sorted(set(wanted) - {row.id for row in found})
    if missing:
        shown = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InvalidInput(f"no mention {shown} in this workspace", field="mention_ids")
    rows = [{
        "workspace_id": issue.workspace_id, "issue_id": issue.id, "mention_id": row.id, "channel_id": row.channel_id,
        "site": site_of(row.url, row.kind), "conversation_id": row.conversation_id, "posted_at": row.created_at,
        "linked_at": now, "linked_by": linked_by,
    } for row in found]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # Linking races with the automatic linker; the unique (issue, mention) index settles who wins.
    stmt = insert(IssueMention).values(rows).on_conflict_do_nothing(index_elements=["issue_id", "mention_id"])
    linked = sorted(session.scalars(stmt.returning(IssueMention.mention_id)).all())
    if linked:
        timeline.record(session, issue, kind="mentions.linked", actor=actor_name, at=now,
                        details={"mention_ids": linked, "count": len(linked), "linked_by": linked_by})
    return len(linked)


def unlink_mention(session: Session, issue: Issue, mention_id: int, *, actor_name: str, now: datetime) -> None:
    """Take a mention out of the issue's conversation (NotFound when it was not linked)."""
    removed = session.execute(delete(IssueMention).where(
        IssueMention.issue_id == issue.id, IssueMention.mention_id == mention_id).returning(IssueMention.id)).all()
    if not removed:
        raise NotFound(f"mention {mention_id} is not linked to issue {issue.number}")
    timeline.record(session, issue, kind="mention.unlinked", actor=actor_name, at=now,
                    details={"mention_id": mention_id})
