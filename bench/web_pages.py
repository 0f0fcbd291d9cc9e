"""Time the web pages with a million mentions stored: p50 / p95 / max per page, against a 200 ms p95 goal.

Set-up, not timed: a workspace (time zone America/New_York, six channels, both default teams staffed,
a member who signs in with a password) and N mentions (default 1,000,000) spread over the last 90 days
with a daily rhythm and one incident spike, bulk inserted straight into the tables with executemany in
big batches: authors, mentions (processed; about 3% brand replies, 15% replies in threads), their triage
verdicts (about 5% red, 25% yellow, 70% green over several categories each), work items for the ones
that need handling (all red and yellow, 40% of green) and a first-response SLA clock each, with
realistic response times (some late), states (old work closed, recent work still open, some overdue)
and assignees; plus a dozen issues opened through the issues service and spread over the board's stages.
The pipeline is not used to load: at a few thousand mentions a second it would take the better part of
an hour for a million, and what is timed here is reading, not ingesting.

Then the app (firebreak.app.create_app) serves on loopback through uvicorn in a thread, a client signs
in through /sign-in like a browser, and each page is requested --requests times (after one warm-up
request) by URL, so whatever those pages render is what is timed:

    inbox              /w/bench/inbox                     (default order: SLA urgency)
    inbox filtered     /w/bench/inbox?flag=red&queue=…
    inbox page 2       the inbox's own "next page" link (its cursor), when it has one
    inbox newest       /w/bench/inbox?sort=newest
    inbox search       /w/bench/inbox?q=refund
    mention            /w/bench/mentions/{id}             (a different open mention each time)
    dashboard 7 days   /w/bench/dashboard?days=7
    dashboard 30 days  /w/bench/dashboard?days=30
    issue board        /w/bench/issues

    .venv/bin/python bench/web_pages.py [--mentions 1000000] [--requests 50]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep PATH] [--json]

Without --database-url the database is a SQLite file in a temporary folder (or at --keep PATH, kept
afterwards and reused when it already holds the bench workspace, so a second run skips the loading);
with it, a scratch database is created on that PostgreSQL server and dropped afterwards. Figures are
wall-clock through real HTTP on loopback, on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import uvicorn
from _workflow_data import (
    CATEGORIES,
    INTENTS,
    SENTIMENTS,
    TEXTS,
    machine,
    percentile,
    scratch_database,
    vacuum_analyze,
    weighted,
)
from sqlalchemy import func, insert, select, text

from firebreak.accounts import service as accounts
from firebreak.app import create_app
from firebreak.channels import service as channel_service
from firebreak.db.engine import Database
from firebreak.db.migrate import upgrade
from firebreak.issues import service as issue_service
from firebreak.mentions.models import Author, Mention
from firebreak.playbook.loader import load_playbook
from firebreak.settings import Settings
from firebreak.triage.models import MentionTriage
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import OPEN_STATES, SlaClock, WorkItem
from firebreak.workflow.runtime import WorkflowRuntime
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import Workspace

GOAL_P95_MS = 200.0
SLUG = "bench"
TIMEZONE = "America/New_York"
DAYS = 90
BATCH = 20_000
PASSWORD = "bench password 123"
MEMBER = "lead.care@bench.example"
CHANNELS = (  # slug, kind, share of inbound mentions
    ("x-main", "x", 55), ("facebook", "facebook", 15), ("instagram", "instagram", 10),
    ("reddit", "reddit", 8), ("forum", "support_forum", 9), ("press", "news", 3),
)
STAFF = (  # e-mail, role, team, leads it
    (MEMBER, "lead", "care", True), ("agent1@bench.example", "agent", "care", False),
    ("agent2@bench.example", "agent", "care", False), ("agent3@bench.example", "agent", "care", False),
    ("agent4@bench.example", "agent", "care", False), ("lead.crisis@bench.example", "communications", "crisis", True),
    ("ana@bench.example", "lead", "crisis", False), ("ben@bench.example", "lead", "crisis", False),
)
# Per flag: queue, team, priority, route rule, SLA policy, calendar, first-response target (s), median reply (s).
ROUTES = {
    "red": ("escalations", "crisis", "urgent", "red_to_crisis", "red", "always", 300.0, 240.0),
    "yellow": ("customer_support", "care", "high", "yellow_support", "yellow", "always", 3600.0, 1800.0),
    "green": ("care_general", "care", "normal", "default", "green", "support_hours", 3600.0, 2700.0),
}
# What the assessment tree stores on a work item (the same for every bench item: the mention page shows it).
ASSESSMENT = {
    "outcome": "answer", "label": "Answer the customer", "action": "respond", "respond": True,
    "considerations": {"tone": "Acknowledge the problem before offering a fix"},
    "next_step": "Reply publicly, then move the details to a private message",
    "path": [{"node": "needs_answer", "question": "Is the author asking for help or complaining?", "answer": "yes",
              "next": "answer"}],
}
# Share of mentions per local hour of day: quiet nights, busy working day.
HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 7, 7, 6, 6, 5, 4, 3, 3)


# ------------------------------------------------------------------------------------ set-up


@dataclass
class Loaded:
    workspace_id: int
    mentions: int
    work_items: int = 0
    open_work: int = 0
    seconds: float = 0.0
    open_mention_ids: list[int] = field(default_factory=list)


def make_workspace(db: Database) -> tuple[int, dict[str, int], dict[str, int]]:
    """Migrate; create the workspace, its channels and staff (the member signs in with PASSWORD)."""
    upgrade(db.engine)
    with db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug=SLUG, name="Bench")
        ws.timezone = TIMEZONE
        channels = {slug: channel_service.create_channel(session=session, workspace_id=ws.id, slug=slug,
                                                         kind=kind).id for slug, kind, _ in CHANNELS}
        staff = {}
        for email, role, team, lead in STAFF:
            user = accounts.create_user(session=session, email=email, password=PASSWORD)
            accounts.grant_role(session=session, workspace_id=ws.id, user=user, role=role)
            accounts.join_team(session=session, workspace_id=ws.id, user=user, team=team, lead=lead)
            staff[email] = user.id
        return ws.id, channels, staff


def received_times(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    """`count` arrival times over the last DAYS days, oldest first: a daily rhythm plus one incident."""
    tz = ZoneInfo(TIMEZONE)
    start = now - timedelta(days=DAYS)
    span = (now - start).total_seconds() - 60
    peak = max(HOURLY)
    spike_at, spike = now - timedelta(days=11, hours=3), count // 50  # 2% in six hours, eleven days ago
    offsets: list[float] = []
    while len(offsets) < count - spike:
        offset = rng.random() * span
        if rng.random() * peak < HOURLY[(start + timedelta(seconds=offset)).astimezone(tz).hour]:
            offsets.append(offset)
    base = (spike_at - start).total_seconds()
    offsets.extend(base + rng.random() * 6 * 3600 for _ in range(spike))
    offsets.sort()
    return [start + timedelta(seconds=offset) for offset in offsets]


def load(db: Database, count: int, now: datetime, seed: int = 20261124) -> Loaded:
    """Bulk insert the bench data; return what was made."""
    started = time.perf_counter()
    workspace_id, channels, staff = make_workspace(db)
    rng = random.Random(seed)
    times = received_times(rng, count, now)
    authors = max(1, count // 5)
    first_author = _next_id(db, Author.__table__) + 1
    first_mention = _next_id(db, Mention.__table__) + 1
    _insert_batched(db, Author.__table__, (
        {"id": first_author + a, "workspace_id": workspace_id, "network": "x", "handle": f"user_{a}",
         "display_name": f"User {a}", "follower_count": (a * 7919) % 250_000 if a % 2 else a % 900,
         "verified": a % 97 == 0, "tags": ["journalist"] if a % 211 == 0 else [], "created_at": times[0],
         "updated_at": times[0]} for a in range(authors)))
    brand = first_author + authors
    _insert_batched(db, Author.__table__, [{
        "id": brand, "workspace_id": workspace_id, "network": "x", "handle": "brand", "display_name": "Brand",
        "follower_count": 50_000, "verified": True, "tags": ["brand"], "created_at": times[0],
        "updated_at": times[0]}])
    slugs, weights = [c[0] for c in CHANNELS], [c[2] for c in CHANNELS]
    agents = {"care": [staff[e] for e, _, team, _ in STAFF if team == "care"],
              "crisis": [staff[e] for e, _, team, _ in STAFF if team == "crisis"]}
    loaded = Loaded(workspace_id, count)
    mentions: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    work: list[dict[str, Any]] = []
    clocks: list[dict[str, Any]] = []
    conversation_of: list[str] = []
    for n, received in enumerate(times):
        mention_id = first_mention + n
        external = f"b{n}"
        outbound = n > 10 and rng.random() < 0.03
        flag = "green" if outbound else weighted(rng, (("red", 5), ("yellow", 25), ("green", 70)))
        category, group, _ = rng.choices(CATEGORIES[flag], weights=[c[2] for c in CATEGORIES[flag]])[0]
        reply_to = None
        conversation = external
        if outbound or (n > 10 and rng.random() < 0.15):
            parent = n - 1 - min(int(rng.expovariate(1 / 20)), n - 1)
            reply_to, conversation = f"b{parent}", conversation_of[parent]
        conversation_of.append(conversation)
        body = ("sorry to hear that, we've sent you a DM to sort it out" if outbound
                else f"@brand {rng.choice(TEXTS[flag])} #{n}")
        mentions.append({
            "id": mention_id, "workspace_id": workspace_id, "channel_id": channels[rng.choices(slugs, weights)[0]],
            "external_id": external, "author_id": brand if outbound else first_author + rng.randrange(authors),
            "direction": "outbound" if outbound else "inbound", "url": f"https://social.example/{external}",
            "text": body, "normalized_text": body.lower(), "language": "en", "language_confidence": 0.99,
            "created_at": received - timedelta(seconds=rng.uniform(1, 90)), "received_at": received,
            "reply_to_external_id": reply_to, "conversation_id": conversation, "state": "processed",
            "attempts": 1, "processed_at": received + timedelta(seconds=2),
        })
        sentiment = "neutral" if outbound else weighted(rng, SENTIMENTS[flag])
        verdicts.append({
            "mention_id": mention_id, "workspace_id": workspace_id, "flag": flag, "category": category,
            "category_group": group, "sentiment": sentiment, "sentiment_score": round(rng.uniform(0.5, 1.0), 4),
            "offensive": not outbound and rng.random() < 0.03, "offensive_score": round(rng.random(), 4),
            "intent": None if outbound else weighted(rng, INTENTS[flag]), "confidence": round(rng.uniform(0.3, 1), 4),
            "reasons": [{"kind": "rule", "label": category.replace("_", " "), "category": category, "flag": flag}],
            "playbook_version": "bench", "model_version": "bench", "triaged_at": received + timedelta(seconds=1),
        })
        if not outbound and (flag != "green" or rng.random() < 0.4):
            item, clock = _work(rng, mention_id, workspace_id, flag, received + timedelta(seconds=2), now, agents)
            work.append(item)
            clocks.append(clock)
            if item["state"] in OPEN_STATES:
                loaded.open_work += 1
                loaded.open_mention_ids.append(mention_id)
        if len(mentions) >= BATCH or n == count - 1:
            with db.write() as session:
                session.execute(insert(Mention.__table__), mentions)
                session.execute(insert(MentionTriage.__table__), verdicts)
                if work:
                    session.execute(insert(WorkItem.__table__), work)
                    session.execute(insert(SlaClock.__table__), clocks)
            loaded.work_items += len(work)
            mentions, verdicts, work, clocks = [], [], [], []
            print(f"\r  loaded {n + 1:,} / {count:,} mentions", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not db.is_sqlite:
        with db.write() as session:
            for table in ("authors", "mentions"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    open_issues(db, workspace_id, now, staff)
    vacuum_analyze(db)
    loaded.seconds = time.perf_counter() - started
    return loaded


def _work(rng: random.Random, mention_id: int, workspace_id: int, flag: str, opened: datetime, now: datetime,
          agents: dict[str, list[int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A work item and its first-response clock: answered after a log-normal delay, then resolved and closed."""
    queue, team, priority, rule, policy, calendar, target, median = ROUTES[flag]
    delay = median * math.exp(rng.gauss(0, 0.9))
    responded = opened + timedelta(seconds=delay)
    due = opened + timedelta(seconds=target)
    assignee = rng.choice(agents[team])
    item: dict[str, Any] = {
        "mention_id": mention_id, "workspace_id": workspace_id, "queue": queue, "team": team, "priority": priority,
        "route_rule": rule, "assignee_id": assignee, "action": "respond", "outcome": "answer",
        "needs_response": True, "assessment": ASSESSMENT, "sla_policy": policy, "sla_due_at": None,
        "playbook_version": "bench", "opened_at": opened, "assigned_at": opened + timedelta(seconds=30),
        "first_response_at": None, "last_response_at": None, "waiting_since": None, "resolved_at": None,
        "closed_at": None, "updated_at": opened, "revision": 2,
    }
    clock: dict[str, Any] = {
        "workspace_id": workspace_id, "mention_id": mention_id, "metric": "first_response", "policy": policy,
        "calendar": calendar, "target_seconds": target, "warn_fraction": 0.75, "started_at": opened,
        "warn_at": opened + timedelta(seconds=target * 0.75), "due_at": due, "escalation_level": 0,
        "breached_at": due if delay > target and due <= now else None, "next_fire_at": None, "next_event": None,
        "stopped_at": None,
    }
    if responded > now:  # not answered yet: in the inbox, some overdue
        state = "assigned" if rng.random() < 0.6 else "new"
        item.update(state=state, sla_due_at=due, assignee_id=assignee if state == "assigned" else None,
                    assigned_at=item["assigned_at"] if state == "assigned" else None)
        clock.update(state="running", segment_started_at=opened, consumed_seconds=0.0)
        return item, clock
    resolved = responded + timedelta(seconds=10_800 * math.exp(rng.gauss(0, 1)))
    closed = resolved + timedelta(hours=24)
    stuck = rng.random() < 0.004  # a little old work never finished
    state = ("waiting" if stuck else "closed" if closed <= now else "resolved" if resolved <= now
             else rng.choice(("responded", "waiting")))
    item.update(state=state, first_response_at=responded, last_response_at=responded, updated_at=responded,
                waiting_since=responded if state == "waiting" else None,
                resolved_at=resolved if state in ("resolved", "closed") else None,
                closed_at=closed if state == "closed" else None)
    clock.update(state="met", segment_started_at=None, consumed_seconds=delay, stopped_at=responded)
    return item, clock


