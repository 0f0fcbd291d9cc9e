"""The aftermath of an issue: follow up with everyone who complained, brief the executives, learn the lessons.

    follow_ups(session, runtime=rt, workspace_id=ws, issue_id=7, base_url=url)   # who to ask, and the text
    mark_followed_up(session, runtime=rt, workspace_id=ws, issue_id=7, author_id=42, actor=me, now=now)
    summary = executive_summary(session, runtime=rt, workspace_id=ws, issue_id=7, now=now)
    page = summary_html(summary)                                                      # printable, self-contained
    add_lesson(session, runtime=rt, workspace_id=ws, issue_id=7, actor=me, now=now, text="...",
               proposed_change="sla:\\n  policies: ...")                              # a playbook change, checked
    export_timeline(session, workspace_id=ws, issue_id=7)

A complaint is a linked inbound mention whose triage found it negative, or whose intent is a complaint
or a threat. A follow-up is recorded as an event on the issue's timeline, so the list knows who has
been asked and the timeline shows who asked when. Nothing here reads the clock: callers pass `now`.
"""

from __future__ import annotations

import html
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from firebreak.accounts.models import User
from firebreak.channels.models import Channel
from firebreak.core.durations import format_duration
from firebreak.core.errors import InvalidInput, NotFound
from firebreak.issues import timeline
from firebreak.issues.access import get_issue, require, require_owner_or, stakeholder_roles
from firebreak.issues.models import (
    Issue,
    IssueEvent,
    IssueLesson,
    IssueMention,
    IssueStage,
    IssueStakeholder,
    IssueTask,
    Publication,
)
from firebreak.issues.newsroom import link_for
from firebreak.issues.ripple import ripple_map, workspace_zone
from firebreak.lifecycle import render
from firebreak.mentions.models import Author, Mention
from firebreak.playbook.schema import Playbook
from firebreak.triage.models import MentionTriage
from firebreak.workflow import clocks
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import SlaClock
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces.models import Workspace

FOLLOWED_UP = "follow_up.done"
LESSON_ADDED = "lesson.added"
COMPLAINT_INTENTS = ("complaint", "threat")
SENTIMENTS = ("negative", "neutral", "positive")
# Sections a lesson may propose changing: every top-level key of a playbook.
PLAYBOOK_SECTIONS = tuple(Playbook.model_fields)
LESSON_MAX = 20_000
CHANGE_MAX = 100_000
NOTE_MAX = 2000
# Threads the summary quotes: the busiest ones, enough for a page.
SUMMARY_THREADS = 10
EXCERPT_CHARS = 280


# ---------------------------------------------------------------------------------------------- follow-ups


def _complaint() -> ColumnElement[bool]:
    return or_(MentionTriage.sentiment == "negative", MentionTriage.intent.in_(COMPLAINT_INTENTS))


def _followed_up(session: Session, issue_id: int) -> dict[int, dict[str, Any]]:
    """Who has been followed up, by author id: the first time each was, by whom, with what note."""
    done: dict[int, dict[str, Any]] = {}
    for event in session.scalars(select(IssueEvent).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == FOLLOWED_UP).order_by(IssueEvent.id)):
        author_id = event.details.get("author_id")
        if isinstance(author_id, int) and author_id not in done:
            done[author_id] = {"at": event.at, "by": event.actor, "note": event.details.get("note")}
    return done


def _latest_publication(session: Session, issue_id: int) -> Publication | None:
    return session.scalar(select(Publication).where(Publication.issue_id == issue_id)
                          .order_by(Publication.published_at.desc(), Publication.id.desc()).limit(1))


def _links(session: Session, workspace_id: int, base_url: str | None) -> Callable[[Publication], str | None]:
    """How to name a publication's public page (no link without a base URL)."""
    if base_url is None:
        return lambda publication: None
    workspace_slug = session.scalar(select(Workspace.slug).where(Workspace.id == workspace_id)) or ""
    return lambda publication: link_for(base_url, workspace_slug, publication.slug)


