"""Measure the workflow stage (assess, route, assign, start SLA clocks, alert): mentions/s and write-lock time.

Set-up, not timed: a workspace with three channels, tagged authors (key_customer, journalist, troll,
...) and both default teams staffed (users with roles, in their teams, one agent off shift); N mentions
ingested with `ingest_mentions` (threads, brand replies) and their triage verdicts written straight
into `triage_results` (about 5% red, 25% yellow, 70% green over several categories each). The moment
the workflow runs at is fixed in the care team's support hours, so assignment happens whatever the day.

Then, batch by batch (the worker's batch size):

- "stage only": what WorkflowStage.prepare/apply do, `plan_batch` in a read session (prepare) and
  `write_plans` in a write session (apply; its span, commit included, is the write-lock time). Loading
  the batch's mentions and verdicts in that read session is not counted.
- "through the runner": the work items, clocks, alerts and audit rows are deleted, and the still
  pending mentions are drained by `Pipeline([stored verdicts, WorkflowStage])` with the runner's
  reserve / prepare / settle, as `BackgroundWorker.run_once` does. The stored-verdicts stage stands in
  for the triage stage (its one query per batch is included, and printed).

Each run ends by checking the output: one work item per inbound mention, clocks started, a red-flag
alert per red mention, work assigned, brand replies marking their mention responded.

    .venv/bin/python bench/workflow_throughput.py [--count 100000] [--batch-size 256]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--mode both|stage|runner]
        [--profile 30] [--json]

Without --database-url the database is a SQLite file in a temporary folder; with it, a scratch database
is created on that PostgreSQL server and dropped afterwards. Figures are wall-clock on whatever else
the machine is doing; this process's CPU time is printed beside them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from _workflow_data import (
    Dataset,
    TimedDatabase,
    business_instant,
    ingest_triaged,
    machine,
    scratch_database,
    spread,
    staffed_workspace,
    vacuum_analyze,
)
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from firebreak.accounts.models import TeamMember
from firebreak.audit.models import AuditEntry
from firebreak.core.clock import FixedClock
from firebreak.mentions.models import Mention
from firebreak.notify.models import Alert
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.pipeline.stages.workflow import WorkflowStage
from firebreak.services import Services
from firebreak.settings import Settings
from firebreak.triage.models import MentionTriage
from firebreak.workflow.intake import ACTOR, plan_batch, write_plans
from firebreak.workflow.models import SlaClock
from firebreak.workflow.models import WorkItem as WorkRow

GOAL = 10_000  # mentions/s on one core
VERDICT_COLUMNS = [c for c in MentionTriage.__table__.c if c.name not in ("workspace_id", "triaged_at")]


@dataclass
class Phase:
    """Timings of one way of running the stage over every batch."""

    name: str
    mentions: int = 0
    batches: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    prepare_ms: list[float] = field(default_factory=list)
    apply_ms: list[float] = field(default_factory=list)  # stage only: write_plans + commit
    reserve_ms: list[float] = field(default_factory=list)  # runner only
    settle_ms: list[float] = field(default_factory=list)  # runner only
    stand_in_ms: list[float] = field(default_factory=list)  # runner only: the stored-verdicts stage
    rows: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.mentions / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.name, "mentions": self.mentions, "batches": self.batches,
                               "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                               "mentions_per_s": round(self.rate)}
        if self.name == "stage":
            out["prepare_per_s"] = round(self.mentions / (sum(self.prepare_ms) / 1000)) if self.prepare_ms else 0
            out["apply_per_s"] = round(self.mentions / (sum(self.apply_ms) / 1000)) if self.apply_ms else 0
        for key in ("prepare_ms", "apply_ms", "reserve_ms", "settle_ms", "stand_in_ms"):
            values = getattr(self, key)
            if values:
                out[key] = spread(values)
        out["rows"] = self.rows
        out["problems"] = self.problems
        return out


class StoredVerdicts(Stage):
    """Stands in for the triage stage: hands the workflow the verdicts already stored for the batch."""

    name = "triage"

    def __init__(self) -> None:
        self.spent_ms: list[float] = []

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        started = time.perf_counter()
        ids = [item.mention.id for item in items]
        verdicts = {row.mention_id: row._asdict() for row in session.execute(
            select(*VERDICT_COLUMNS).where(MentionTriage.mention_id.in_(ids)))}
        for item in items:
            item.data[self.name] = verdicts.get(item.mention.id)
        self.spent_ms.append((time.perf_counter() - started) * 1000)


def load_batch(session: Session, ids: list[int]) -> tuple[list[Mention], list[dict[str, Any] | None]]:
    """The batch's mentions as detached snapshots (as the runner hands them over) and their verdicts."""
    mentions = {m.id: m for m in session.scalars(select(Mention).where(Mention.id.in_(ids)))}
    verdicts = {row.mention_id: row._asdict() for row in session.execute(
        select(*VERDICT_COLUMNS).where(MentionTriage.mention_id.in_(ids)))}
    session.expunge_all()
    return [mentions[i] for i in ids], [verdicts.get(i) for i in ids]