def open_issues(db: Database, workspace_id: int, now: datetime, staff: dict[str, int]) -> None:
    """A dozen open issues through the issues service, moved along so the board has several columns."""
    runtime = WorkflowRuntime.compile(load_playbook())
    stages = [stage.id for stage in issue_service.issues_spec(runtime).stages]
    with db.write() as session:
        user = accounts.get_user(session=session, email="lead.crisis@bench.example")
        actor = Actor.for_user(session, workspace_id, user)
        for n in range(12):
            issue = issue_service.open_issue(
                session, runtime=runtime, workspace_id=workspace_id, actor=actor, now=now - timedelta(hours=n * 5),
                title=f"Bench issue {n + 1}: outage talk in region {n % 4}", severity=("low", "medium", "high")[n % 3],
                owner_email=user.email)
            for target in stages[1:1 + n % (len(stages) - 1)]:
                issue_service.move_stage(session, runtime=runtime, workspace_id=workspace_id, actor=actor,
                                         now=now - timedelta(hours=n * 5) + timedelta(minutes=10), issue_id=issue.id,
                                         target=target, override_reason="bench set-up")


def _next_id(db: Database, table: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0)


def _insert_batched(db: Database, table: Any, rows: Any) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            with db.write() as session:
                session.execute(insert(table), batch)
            batch = []
    if batch:
        with db.write() as session:
            session.execute(insert(table), batch)