def _template_values(session: Session, issue: Issue, link: str | None) -> dict[str, str]:
    """The values the issue's texts can use; a missing one stays visible as `{name}` in the text."""
    values = {"title": issue.title, "issue": str(issue.number)}
    brand = session.scalar(select(Workspace.name).where(Workspace.id == issue.workspace_id))
    if brand:
        values["brand"] = brand
    products = (issue.link_rules or {}).get("products") or []
    if products:
        values["product"] = str(products[0])
    if link:
        values["link"] = link
    return values


def follow_ups(session: Session, *, runtime: WorkflowRuntime, workspace_id: int, issue_id: int,
               base_url: str | None = None) -> list[dict[str, Any]]:
    """Return every author of a linked complaint: who, where, their posts, whether asked yet, and the message.

    The message is the playbook's `follow_up_template`, with `{link}` the issue's latest publication on
    the newsroom at `base_url` (kept as `{link}` until something is published), one per author; authors
    come in the order they first complained.
    """
    issue = get_issue(session, workspace_id, issue_id)
    template: str = runtime.loaded.playbook.issues.follow_up_template
    publication = _latest_publication(session, issue.id)
    values = _template_values(session, issue, _links(session, workspace_id, base_url)(publication)
                              if publication else None)
    done = _followed_up(session, issue.id)
    rows = session.execute(
        select(Author.id, Author.network, Author.handle, Author.display_name, Mention.id, Mention.url, Channel.slug,
               IssueMention.posted_at, MentionTriage.sentiment, MentionTriage.category)
        .select_from(IssueMention)
        .join(Mention, Mention.id == IssueMention.mention_id)
        .join(Author, Author.id == Mention.author_id)
        .join(Channel, Channel.id == IssueMention.channel_id)
        .join(MentionTriage, MentionTriage.mention_id == Mention.id)
        .where(IssueMention.issue_id == issue.id, Mention.direction == "inbound", _complaint())
        .order_by(IssueMention.posted_at, Mention.id)
    )
    authors: dict[int, dict[str, Any]] = {}
    for author_id, network, handle, display_name, mention_id, url, channel, posted_at, sentiment, category in rows:
        entry = authors.get(author_id)
        if entry is None:
            entry = authors[author_id] = {
                "author_id": author_id, "handle": handle, "display_name": display_name, "network": network,
                "channels": [], "posts": [], "followed_up": author_id in done,
                "followed_up_at": done.get(author_id, {}).get("at"),
                "followed_up_by": done.get(author_id, {}).get("by"),
                "followed_up_note": done.get(author_id, {}).get("note"),
                "message": render(template, {**values, "handle": handle.lstrip("@")}),
            }
        if channel not in entry["channels"]:
            entry["channels"].append(channel)
        entry["posts"].append({"mention_id": mention_id, "url": url, "channel": channel, "posted_at": posted_at,
                               "sentiment": sentiment, "category": category})
    for entry in authors.values():
        entry["channel"] = entry["posts"][-1]["channel"]  # where they spoke last: where to reach them
    return list(authors.values())


def mark_followed_up(session: Session, *, runtime: WorkflowRuntime, workspace_id: int, issue_id: int,
                     author_id: int, actor: Actor, now: datetime, note: str | None = None) -> dict[str, Any]:
    """Record that this author was followed up (needs `respond`, or the issue's owner); return their entry.

    Recording it again changes nothing: the first follow-up stands.
    """
    issue = get_issue(session, workspace_id, issue_id, lock=True)
    require_owner_or(session, runtime, issue, actor, "respond", "record a follow-up")
    text = (note or "").strip() or None
    if text is not None and len(text) > NOTE_MAX:
        raise InvalidInput(f"the note is longer than {NOTE_MAX} characters", field="note")
    entries = {entry["author_id"]: entry for entry in follow_ups(session, runtime=runtime,
                                                                 workspace_id=workspace_id, issue_id=issue.id)}
    entry = entries.get(author_id)
    if entry is None:
        raise NotFound(f"author {author_id} has no linked complaint in issue {issue.number}: only people who "
                       "complained are followed up")
    if not entry["followed_up"]:
        timeline.record(session, issue, kind=FOLLOWED_UP, actor=actor.name, at=now,
                        details={"author_id": author_id, "handle": entry["handle"], "note": text})
        entry.update(followed_up=True, followed_up_at=now, followed_up_by=actor.name, followed_up_note=text)
    return entry


# ---------------------------------------------------------------------------------------------- the summary