def run_stage_only(db: TimedDatabase, services: Services, at: datetime, batch_size: int,
                   profiler: cProfile.Profile | None) -> Phase:
    """plan_batch in a read session, write_plans in a write session, batch after batch."""
    phase = Phase("stage")
    with db.read() as session:
        ids = list(session.scalars(select(Mention.id).order_by(Mention.id)))
    public_url = services.settings.base_url
    db.timed_thread = None
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        with db.read() as session:
            mentions, verdicts = load_batch(session, batch)
            if profiler:
                profiler.enable()
            cpu, started = time.process_time(), time.perf_counter()
            plans = plan_batch(session, mentions, verdicts, runtime_for=services.workflows, now=at,
                               public_url=public_url)
            prepared = time.perf_counter()
            phase.cpu_seconds += time.process_time() - cpu
        cpu = time.process_time()
        db.holds.clear()
        db.timed_thread = threading.get_ident()
        with db.write() as session:
            write_plans(session, plans, now=at)
        db.timed_thread = None
        phase.cpu_seconds += time.process_time() - cpu
        if profiler:
            profiler.disable()
        phase.prepare_ms.append((prepared - started) * 1000)
        phase.apply_ms.append(db.holds[0] * 1000)
        phase.batches += 1
        phase.mentions += len(batch)
    phase.seconds = (sum(phase.prepare_ms) + sum(phase.apply_ms)) / 1000
    return phase


def run_through_runner(db: TimedDatabase, services: Services, at: datetime, batch_size: int,
                       profiler: cProfile.Profile | None) -> Phase:
    """Drain the pending mentions with the runner: reserve, prepare (verdicts + workflow), settle."""
    phase = Phase("runner")
    stand_in = StoredVerdicts()
    pipeline = services.pipeline([stand_in, WorkflowStage(services.workflows, public_url=services.settings.base_url,
                                                          clock=FixedClock(at))])
    db.timed_thread = threading.get_ident()
    if profiler:
        profiler.enable()
    cpu, started = time.process_time(), time.perf_counter()
    try:
        while True:
            db.holds.clear()
            batch_started = time.perf_counter()
            report = pipeline.run_batch(db, limit=batch_size)
            if not report.claimed:
                break
            if report.retried or report.parked or report.skipped:
                phase.problems.append(f"batch {phase.batches}: retried {report.retried[:5]}, parked "
                                      f"{report.parked[:5]}, skipped {report.skipped[:5]}")
            phase.batches += 1
            phase.mentions += len(report.processed)
            phase.reserve_ms.append(db.holds[0] * 1000)
            phase.settle_ms.append(sum(db.holds[1:]) * 1000)
            phase.prepare_ms.append((time.perf_counter() - batch_started - sum(db.holds)) * 1000)
    finally:
        phase.seconds = time.perf_counter() - started
        phase.cpu_seconds = time.process_time() - cpu
        if profiler:
            profiler.disable()
        db.timed_thread = None
    phase.stand_in_ms = stand_in.spent_ms
    return phase


def audit_floor(db: TimedDatabase) -> int:
    """The newest audit entry's id: entries of a run are those after it."""
    with db.read() as session:
        return int(session.scalar(select(func.max(AuditEntry.id))) or 0)


