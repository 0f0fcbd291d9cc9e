"""Link arriving mentions to the open issues whose rules they match, so the ripple map follows the conversation.

An issue's `link_rules` hold keywords, triage categories and products:

    {"keywords": ["battery drain", "latch"], "categories": ["product_criticism"], "products": ["Latch Pro"]}

A mention matches when any rule does (keywords and products as whole words in its text, a product also
as a #hashtag or $cashtag written without spaces, a category as its triage category), and it is linked
with `linked_by = "rule:<what matched>"`. Only inbound mentions are linked: the brand's own posts are
not customers talking. The pipeline stage (pipeline/stages/issues.py) matches in its read phase with one
automaton per workspace, compiled once and reused until an issue's rules or the set of open issues
changes, and writes the links in bulk; a link that exists already is skipped, so a retried mention
changes nothing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ahocorasick
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.issues import timeline
from firebreak.issues.links import site_of
from firebreak.issues.models import Issue, IssueMention
from firebreak.mentions.models import Mention
from firebreak.triage.textnorm import normalise_for_matching

RULE_PREFIX = "rule:"
# Who the timeline names for links the rules made.
RULES_ACTOR = "link rules"
LINKED_EVENT = "mentions.linked"
_LINKED_BY_MAX = IssueMention.__table__.c.linked_by.type.length
# Rows per INSERT: well under SQLite's 32,766 bound parameters (9 per row).
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One issue a mention belongs to, and the rule that said so (as written on the issue)."""

    issue_id: int
    rule: str

    @property
    def linked_by(self) -> str:
        return (RULE_PREFIX + self.rule)[:_LINKED_BY_MAX]


def _strings(rules: Mapping[str, Any], key: str) -> list[str]:
    values = rules.get(key) or []
    return [value.strip() for value in values if isinstance(value, str) and value.strip()]


class IssueMatcher:
    """The link rules of one workspace's open issues, compiled so that matching a post is one scan."""

    def __init__(self, issues: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        phrases: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self._tags: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self._categories: dict[str, list[int]] = defaultdict(list)
        self._order = [issue_id for issue_id, _ in issues]
        for issue_id, rules in issues:
            for keyword in _strings(rules, "keywords"):
                key = normalise_for_matching(keyword)
                if key:
                    phrases[key].append((issue_id, keyword))
            for product in _strings(rules, "products"):
                key = normalise_for_matching(product)
                if key:
                    phrases[key].append((issue_id, product))
                    self._tags[key.replace(" ", "")].append((issue_id, product))
            for category in _strings(rules, "categories"):
                self._categories[category].append(issue_id)
        self._automaton: Any = None
        if phrases:
            self._automaton = ahocorasick.Automaton()
            for key, owners in phrases.items():
                self._automaton.add_word(key, (len(key), tuple(owners)))
            self._automaton.make_automaton()

    @property
    def empty(self) -> bool:
        """Whether no rule could ever match (no open issue has rules)."""
        return self._automaton is None and not self._tags and not self._categories

    def match(self, text: str, *, category: str | None = None, tags: Iterable[str] = ()) -> list[RuleMatch]:
        """Return the issues this post matches, one each, with the first rule that fired (text first)."""
        found: dict[int, str] = {}
        if self._automaton is not None:
            norm = normalise_for_matching(text)
            for end_index, (length, owners) in self._automaton.iter(norm):
                start, end = end_index - length + 1, end_index + 1
                # Whole words only: "latch" must not fire inside "latched" or "unlatch".
                if (start > 0 and norm[start - 1] != " ") or (end < len(norm) and norm[end] != " "):
                    continue
                for issue_id, rule in owners:
                    found.setdefault(issue_id, rule)
        for tag in tags:
            for issue_id, product in self._tags.get(normalise_for_matching(tag).replace(" ", ""), ()):
                found.setdefault(issue_id, product)
        if category is not None:
            for issue_id in self._categories.get(category, ()):
                found.setdefault(issue_id, category)
        return [RuleMatch(issue_id, found[issue_id]) for issue_id in self._order if issue_id in found]


class MatcherCache:
    """One compiled matcher per workspace, rebuilt only when its open issues or their rules change."""

    def __init__(self) -> None:
        self._compiled: dict[int, tuple[str, IssueMatcher]] = {}
        self._lock = threading.Lock()

    def matcher(self, workspace_id: int, issues: Sequence[tuple[int, Mapping[str, Any]]]) -> IssueMatcher:
        """Return the matcher for these issues of the workspace (compiled on first sight of this set)."""
        signature = json.dumps(issues, sort_keys=True, default=str)
        kept = self._compiled.get(workspace_id)
        if kept is not None and kept[0] == signature:
            return kept[1]
        matcher = IssueMatcher(issues)
        with self._lock:
            self._compiled[workspace_id] = (signature, matcher)
        return matcher


def open_issue_rules(session: Session, workspace_ids: Iterable[int]) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    """Return, per workspace, its open issues that have link rules, as (issue id, rules), oldest first."""
    ids = sorted(set(workspace_ids))
    if not ids:
        return {}
    found: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    rows = session.execute(
        select(Issue.workspace_id, Issue.id, Issue.link_rules)
        .where(Issue.workspace_id.in_(ids), Issue.state == "open")
        .order_by(Issue.id)
    )
    for workspace_id, issue_id, rules in rows:
        if rules and any(_strings(rules, key) for key in ("keywords", "categories", "products")):
            found.setdefault(workspace_id, []).append((issue_id, rules))
    return found


def channel_kinds(session: Session, channel_ids: Iterable[int]) -> dict[int, str]:
    """Return the kind of each channel."""
    ids = sorted(set(channel_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Channel.id, Channel.kind).where(Channel.id.in_(ids))).all())