def _share(counts: Mapping[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    return {"count": total, **{name: counts.get(name, 0) for name in SENTIMENTS},
            "shares": {name: round(counts.get(name, 0) / total, 4) if total else 0.0 for name in SENTIMENTS}}


def sentiment_split(posts: Iterable[tuple[datetime, str]], published_at: datetime | None) -> dict[str, Any]:
    """Split (posted at, sentiment) pairs at the first publication: counts and shares before and after.

    A post at the very moment of publishing counts as after. Without a publication everything is before.
    """
    before: dict[str, int] = defaultdict(int)
    after: dict[str, int] = defaultdict(int)
    for posted_at, sentiment in posts:
        side = after if published_at is not None and posted_at >= published_at else before
        side[sentiment] += 1
    return {"first_publication_at": published_at, "before": _share(before),
            "after": _share(after) if published_at is not None else None}


def _sentiment(session: Session, issue: Issue, published_at: datetime | None) -> dict[str, Any]:
    rows = session.execute(
        select(IssueMention.posted_at, MentionTriage.sentiment)
        .join(Mention, Mention.id == IssueMention.mention_id)
        .join(MentionTriage, MentionTriage.mention_id == IssueMention.mention_id)
        .where(IssueMention.issue_id == issue.id, Mention.direction == "inbound")
    ).all()
    return sentiment_split(rows, published_at)


def _first_responses(session: Session, runtime: WorkflowRuntime, issue: Issue, now: datetime) -> dict[str, Any]:
    """First-response times of the linked mentions' work items against their SLA goals, per policy."""
    rows = session.execute(
        select(SlaClock)
        .join(IssueMention, IssueMention.mention_id == SlaClock.mention_id)
        .where(IssueMention.issue_id == issue.id, SlaClock.metric == "first_response")
        .order_by(SlaClock.mention_id)
    )
    policies: dict[str, dict[str, Any]] = {}
    used: dict[str, list[float]] = defaultdict(list)
    for clock in rows.scalars():
        seen = clocks.view(runtime.clock_calendar(clock.calendar), clock, now)
        entry = policies.setdefault(clock.policy, {"policy": clock.policy, "goal_seconds": clock.target_seconds,
                                                   "mentions": 0, "in_time": 0, "late": 0, "waiting": 0,
                                                   "cancelled": 0})
        entry["mentions"] += 1
        if seen.breached:
            entry["late"] += 1
        elif clock.state == "met":
            entry["in_time"] += 1
        elif clock.state == "cancelled":
            entry["cancelled"] += 1
        else:
            entry["waiting"] += 1
        if clock.state == "met":
            used[clock.policy].append(seen.used_seconds)
    for policy, entry in policies.items():
        entry["median_seconds"] = statistics.median(used[policy]) if used[policy] else None
    totals = {key: sum(entry[key] for entry in policies.values())
              for key in ("mentions", "in_time", "late", "waiting", "cancelled")}
    judged = totals["in_time"] + totals["late"]
    everything = [seconds for values in used.values() for seconds in values]
    inbound = session.scalar(select(func.count()).select_from(IssueMention)
                             .join(Mention, Mention.id == IssueMention.mention_id)
                             .where(IssueMention.issue_id == issue.id, Mention.direction == "inbound")) or 0
    return {**totals, "without_goal": inbound - totals["mentions"],
            "compliance": round(totals["in_time"] / judged, 4) if judged else None,
            "median_seconds": statistics.median(everything) if everything else None,
            "policies": sorted(policies.values(), key=lambda entry: entry["policy"])}


def _stages(session: Session, runtime: WorkflowRuntime, issue: Issue, now: datetime) -> list[dict[str, Any]]:
    spec = runtime.loaded.playbook.issues
    labels = {stage.id: stage.label for stage in spec.stages}
    visits = session.scalars(select(IssueStage).where(IssueStage.issue_id == issue.id)
                             .order_by(IssueStage.entered_at, IssueStage.id))
    result = []
    for visit in visits:
        end = visit.left_at or (issue.closed_at if issue.state == "closed" else None) or now
        calendar = runtime.clock_calendar(visit.calendar or "always")
        overdue = visit.due_at is not None and end > visit.due_at
        result.append({
            "stage": visit.stage, "label": labels.get(visit.stage, visit.stage), "entered_at": visit.entered_at,
            "left_at": visit.left_at, "current": visit.left_at is None and issue.state == "open",
            "seconds": (end - visit.entered_at).total_seconds(),
            "business_seconds": calendar.between(visit.entered_at, end), "calendar": visit.calendar,
            "goal": visit.goal, "due_at": visit.due_at, "overdue": overdue,
            "late_by_seconds": (end - visit.due_at).total_seconds() if overdue and visit.due_at else None,
            "override_reason": visit.override_reason, "left_by": visit.left_by,
        })
    return result


def _tasks(session: Session, issue: Issue) -> dict[str, Any]:
    rows = session.execute(
        select(IssueTask, User.email).outerjoin(User, User.id == IssueTask.owner_id)
        .where(IssueTask.issue_id == issue.id).order_by(IssueTask.id)).all()
    items = [{"id": task.id, "stage": task.stage, "title": task.title, "required": task.required, "owner": email,
              "due_at": task.due_at, "done_at": task.done_at, "done_by": task.done_by} for task, email in rows]
    done = sum(1 for item in items if item["done_at"] is not None)
    return {"done": done, "open": len(items) - done, "items": items}


def _people(session: Session, issue: Issue) -> tuple[str | None, list[dict[str, str]]]:
    owner = session.scalar(select(User.email).where(User.id == issue.owner_id)) if issue.owner_id else None
    rows = session.execute(select(IssueStakeholder.role, User.email).join(User, User.id == IssueStakeholder.user_id)
                           .where(IssueStakeholder.issue_id == issue.id).order_by(IssueStakeholder.id))
    return owner, [{"role": role, "email": email} for role, email in rows]


def _quoted_threads(session: Session, threads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The busiest threads, each with an excerpt of its latest linked post."""
    busiest = sorted(threads, key=lambda thread: (-thread["count"], thread["first_post_at"]))[:SUMMARY_THREADS]
    ids = [thread["reply_to_mention_id"] for thread in busiest]
    texts = dict(session.execute(select(Mention.id, Mention.text).where(Mention.id.in_(ids))).all()) if ids else {}
    quoted = []
    for thread in busiest:
        text = " ".join((texts.get(thread["reply_to_mention_id"]) or "").split())
        excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"
        quoted.append({**thread, "excerpt": excerpt})
    return quoted


def executive_summary(session: Session, *, runtime: WorkflowRuntime, workspace_id: int, issue_id: int,
                      now: datetime, base_url: str | None = None) -> dict[str, Any]:
    """Return the issue's executive summary as plain data (the JSON the API serves and the HTML shows).

    Stages with time in stage against the goal, volumes by channel and site, sentiment before and after
    the first publication, first-response times against their SLA goals, tasks, publications,
    follow-ups, lessons and the whole timeline.
    """
    issue = get_issue(session, workspace_id, issue_id)
    tz = workspace_zone(session, workspace_id)
    owner, stakeholders = _people(session, issue)
    publications = list(session.scalars(select(Publication).where(Publication.issue_id == issue.id)
                                        .order_by(Publication.published_at, Publication.id)))
    ripple = ripple_map(session, workspace_id=workspace_id, issue_id=issue.id, now=now)
    authors = follow_ups(session, runtime=runtime, workspace_id=workspace_id, issue_id=issue.id, base_url=base_url)
    public_link = _links(session, workspace_id, base_url)
    labels = {stage.id: stage.label for stage in runtime.loaded.playbook.issues.stages}
    return {
        "generated_at": now,
        "timezone": str(tz),
        "issue": {
            "id": issue.id, "number": issue.number, "title": issue.title, "summary": issue.summary,
            "severity": issue.severity, "state": issue.state, "stage": issue.stage,
            "stage_label": labels.get(issue.stage, issue.stage), "owner": owner, "stakeholders": stakeholders,
            "decision": issue.decision, "decision_reason": issue.decision_reason, "opened_from": issue.opened_from,
            "opened_at": issue.created_at, "opened_by": issue.created_by, "closed_at": issue.closed_at,
            "playbook_version": issue.playbook_version,
        },
        "stages": _stages(session, runtime, issue, now),
        "volumes": {"total": ripple["total"], "bucket": ripple["bucket"], "channels": ripple["channels"],
                    "sites": ripple["sites"], "series": ripple["series"], "threads": len(ripple["threads"])},
        "threads": _quoted_threads(session, ripple["threads"]),
        "sentiment": _sentiment(session, issue, publications[0].published_at if publications else None),
        "first_response": _first_responses(session, runtime, issue, now),
        "tasks": _tasks(session, issue),
        "publications": [{"title": p.title, "slug": p.slug, "published_at": p.published_at,
                          "published_by": p.published_by, "updated_at": p.updated_at,
                          "url": public_link(p)} for p in publications],
        "follow_ups": {"authors": len(authors), "done": sum(1 for entry in authors if entry["followed_up"])},
        "lessons": list_lessons(session, workspace_id=workspace_id, issue_id=issue.id),
        "timeline": export_timeline(session, workspace_id=workspace_id, issue_id=issue.id),
    }


# ---------------------------------------------------------------------------------------------- the page

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232a;max-width:60rem;margin:2rem auto;
padding:0 1rem}h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.15rem;margin:1.8rem 0 .5rem;
border-bottom:1px solid #ccd3da;padding-bottom:.2rem}table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e3e7eb;vertical-align:top}
th{font-weight:600;background:#f4f6f8}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#56606b}.late{color:#b3261e;font-weight:600}.ok{color:#1e7a3c}.tag{display:inline-block;
padding:0 .4rem;border-radius:.3rem;background:#eef1f4;margin-right:.3rem}blockquote{margin:.2rem 0;color:#3b444d}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}a{color:inherit}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(at: datetime | None, tz: Any) -> str:
    return "—" if at is None else at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: frozenset[int] = frozenset()) -> str:
    """An HTML table (no header row when every header is empty); cells are already-escaped HTML."""
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>'
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    if not body:
        return "<p>None.</p>"
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _link(url: str | None, text: str) -> str:
    if url and url.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(url)}">{_e(text)}</a>'
    return _e(text)


def _details(details: Mapping[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if isinstance(value, list) and len(value) > 12:
            value = [*value[:12], f"… {len(value) - 12} more"]
        parts.append(f"{_e(key)}: {_e(value)}")
    return "; ".join(parts)


def summary_html(summary: Mapping[str, Any]) -> str:
    """Render an executive summary as one printable HTML page with its style inline and every value escaped."""
    tz = ZoneInfo(summary["timezone"])
    issue = summary["issue"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Issue {_e(issue['number'])}: {_e(issue['title'])} — executive summary</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Issue {_e(issue['number'])}: {_e(issue['title'])}</h1>",
        f"<p class=meta>Executive summary generated {_e(_when(summary['generated_at'], tz))} · "
        f"<span class=tag>{_e(issue['severity'])}</span><span class=tag>{_e(issue['state'])}</span>"
        f"stage {_e(issue['stage_label'])} · owner {_e(issue['owner'] or 'nobody')}</p>",
    ]
    if issue["summary"]:
        parts.append(f"<p>{_e(issue['summary'])}</p>")
    facts = [("Opened", f"{_when(issue['opened_at'], tz)} by {issue['opened_by']} (from {issue['opened_from']})"),
             ("Closed", _when(issue["closed_at"], tz))]
    if issue["decision"]:
        facts.append(("Decision", f"{issue['decision'].replace('_', '-')}: {issue['decision_reason'] or ''}"))
    facts += [(person["role"].replace("_", " ").capitalize(), person["email"]) for person in issue["stakeholders"]]
    parts.append(_table(("", ""), ((_e(name), _e(value)) for name, value in facts)))

    parts.append("<h2>Stages</h2>")
    parts.append(_table(("stage", "entered", "left", "time in stage", "business time", "goal", "due", ""), (
        (_e(stage["label"]), _e(_when(stage["entered_at"], tz)),
         _e("in progress" if stage["current"] else _when(stage["left_at"], tz)), _e(_duration(stage["seconds"])),
         _e(_duration(stage["business_seconds"])), _e(stage["goal"] or "—"), _e(_when(stage["due_at"], tz)),
         (f'<span class=late>overdue by {_e(_duration(stage["late_by_seconds"]))}</span>' if stage["overdue"]
          else "<span class=ok>on time</span>" if stage["due_at"] else "")
         + (f"<br>gate overridden: {_e(stage['override_reason'])}" if stage["override_reason"] else ""))
        for stage in summary["stages"])))

    volumes = summary["volumes"]
    parts.append(f"<h2>Volumes</h2><p>{_e(volumes['total'])} linked mention(s) in {_e(volumes['threads'])} "
                 f"thread(s).</p>")
    parts.append(_table(("channel", "kind", "mentions", "first seen", "last seen"), (
        (_e(c["channel"]), _e(c["kind"]), _e(c["count"]), _e(_when(c["first_seen"], tz)), _e(_when(c["last_seen"], tz)))
        for c in volumes["channels"]), numeric=frozenset({2})))
    parts.append(_table(("site", "mentions", "first seen", "last seen"), (
        (_e(s["site"]), _e(s["count"]), _e(_when(s["first_seen"], tz)), _e(_when(s["last_seen"], tz)))
        for s in volumes["sites"]), numeric=frozenset({1})))
    if summary["threads"]:
        parts.append("<h2>Where it was discussed</h2>")
        parts.append(_table(("thread", "posts", "last post", "latest words"), (
            (_link(t["url"], f"{t['channel']} · {t['site']}"), _e(t["count"]), _e(_when(t["last_post_at"], tz)),
             f"<blockquote>{_e(t['excerpt'])}</blockquote>") for t in summary["threads"]), numeric=frozenset({1})))

    sentiment = summary["sentiment"]
    parts.append("<h2>Sentiment</h2>")
    published = sentiment["first_publication_at"]
    parts.append(f"<p>{'First published ' + _e(_when(published, tz)) if published else 'Nothing published yet'}"
                 ".</p>")
    sides = [("before publishing" if published else "so far", sentiment["before"])]
    if sentiment["after"] is not None:
        sides.append(("after publishing", sentiment["after"]))
    parts.append(_table(("", "mentions", *SENTIMENTS), (
        (_e(name), _e(side["count"]), *(f"{_e(side[s])} ({_e(_percent(side['shares'][s]))})" for s in SENTIMENTS))
        for name, side in sides), numeric=frozenset({1, 2, 3, 4})))

    response = summary["first_response"]
    parts.append("<h2>First responses against their goals</h2>")
    parts.append(f"<p>{_e(response['in_time'])} in time, {_e(response['late'])} late, {_e(response['waiting'])} "
                 f"waiting; compliance {_e(_percent(response['compliance']))}; median first response "
                 f"{_e(_duration(response['median_seconds']))} of business time.</p>")
    parts.append(_table(("SLA policy", "goal", "mentions", "in time", "late", "waiting", "median"), (
        (_e(p["policy"]), _e(_duration(p["goal_seconds"])), _e(p["mentions"]), _e(p["in_time"]), _e(p["late"]),
         _e(p["waiting"]), _e(_duration(p["median_seconds"]))) for p in response["policies"]),
        numeric=frozenset({2, 3, 4, 5})))

    tasks = summary["tasks"]
    parts.append(f"<h2>Tasks</h2><p>{_e(tasks['done'])} done, {_e(tasks['open'])} open.</p>")
    parts.append(_table(("stage", "task", "owner", "done"), (
        (_e(t["stage"]), _e(t["title"]) + (" <span class=tag>required</span>" if t["required"] else ""),
         _e(t["owner"] or "—"), _e(f"{_when(t['done_at'], tz)} by {t['done_by']}" if t["done_at"] else "open"))
        for t in tasks["items"])))

    parts.append("<h2>Publications</h2>")
    parts.append(_table(("title", "published", "by"), (
        (_link(p["url"], p["title"]), _e(_when(p["published_at"], tz)), _e(p["published_by"]))
        for p in summary["publications"])))
    follow = summary["follow_ups"]
    parts.append(f"<h2>Follow-ups</h2><p>{_e(follow['done'])} of {_e(follow['authors'])} people who complained "
                 "have been followed up.</p>")

    parts.append("<h2>Lessons learned</h2>")
    parts.append(_table(("lesson", "proposed playbook change", "by"), (
        (_e(lesson["text"]), f"<pre>{_e(lesson['proposed_change'])}</pre>" if lesson["proposed_change"] else "—",
         _e(f"{lesson['author']}, {_when(lesson['at'], tz)}")) for lesson in summary["lessons"])))

    parts.append("<h2>Timeline</h2>")
    parts.append(_table(("when", "who", "what", "details"), (
        (_e(_when(event["at"], tz)), _e(event["actor"]), _e(event["kind"]), _details(event["details"]))
        for event in summary["timeline"])))
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------- lessons


def validate_proposed_change(text: str) -> dict[str, Any]:
    """Return the proposed change as a mapping of playbook sections, or refuse naming what is wrong."""
    if len(text) > CHANGE_MAX:
        raise InvalidInput(f"the proposed change is longer than {CHANGE_MAX} characters", field="proposed_change")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"the proposed change is not valid YAML: {where}{problem}",
                           field="proposed_change") from None
    if not isinstance(document, dict):
        kind = "nothing" if document is None else f"a {type(document).__name__}"
        raise InvalidInput(f"the proposed change must be a YAML mapping of playbook sections (e.g. 'sla:' or "
                           f"'issues:'), not {kind}", field="proposed_change")
    if not document:
        raise InvalidInput("the proposed change is an empty mapping: it changes nothing", field="proposed_change")
    unknown = [key for key in document if not isinstance(key, str) or key not in PLAYBOOK_SECTIONS]
    if unknown:
        raise InvalidInput(f"the proposed change names {', '.join(repr(key) for key in unknown)}, which "
                           f"{'is not a playbook section' if len(unknown) == 1 else 'are not playbook sections'}; "
                           f"sections are {', '.join(PLAYBOOK_SECTIONS)}", field="proposed_change")
    return document


def _lesson_read(lesson: IssueLesson) -> dict[str, Any]:
    return {"id": lesson.id, "text": lesson.text, "proposed_change": lesson.proposed_change,
            "sections": list(validate_proposed_change(lesson.proposed_change)) if lesson.proposed_change else [],
            "author": lesson.author, "at": lesson.at}


def add_lesson(session: Session, *, runtime: WorkflowRuntime, workspace_id: int, issue_id: int, actor: Actor,
               now: datetime, text: str, proposed_change: str | None = None) -> dict[str, Any]:
    """Record a lesson learned, with the playbook change it proposes (YAML of playbook sections), if any.

    The issue's owner and stakeholders may record lessons; anyone else needs `open_issue`.
    """
    issue = get_issue(session, workspace_id, issue_id, lock=True)
    if not stakeholder_roles(session, issue, actor):
        require(runtime, actor, "open_issue", "record a lesson on an issue they are not part of")
    lesson_text = (text or "").strip()
    if not lesson_text or len(lesson_text) > LESSON_MAX:
        raise InvalidInput(f"a lesson needs a text of 1 to {LESSON_MAX} characters", field="text")
    change = proposed_change if proposed_change and proposed_change.strip() else None
    sections = list(validate_proposed_change(change)) if change is not None else []
    lesson = IssueLesson(workspace_id=workspace_id, issue_id=issue.id, text=lesson_text, proposed_change=change,
                         author=actor.name, at=now)
    session.add(lesson)
    session.flush()
    timeline.record(session, issue, kind=LESSON_ADDED, actor=actor.name, at=now,
                    details={"lesson_id": lesson.id, "text": lesson_text, "sections": sections})
    return _lesson_read(lesson)


def list_lessons(session: Session, *, workspace_id: int, issue_id: int) -> list[dict[str, Any]]:
    """Return the issue's lessons, oldest first."""
    issue = get_issue(session, workspace_id, issue_id)
    return [_lesson_read(lesson) for lesson in session.scalars(
        select(IssueLesson).where(IssueLesson.issue_id == issue.id).order_by(IssueLesson.id))]


# ---------------------------------------------------------------------------------------------- the timeline


def export_timeline(session: Session, *, workspace_id: int, issue_id: int) -> list[dict[str, Any]]:
    """Return everything that happened to the issue, in the order it happened."""
    issue = get_issue(session, workspace_id, issue_id)
    return [{"id": event.id, "at": event.at, "actor": event.actor, "kind": event.kind, "details": event.details}
            for event in session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                                         .order_by(IssueEvent.id))]