def check(db: TimedDatabase, dataset: Dataset, phase: Phase, audit_after: int) -> None:
    """Count what the workflow wrote and note every way it differs from what the data calls for."""
    with db.read() as session:
        def count(stmt: Any) -> int:
            return int(session.scalar(stmt) or 0)

        rows: dict[str, Any] = {
            "work_items": count(select(func.count()).select_from(WorkRow)),
            "assigned": count(select(func.count()).select_from(WorkRow).where(WorkRow.assignee_id.is_not(None))),
            "responded": count(select(func.count()).select_from(WorkRow).where(WorkRow.state == "responded")),
            "needs_response": count(select(func.count()).select_from(WorkRow).where(WorkRow.needs_response)),
            "clocks": count(select(func.count()).select_from(SlaClock)),
            "clocks_met": count(select(func.count()).select_from(SlaClock).where(SlaClock.state == "met")),
            "alerts": count(select(func.count()).select_from(Alert)),
            "red_flag_alerts": count(select(func.count()).select_from(Alert).where(Alert.kind == "red_flag")),
            "audit": count(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == ACTOR,
                                                                       AuditEntry.id > audit_after)),
        }
        by_queue = dict(session.execute(select(WorkRow.queue, func.count()).group_by(WorkRow.queue)).all())
        pending = count(select(func.count()).select_from(Mention).where(Mention.state == "pending"))
    rows["by_queue"] = by_queue
    phase.rows = rows
    if rows["work_items"] != dataset.inbound:
        phase.problems.append(f"{rows['work_items']:,} work items for {dataset.inbound:,} inbound mentions")
    if rows["clocks"] == 0:
        phase.problems.append("no SLA clock was started")
    if rows["red_flag_alerts"] != dataset.red_inbound:
        phase.problems.append(f"{rows['red_flag_alerts']:,} red-flag alerts for {dataset.red_inbound:,} red mentions")
    if rows["assigned"] == 0:
        phase.problems.append("nothing was assigned")
    if dataset.outbound and rows["responded"] == 0:
        phase.problems.append(f"none of {dataset.outbound:,} brand replies marked its mention responded")
    if phase.name == "runner" and pending:
        phase.problems.append(f"{pending:,} mentions still pending after the drain")


def reset(db: TimedDatabase) -> None:
    """Take back what the workflow wrote (the mentions stay pending), so the runner starts from the same state.

    The audit log is append-only, so its entries stay; `check` counts only those after a given id.
    """
    with db.write() as session:
        session.execute(delete(Alert))
        session.execute(delete(SlaClock))
        session.execute(delete(WorkRow))
        session.execute(update(TeamMember).values(last_assigned_at=None))
    vacuum_analyze(db)


