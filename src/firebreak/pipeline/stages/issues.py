"""The issues stage: link each arriving mention to the open issues of its workspace whose rules it matches."""

from __future__ import annotations

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock, SystemClock
from firebreak.issues import autolink
from firebreak.pipeline.base import Stage, WorkItem


class IssuesStage(Stage):
    """Match outside the write lock (one query for the open issues' rules per batch), then link in bulk.

    A batch whose workspaces have no open issue with rules costs that one query and nothing else.
    """

    name = "issues"

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._matchers = autolink.MatcherCache()

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        inbound = [item for item in items if item.mention.direction == "inbound"]
        rules = autolink.open_issue_rules(session, {item.mention.workspace_id for item in inbound})
        if not rules:
            return
        matched: list[tuple[WorkItem, list[autolink.RuleMatch]]] = []
        for item in inbound:
            issues = rules.get(item.mention.workspace_id)
            if issues is None:
                continue
            mention = item.mention
            triage = item.data.get("triage") or {}
            entities = mention.entities or {}
            matches = self._matchers.matcher(mention.workspace_id, issues).match(
                mention.normalized_text or mention.text, category=triage.get("category"),
                tags=[*entities.get("hashtags", ()), *entities.get("cashtags", ())])
            if matches:
                matched.append((item, matches))
        kinds = autolink.channel_kinds(session, {item.mention.channel_id for item, _ in matched})
        for item, matches in matched:
            kind = kinds.get(item.mention.channel_id, "unknown")
            item.data[self.name] = [autolink.link_row(item.mention, match, channel_kind=kind) for match in matches]

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        rows = [row for item in items for row in item.data.get(self.name, ())]
        autolink.store_links(session, rows, now=self._clock.now())
