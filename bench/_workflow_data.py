"""Shared set-up for the workflow benches: a staffed workspace and many triaged mentions, fast.

Used by bench/workflow_throughput.py and bench/sla_scheduler.py. Everything here is set-up, never
timed: a scratch database (a temporary SQLite file, or a database created on a PostgreSQL server and
dropped afterwards), a workspace with channels and a staffed `care` and `crisis` team as the default
playbook names them, and mentions ingested through `ingest_mentions` with their triage verdicts
written straight into `triage_results`, as if the triage stage had already run.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from firebreak.accounts import service as accounts
from firebreak.calendars import BusinessCalendar
from firebreak.channels import service as channel_service
from firebreak.db.engine import Database, make_engine
from firebreak.db.migrate import upgrade
from firebreak.mentions import service as mention_service
from firebreak.mentions.schemas import MentionIn
from firebreak.playbook.loader import load_playbook
from firebreak.triage.models import MentionTriage
from firebreak.workspaces import service as workspace_service

INGEST_CHUNK = 5_000
CHANNELS = (("x-main", "x", 0.85), ("fb", "facebook", 0.10), ("press", "news", 0.05))
# The default playbook's teams: `care` works support hours (round robin / least loaded), `crisis` is
# 24x7 with the on-call rotation ana -> ben -> cara. One care agent is off shift.
STAFF: tuple[tuple[str, str, str, bool, bool], ...] = (
    # (e-mail, role, team, leads the team, on shift)
    ("lead.care@bench.example", "lead", "care", True, True),
    ("agent1@bench.example", "agent", "care", False, True),
    ("agent2@bench.example", "agent", "care", False, True),
    ("agent3@bench.example", "agent", "care", False, True),
    ("agent4@bench.example", "agent", "care", False, True),
    ("agent5@bench.example", "agent", "care", False, True),
    ("agent6@bench.example", "agent", "care", False, False),
    ("lead.crisis@bench.example", "communications", "crisis", True, True),
    ("ana@example.com", "lead", "crisis", False, True),
    ("ben@example.com", "lead", "crisis", False, True),
    ("cara@example.com", "lead", "crisis", False, True),
)
# (category, group) per flag, as the default playbook files them; weights make the common ones common.
CATEGORIES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "red": (("service_complaint", "customer_support", 5), ("major_account_issue", "customer_support", 4),
            ("fraud", "customer_support", 2), ("security", "potential_crisis", 2),
            ("legal_threat", "potential_crisis", 1), ("negative_news", "potential_crisis", 1)),
    "yellow": (("product_criticism", "potential_crisis", 5), ("transaction_request", "customer_support", 4),
               ("order_dispute", "customer_support", 3), ("it_issue", "customer_support", 3),
               ("negative_media", "potential_crisis", 1), ("employee_negative", "potential_crisis", 1)),
    "green": (("general", "general", 10), ("praise", "general", 5), ("account_setup", "customer_support", 2),
              ("account_management", "customer_support", 2), ("ideas", "general", 1), ("careers", "general", 1),
              ("company_info", "general", 1)),
}
SENTIMENTS = {"red": (("negative", 9), ("neutral", 1)), "yellow": (("negative", 7), ("neutral", 3)),
              "green": (("positive", 4), ("neutral", 5), ("negative", 1))}
INTENTS = {"red": ((None, 3), ("complaint", 6), ("request", 1)),
           "yellow": ((None, 3), ("complaint", 4), ("question", 2), ("request", 2)),
           "green": ((None, 5), ("question", 2), ("praise", 3), ("request", 1))}
TEXTS = {
    "red": ["my lawyer will hear about this, you charged my card twice", "someone hacked my account and drained it",
            "the agent hung up on me twice, this is a disgrace", "my order never arrived and it's been three weeks"],
    "yellow": ["delayed again, worst airline ever", "can I get a refund for the delayed flight?",
               "please change my booking ABC123 to Friday", "your website is down again, error 500 at checkout"],
    "green": ["thank you for the amazing service today!", "how do I set up two-factor login?",
              "love the new app design", "any openings on your data team?", "what time does the store open?"],
}


@dataclass
class Workspace:
    """The bench workspace: its id, channels by slug, and staff user ids by e-mail."""

    id: int
    channels: dict[str, Any]
    staff: dict[str, int] = field(default_factory=dict)


@dataclass
class Dataset:
    """What was stored, for checking the workflow's output afterwards."""

    mentions: int = 0
    inbound: int = 0
    outbound: int = 0
    red_inbound: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    replies: int = 0