def existing(db: Database) -> Loaded | None:
    """The bench workspace already in a kept database, or None."""
    try:
        with db.read() as session:
            workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == SLUG))
    except Exception:  # noqa: BLE001 - a new file has no tables yet
        return None
    if workspace_id is None:
        return None
    with db.read() as session:
        count = session.scalar(select(func.count()).select_from(Mention).where(Mention.workspace_id == workspace_id))
        work = session.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.workspace_id == workspace_id))
        open_ids = list(session.scalars(select(WorkItem.mention_id).where(
            WorkItem.workspace_id == workspace_id, WorkItem.state.in_(OPEN_STATES))))
    return Loaded(workspace_id, int(count or 0), int(work or 0), len(open_ids), 0.0, open_ids)


# ------------------------------------------------------------------------------------ timing


@contextmanager
def serve(db: Database, data_dir: Path) -> Iterator[str]:
    """The app (no worker) under uvicorn on a loopback port, in a thread; yields its base URL."""
    settings = Settings(data_dir=data_dir, database_url=db.url, worker_enabled=False, feed_poll_enabled=False,
                        _env_file=None)
    app = create_app(settings, db=db, run_worker=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NEXT = re.compile(r'href="([^"]+)" rel="next"')


def signed_in_client(base_url: str) -> httpx.Client:
    """A client carrying the member's session cookie, signed in through the form like a browser."""
    client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
    form = client.get("/sign-in")
    token = _CSRF.search(form.text)
    if token is None:
        raise SystemExit("the sign-in page has no csrf_token")
    answer = client.post("/sign-in", data={"csrf_token": token.group(1), "email": MEMBER, "password": PASSWORD,
                                           "next": f"/w/{SLUG}/inbox"})
    if answer.status_code != 303:
        raise SystemExit(f"signing in failed: {answer.status_code} {answer.text[:300]}")
    return client


@dataclass
class Timed:
    name: str
    ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bytes: int = 0
    note: str = ""

    def figures(self) -> dict[str, Any]:
        return {"page": self.name, "n": len(self.ms), "p50_ms": round(percentile(self.ms, 50), 1),
                "p95_ms": round(percentile(self.ms, 95), 1), "max_ms": round(max(self.ms), 1) if self.ms else None,
                "statuses": self.statuses, "kb": round(self.bytes / 1024, 1),
                "goal_met": bool(self.ms) and percentile(self.ms, 95) < GOAL_P95_MS and set(self.statuses) == {200},
                "note": self.note}


def time_page(client: httpx.Client, name: str, urls: list[str], requests: int) -> Timed:
    """One warm-up request, then `requests` timed ones, cycling through `urls`."""
    timed = Timed(name)
    if not urls:
        timed.note = "no URL to time"
        return timed
    client.get(urls[0])
    for n in range(requests):
        url = urls[n % len(urls)]
        started = time.perf_counter()
        response = client.get(url)
        timed.ms.append((time.perf_counter() - started) * 1000)
        timed.statuses[response.status_code] = timed.statuses.get(response.status_code, 0) + 1
        timed.bytes = max(timed.bytes, len(response.content))
    return timed


def pages(client: httpx.Client, loaded: Loaded, requests: int) -> list[tuple[str, list[str], str]]:
    """(name, URLs, note) of every page timed; page 2 of the inbox is whatever the inbox links to."""
    inbox = f"/w/{SLUG}/inbox"
    first = client.get(inbox)
    found = _NEXT.search(first.text)
    page_two = [found.group(1).replace("&amp;", "&")] if found else []
    rng = random.Random(5)
    mentions = rng.sample(loaded.open_mention_ids, min(requests, len(loaded.open_mention_ids)))
    return [
        ("inbox (urgency)", [inbox], ""),
        ("inbox filtered", [f"{inbox}?flag=red&channel=x-main"], "red, one channel"),
        ("inbox page 2", page_two, "" if page_two else "the inbox showed no next-page link"),
        ("inbox newest", [f"{inbox}?sort=newest"], ""),
        ("inbox search", [f"{inbox}?q=refund"], "full-text search"),
        ("mention", [f"/w/{SLUG}/mentions/{mention_id}" for mention_id in mentions], "a different one each time"),
        ("dashboard 7 days", [f"/w/{SLUG}/dashboard?days=7"], ""),
        ("dashboard 30 days", [f"/w/{SLUG}/dashboard?days=30"], ""),
        ("issue board", [f"/w/{SLUG}/issues"], ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server URL (a scratch database is made)")
    parser.add_argument("--keep", type=Path, default=None, help="SQLite file to load into, kept and reused")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with _database(args) as (label, url), _scratch_dir() as data_dir:
        db = Database(url)
        loaded = existing(db) if args.keep is not None else None
        if loaded is None:
            print(f"loading {args.mentions:,} mentions into {label}...", file=sys.stderr)
            loaded = load(db, args.mentions, now)
        else:
            print(f"reusing {loaded.mentions:,} mentions in {args.keep}", file=sys.stderr)
            upgrade(db.engine)  # a file kept by an older revision gains the newer migrations (indexes)
        with serve(db, data_dir) as base_url:
            client = signed_in_client(base_url)
            results = []
            for name, urls, note in pages(client, loaded, args.requests):
                results.append(time_page(client, name, urls, args.requests))
                results[-1].note = results[-1].note or note
            client.close()
        db.dispose()
    report = {"machine": machine(), "database": label, "mentions": loaded.mentions, "work_items": loaded.work_items,
              "open_work": loaded.open_work, "load_seconds": round(loaded.seconds, 1), "requests": args.requests,
              "goal_p95_ms": GOAL_P95_MS, "pages": [result.figures() for result in results]}
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    print(f"{report['machine']}; {label}")
    print(f"{loaded.mentions:,} mentions, {loaded.work_items:,} work items ({loaded.open_work:,} open)"
          + (f", loaded in {loaded.seconds:.0f} s" if loaded.seconds else ""))
    print(f"{args.requests} requests per page over HTTP on loopback, one at a time; goal: p95 < {GOAL_P95_MS:.0f} ms\n")
    print(f"{'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KiB':>7}  p95 < goal")
    for row in report["pages"]:
        if not row["n"]:
            print(f"{row['page']:<20} {'-':>8} {'-':>8} {'-':>8} {'-':>7}  not timed: {row['note']}")
            continue
        verdict = "yes" if row["goal_met"] else "NO"
        statuses = "" if set(row["statuses"]) == {200} else f"  statuses {row['statuses']}"
        print(f"{row['page']:<20} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['max_ms']:>8.1f} {row['kb']:>7.1f}"
              f"  {verdict}{statuses}{'  (' + row['note'] + ')' if row['note'] else ''}")


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.keep is not None:
        if args.database_url:
            raise SystemExit("--keep is for a SQLite file; leave out --database-url")
        yield "SQLite", f"sqlite:///{args.keep.resolve()}"
        return
    with scratch_database(args.database_url) as found:
        yield found


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="firebreak-bench-web-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    main()