def run(url: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill a fresh database at `url`, run the stage both ways and return the figures."""
    db = TimedDatabase(url)
    try:
        started = time.perf_counter()
        workspace = staffed_workspace(db)
        at = business_instant(datetime.now(UTC))
        dataset = ingest_triaged(db, workspace, args.count, received_at=at)
        vacuum_analyze(db)
        setup_s = time.perf_counter() - started
        settings = Settings(database_url=url, worker_enabled=False, feed_poll_enabled=False,  # type: ignore[call-arg]
                            _env_file=None)
        services = Services(settings)
        with db.read() as session:  # compile the playbook before timing, as a warm worker has
            services.workflows(session, workspace.id)
        figures: dict[str, Any] = {"database": label, "count": args.count, "batch_size": args.batch_size,
                                   "setup_s": round(setup_s, 1), "at": at.isoformat(), "dataset": vars(dataset)}
        phases: list[Phase] = []
        if args.mode in ("both", "stage"):
            profiler = cProfile.Profile() if args.profile else None
            floor = audit_floor(db)
            phase = run_stage_only(db, services, at, args.batch_size, profiler)
            check(db, dataset, phase, floor)
            phases.append(phase)
            show_profile(profiler, args.profile, f"{label}, stage only")
            if args.mode == "both":
                reset(db)
        if args.mode in ("both", "runner"):
            profiler = cProfile.Profile() if args.profile else None
            floor = audit_floor(db)
            phase = run_through_runner(db, services, at, args.batch_size, profiler)
            check(db, dataset, phase, floor)
            phases.append(phase)
            show_profile(profiler, args.profile, f"{label}, through the runner")
        figures["phases"] = [p.figures() for p in phases]
        return figures
    finally:
        db.dispose()


def show_profile(profiler: cProfile.Profile | None, lines: int, title: str) -> None:
    if profiler is None:
        return
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(lines)
        print(f"--- cProfile, {title}, by {order} ---")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20_000])


def show(figures: dict[str, Any]) -> None:
    """Print one database's figures and whether they meet the goal."""
    d = figures["dataset"]
    print(f"{figures['database']}: {d['mentions']:,} mentions ({d['inbound']:,} inbound: {d['flags']['red']:,} red, "
          f"{d['flags']['yellow']:,} yellow, {d['flags']['green']:,} green; {d['replies']:,} thread replies; "
          f"{d['outbound']:,} brand replies), batches of {figures['batch_size']}; set-up {figures['setup_s']}s")
    for p in figures["phases"]:
        cpu_rate = p["mentions"] / p["cpu_seconds"] if p["cpu_seconds"] else 0
        if p["mode"] == "stage":
            print(f"  stage only:        {p['mentions_per_s']:>7,} mentions/s ({p['mentions']:,} in {p['seconds']}s; "
                  f"this process's CPU {p['cpu_seconds']}s = {cpu_rate:,.0f}/s)")
            print(f"    prepare (plan_batch)   {p['prepare_per_s']:>7,}/s   {_ms(p['prepare_ms'])}")
            print(f"    apply (write_plans)    {p['apply_per_s']:>7,}/s   {_ms(p['apply_ms'])}   <- write lock")
        else:
            print(f"  through the runner:{p['mentions_per_s']:>7,} mentions/s ({p['mentions']:,} in {p['seconds']}s; "
                  f"this process's CPU {p['cpu_seconds']}s = {cpu_rate:,.0f}/s)")
            print(f"    reserve txn                     {_ms(p['reserve_ms'])}   <- write lock")
            print(f"    prepare (read session)          {_ms(p['prepare_ms'])}")
            print(f"      of which stored verdicts      {_ms(p['stand_in_ms'])}")
            print(f"    settle txn (apply + states)     {_ms(p['settle_ms'])}   <- write lock")
        r = p["rows"]
        print(f"    rows: {r['work_items']:,} work items ({r['assigned']:,} assigned, {r['responded']:,} responded, "
              f"{r['needs_response']:,} need a response), {r['clocks']:,} clocks ({r['clocks_met']:,} met), "
              f"{r['alerts']:,} alerts ({r['red_flag_alerts']:,} red flag), {r['audit']:,} audit entries")
        print(f"    queues: {', '.join(f'{q} {n:,}' for q, n in sorted(r['by_queue'].items()))}")
        print("    checks: " + ("all passed" if not p["problems"] else "FAILED: " + "; ".join(p["problems"])))
    rates = ", ".join(f"{'stage only' if p['mode'] == 'stage' else 'runner'} {p['mentions_per_s']:,}/s"
                      for p in figures["phases"])
    best = max((p["mentions_per_s"] for p in figures["phases"]), default=0)
    ok = all(not p["problems"] for p in figures["phases"])
    print(f"summary: workflow on {figures['database']}: {rates} "
          f"({'meets' if best >= GOAL else 'misses'} the {GOAL:,}/s goal; checks {'passed' if ok else 'FAILED'})")


def _ms(s: dict[str, float]) -> str:
    return f"avg {s['avg']:>7.2f} ms   p50 {s['p50']:>7.2f}   p99 {s['p99']:>7.2f}   max {s['max']:>7.2f} ms/batch"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="Triaged mentions to set up (default 100,000).")
    parser.add_argument("--batch-size", type=int, default=256, help="Mentions per batch (the worker's; default 256).")
    parser.add_argument("--database-url", help="A PostgreSQL server URL; a scratch database is made there.")
    parser.add_argument("--mode", choices=["both", "stage", "runner"], default="both",
                        help="Time the stage alone, through the runner, or both (default).")
    parser.add_argument("--profile", type=int, default=0, metavar="LINES",
                        help="Print a cProfile of each timed run, this many lines per ordering.")
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with scratch_database(args.database_url) as (label, url):
        figures = run(url, label, args)
    show(figures)
    if args.json:
        print(orjson.dumps(figures).decode())
    return 0 if all(not p["problems"] for p in figures["phases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