# ------------------------------------------------------------------------------------ databases


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[tuple[str, str]]:
    """Yield (label, url) of an empty database: a temporary SQLite file, or one made on `server_url`."""
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
            yield "SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"firebreak_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield "PostgreSQL", server_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


class TimedDatabase(Database):
    """A Database that records, for the thread that asks, how long each write transaction held the lock.

    Timed from entering the write session (the in-process writer lock taken; SQLite's file lock comes
    with the first statement) to the end of its commit.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.timed_thread: int | None = None
        self.holds: list[float] = []

    @contextmanager
    def write(self) -> Iterator[Session]:
        with super().write() as session:
            started = time.perf_counter()
            timed = threading.get_ident() == self.timed_thread
            yield session
        if timed:
            self.holds.append(time.perf_counter() - started)


def vacuum_analyze(db: Database) -> None:
    """Refresh the planner's statistics after bulk loading (PostgreSQL's autovacuum may lag a bench)."""
    if db.is_sqlite:
        with db.write() as session:
            session.execute(text("ANALYZE"))
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


# ------------------------------------------------------------------------------------ workspace


def business_instant(now: datetime) -> datetime:
    """The latest 11:00 UTC before `now` when the default `support_hours` calendar is open.

    The care team only takes work in support hours; a fixed open moment makes assignment happen
    whatever the day the bench runs on, and lies in the past so the pipeline can claim at once.
    """
    spec = next(c for c in load_playbook().playbook.calendars if c.id == "support_hours")
    calendar = BusinessCalendar.from_spec(spec)
    at = now.astimezone(UTC).replace(hour=11, minute=0, second=0, microsecond=0)
    if at >= now:
        at -= timedelta(days=1)
    while not calendar.is_open(at):
        at -= timedelta(days=1)
    return at


def staffed_workspace(db: Database, slug: str = "bench") -> Workspace:
    """Migrate the database; create a workspace with three channels and the staff of both teams."""
    upgrade(db.engine)
    with db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug=slug, name=slug.title())
        channels = {s: channel_service.create_channel(session=session, workspace_id=ws.id, slug=s, kind=kind)
                    for s, kind, _ in CHANNELS}
        workspace = Workspace(id=ws.id, channels=channels)
        for email, role, team, lead, available in STAFF:
            user = accounts.create_user(session=session, email=email)
            accounts.grant_role(session=session, workspace_id=ws.id, user=user, role=role)
            accounts.join_team(session=session, workspace_id=ws.id, user=user, team=team, lead=lead)
            if not available:
                accounts.set_available(session=session, workspace_id=ws.id, user=user, available=False)
            workspace.staff[email] = user.id
    return workspace


# ------------------------------------------------------------------------------------ mentions


def weighted(rng: random.Random, choices: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]


def _author(a: int) -> dict[str, Any]:
    author: dict[str, Any] = {"handle": f"user_{a}", "followers": (a * 7919) % 250_000 if a % 2 else a % 900}
    tags = [tag for tag, every in (("key_customer", 53), ("journalist", 211), ("troll", 89), ("influencer", 149),
                                   ("employee", 307)) if a % every == 0]
    if tags:
        author["tags"] = tags
    if a % 97 == 0:
        author["verified"] = True
    return author


def ingest_triaged(
    db: Database, workspace: Workspace, count: int, *, received_at: datetime, seed: int = 20261122,
    outbound_share: float = 0.03, reply_share: float = 0.2,
) -> Dataset:
    """Ingest `count` pending mentions (threads, brand replies, tagged authors) and store their verdicts.

    Flags are about 5% red, 25% yellow and 70% green over several categories each; posts span the
    three days before `received_at`, when they all arrived, so the workflow sees recent author history.
    """
    rng = random.Random(seed)
    authors = max(1, count // 5)
    first_post = received_at - timedelta(days=3)
    step = timedelta(days=3) / max(count, 1)
    channel_of: list[str] = []
    inbound_of_channel: dict[str, list[str]] = {slug: [] for slug, _, _ in CHANNELS}
    dataset = Dataset(flags={"red": 0, "yellow": 0, "green": 0})
    slugs, weights = [c[0] for c in CHANNELS], [c[2] for c in CHANNELS]
    pending_items: list[MentionIn] = []
    pending_verdicts: list[dict[str, Any]] = []
    for n in range(count):
        external = str(10_000_000_000 + n)
        raw: dict[str, Any] = {"external_id": external, "created_at": (first_post + step * n).isoformat(),
                               "language": "en"}
        outbound = n > 20 and rng.random() < outbound_share
        if outbound:
            slug = rng.choice(slugs)
            candidates = inbound_of_channel[slug][-300:]
            if not candidates:
                outbound = False
            else:
                raw.update(direction="outbound", reply_to=rng.choice(candidates), author={"handle": "brand"},
                           text="sorry to hear that, we've sent you a DM to sort it out")
        if not outbound:
            slug = rng.choices(slugs, weights=weights)[0]
            raw["author"] = _author(rng.randrange(authors))
            if n > 20 and rng.random() < reply_share and inbound_of_channel[slug]:
                raw["reply_to"] = rng.choice(inbound_of_channel[slug][-400:])
                dataset.replies += 1
            inbound_of_channel[slug].append(external)
        raw["channel"] = slug
        channel_of.append(slug)
        flag = "green" if outbound else weighted(rng, (("red", 5), ("yellow", 25), ("green", 70)))
        category, group, _ = rng.choices(CATEGORIES[flag], weights=[c[2] for c in CATEGORIES[flag]])[0]
        raw.setdefault("text", f"@brand {rng.choice(TEXTS[flag])} #{n}")
        pending_items.append(msgspec.convert(raw, MentionIn))
        pending_verdicts.append(_verdict(rng, flag, category, group, outbound))
        dataset.mentions += 1
        if outbound:
            dataset.outbound += 1
        else:
            dataset.inbound += 1
            dataset.flags[flag] += 1
            dataset.red_inbound += flag == "red"
        if len(pending_items) == INGEST_CHUNK or n == count - 1:
            _store_chunk(db, workspace, pending_items, pending_verdicts, received_at)
            pending_items, pending_verdicts = [], []
    return dataset


def _verdict(rng: random.Random, flag: str, category: str, group: str, outbound: bool) -> dict[str, Any]:
    """A `triage_results` row without its mention id (filled in once stored)."""
    sentiment = "neutral" if outbound else weighted(rng, SENTIMENTS[flag])
    reasons = [{"kind": "rule", "label": f"{category.replace('_', ' ')}: matched a phrase", "category": category,
                "flag": flag}]
    if sentiment == "negative":
        reasons.append({"kind": "model", "label": "negative sentiment", "score": round(rng.uniform(0.6, 1), 3)})
    return {
        "flag": flag, "category": category, "category_group": group, "sentiment": sentiment,
        "sentiment_score": round(rng.uniform(0.5, 1.0), 4), "offensive": not outbound and rng.random() < 0.03,
        "offensive_score": round(rng.random(), 4), "intent": None if outbound else weighted(rng, INTENTS[flag]),
        "confidence": round(rng.uniform(0.3, 1.0), 4), "reasons": reasons, "playbook_version": "bench",
        "model_version": "bench",
    }


def _store_chunk(db: Database, workspace: Workspace, items: list[MentionIn], verdicts: list[dict[str, Any]],
                 received_at: datetime) -> None:
    with db.write() as session:
        result = mention_service.ingest_mentions(
            session=session, workspace_id=workspace.id, channels=workspace.channels, items=items,
            received_at=received_at)
        rows = [{**verdict, "mention_id": mention_id, "workspace_id": workspace.id, "triaged_at": received_at}
                for mention_id, verdict in zip(result.ids, verdicts, strict=True)]
        bulk_insert(session, MentionTriage.__table__, rows)


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]], chunk: int = 5_000) -> None:
    """Insert many rows with one executemany per chunk (SQLAlchemy batches them into multi-row INSERTs)."""
    target: Table = table
    for start in range(0, len(rows), chunk):
        session.execute(insert(target), rows[start:start + chunk])


# ------------------------------------------------------------------------------------ figures


def machine() -> str:
    """CPUs, CPU model and Python version, for the first line of a bench's output."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def percentile(values: list[float], pct: float) -> float:
    """The value at `pct` (nearest rank) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def spread(values_ms: list[float]) -> dict[str, float]:
    """avg / p50 / p99 / max of a list of milliseconds, rounded for printing."""
    if not values_ms:
        return {"avg": float("nan"), "p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    return {"avg": round(statistics.fmean(values_ms), 2), "p50": round(percentile(values_ms, 50), 2),
            "p99": round(percentile(values_ms, 99), 2), "max": round(max(values_ms), 2), "n": len(values_ms)}