def link_row(mention: Mention, match: RuleMatch, *, channel_kind: str) -> dict[str, Any]:
    """Return the `issue_mentions` row (less `linked_at`) linking `mention` to the matched issue."""
    return {
        "workspace_id": mention.workspace_id,
        "issue_id": match.issue_id,
        "mention_id": mention.id,
        "channel_id": mention.channel_id,
        "site": site_of(mention.url, channel_kind),
        "conversation_id": mention.conversation_id,
        "posted_at": mention.created_at,
        "linked_by": match.linked_by,
    }


def store_links(session: Session, rows: Sequence[dict[str, Any]], *, now: datetime) -> dict[int, int]:
    """Insert the links that are new, for issues still open, and put one timeline event per issue.

    Returns the number of new links per issue. Links that exist already (a retried mention, a person
    who linked it first) are skipped and not counted.
    """
    if not rows:
        return {}
    issues = {issue.id: issue for issue in session.scalars(
        select(Issue).where(Issue.id.in_({row["issue_id"] for row in rows}), Issue.state == "open"))}
    wanted = [{**row, "linked_at": now} for row in rows if row["issue_id"] in issues]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    created: list[tuple[int, int, str]] = []
    for start in range(0, len(wanted), _CHUNK):
        stmt = insert(IssueMention).values(wanted[start:start + _CHUNK]).on_conflict_do_nothing(
            index_elements=["issue_id", "mention_id"])
        # RETURNING yields only the rows inserted: exact counts on both databases.
        created += session.execute(stmt.returning(
            IssueMention.issue_id, IssueMention.mention_id, IssueMention.linked_by)).all()
    by_issue: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for issue_id, mention_id, linked_by in created:
        by_issue[issue_id].append((mention_id, linked_by))
    for issue_id, links in sorted(by_issue.items()):
        timeline.record(session, issues[issue_id], kind=LINKED_EVENT, actor=RULES_ACTOR, at=now, details={
            "count": len(links),
            "mention_ids": sorted(mention_id for mention_id, _ in links),
            "rules": dict(sorted(Counter(linked_by.removeprefix(RULE_PREFIX) for _, linked_by in links).items())),
        })
    return {issue_id: len(links) for issue_id, links in by_issue.items()}
