"""Measure the pipeline worker: mentions/s, and how long each batch holds the database's write lock.

Ingests N synthetic mentions (several languages, none stated, so language detection runs for each)
into a fresh SQLite file, and into a scratch PostgreSQL database when the server is reachable, then
drains them with the default stages the way `firebreak pipeline run` does, batch by batch. Every write
transaction of the worker is timed from the moment it holds the writer lock to its commit: per batch,
the first is the reservation, the rest settle the batch (phase 3, "apply"). Meanwhile a probe thread
commits a tiny write through the same Database every few milliseconds, as the webhook does, and
records how long each one took: that is what the worker's write transactions cost everyone else.

    .venv/bin/python bench/pipeline_throughput.py [--count 20000] [--batch-size 256]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--skip-postgres] [--no-probe] [--json]

Figures are wall-clock on whatever else the machine is doing; repeat a run before trusting one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
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
import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from firebreak.channels import service as channel_service
from firebreak.db.engine import Database, make_engine
from firebreak.db.migrate import upgrade
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Mention
from firebreak.mentions.schemas import MentionIn
from firebreak.services import build_pipeline
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service

INGEST_CHUNK = 2_000
TEMPLATES = {
    "en": [
        "my order never arrived and nobody answers the phone",
        "the app keeps crashing every time I open my booking",
        "thanks for the quick fix, it works great now",
        "you charged me twice for the same flight, please refund me",
    ],
    "es": [
        "mi pedido nunca llegó y nadie contesta el teléfono",
        "la aplicación se cierra cada vez que abro mi reserva",
        "gracias por la ayuda, ya funciona todo perfecto",
    ],
    "fr": [
        "ma commande n'est jamais arrivée et personne ne répond",
        "le vol est encore en retard, c'est la troisième fois ce mois-ci",
        "merci pour la réponse rapide, tout fonctionne maintenant",
    ],
    "de": [
        "meine Bestellung ist nie angekommen und niemand geht ans Telefon",
        "die App stürzt jedes Mal ab, wenn ich meine Buchung öffne",
    ],
    "pt": ["meu pedido nunca chegou e ninguém atende o telefone", "obrigado pela ajuda, agora está tudo certo"],
    "it": ["il mio ordine non è mai arrivato e nessuno risponde al telefono"],
}
TAILS = ["", " #fail", " @support", " https://example.com/p/{n}", " $ACME", " &amp; again", " 😡", " please help!!"]


def synthetic_mentions(count: int, seed: int = 20261122) -> list[MentionIn]:
    """Return `count` varied mentions without a stated language."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    languages = list(TEMPLATES)
    items = []
    for n in range(count):
        body = rng.choice(TEMPLATES[rng.choice(languages)])
        extra = rng.choice(TEMPLATES["en"]) if rng.random() < 0.2 else ""
        raw = {
            "external_id": str(10_000_000_000 + n),
            "text": f"@brand {body} {extra}{rng.choice(TAILS).format(n=n)}".strip(),
            "created_at": (start + timedelta(seconds=n * 3)).isoformat(),
            "author": {"handle": f"user_{rng.randrange(max(1, count // 5))}"},
        }
        items.append(msgspec.convert(raw, MentionIn))
    return items


class TimedDatabase(Database):
    """A Database that times the write transactions of one thread (the worker's)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.timed_thread: int | None = None
        self.holds: list[float] = []

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open a write session; time it from holding the writer lock to the end of its commit."""
        with super().write() as session:
            # Entering waited for the in-process writer lock; on SQLite the file lock comes with the
            # first statement, which is inside the timed span.
            started = time.perf_counter()
            try:
                yield session
            finally:
                timed = threading.get_ident() == self.timed_thread
        if timed:
            self.holds.append(time.perf_counter() - started)


@dataclass
class Result:
    """What one database's run measured."""

    database: str
    mentions: int
    seconds: float
    batches: int
    reserve_ms: list[float] = field(default_factory=list)
    apply_ms: list[float] = field(default_factory=list)
    probe_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.mentions / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        """Return the figures as a flat dict."""
        figures: dict[str, Any] = {
            "database": self.database,
            "mentions": self.mentions,
            "seconds": round(self.seconds, 2),
            "mentions_per_s": round(self.rate),
            "batches": self.batches,
        }
        for name in ("reserve_ms", "apply_ms", "probe_ms"):
            values = getattr(self, name)
            if values:
                figures[name] = {
                    "avg": round(statistics.fmean(values), 2),
                    "p99": round(_percentile(values, 99), 2),
                    "max": round(max(values), 2),
                    "n": len(values),
                }
        return figures


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def prepare(db: Database, count: int) -> None:
    """Migrate the database and ingest `count` pending mentions into a fresh workspace."""
    upgrade(db.engine)
    with db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug="bench", name="Bench")
        channel = channel_service.create_channel(session=session, workspace_id=ws.id, slug="x-main", kind="x")
        session.execute(text("CREATE TABLE bench_probe (id INTEGER PRIMARY KEY, at TEXT)"))
        workspace_id = ws.id
    items = synthetic_mentions(count)
    for start in range(0, count, INGEST_CHUNK):
        with db.write() as session:
            mention_service.ingest_mentions(
                session=session,
                workspace_id=workspace_id,
                channels={"x-main": channel},
                default_channel=channel,
                items=items[start : start + INGEST_CHUNK],
            )


def probe(db: Database, stop: threading.Event, interval: float, latencies: list[float]) -> None:
    """Commit one tiny write every `interval` seconds until stopped; record each one's latency."""
    n = 0
    while not stop.is_set():
        n += 1
        started = time.perf_counter()
        with db.write() as session:
            session.execute(text("INSERT INTO bench_probe (id, at) VALUES (:id, :at)"), {"id": n, "at": str(started)})
        latencies.append((time.perf_counter() - started) * 1000)
        stop.wait(interval)


def run(url: str, label: str, args: argparse.Namespace) -> Result:
    """Fill a fresh database at `url`, drain it with the default pipeline and return the figures."""
    db = TimedDatabase(url)
    try:
        prepare(db, args.count)
        settings = Settings(database_url=url, worker_enabled=False, feed_poll_enabled=False, _env_file=None)  # type: ignore[call-arg]
        worker = BackgroundWorker(db, build_pipeline(settings), batch_size=args.batch_size)
        for stage in worker.pipeline.stages:
            warm_up = getattr(stage, "warm_up", None)
            if callable(warm_up):
                warm_up()
        db.timed_thread = threading.get_ident()
        result = Result(database=label, mentions=0, seconds=0.0, batches=0)
        stop = threading.Event()
        prober = threading.Thread(target=probe, args=(db, stop, args.probe_interval, result.probe_ms), daemon=True)
        if not args.no_probe:
            prober.start()
        started = time.perf_counter()
        try:
            while True:
                db.holds.clear()
                report = worker.run_once()
                if not report.claimed:
                    break
                result.batches += 1
                result.mentions += len(report.processed)
                result.reserve_ms.append(db.holds[0] * 1000)
                result.apply_ms.append(sum(db.holds[1:]) * 1000)
        finally:
            result.seconds = time.perf_counter() - started
            stop.set()
            if prober.is_alive():
                prober.join(10)
        with db.read() as session:
            left = session.scalar(select(func.count()).select_from(Mention).where(Mention.state != "processed"))
        assert left == 0 and result.mentions == args.count, (left, result.mentions)
        return result
    finally:
        db.dispose()


def show(result: Result) -> None:
    """Print one run's figures."""
    figures = result.summary()
    print(
        f"{result.database:<11} {result.rate:>7,.0f} mentions/s ({result.mentions:,} in {result.seconds:.1f}s, "
        f"{result.batches} batches)"
    )
    for name, title in (
        ("reserve_ms", "reserve txn"),
        ("apply_ms", "apply txn (phase 3)"),
        ("probe_ms", "concurrent writer"),
    ):
        if name in figures:
            f = figures[name]
            print(f"    {title:<20} avg {f['avg']:>7.2f} ms   p99 {f['p99']:>7.2f} ms   max {f['max']:>7.2f} ms")


@contextmanager
def scratch_postgres(server: str) -> Iterator[str | None]:
    """Yield the URL of a scratch database on `server` (dropped afterwards), or None if unreachable."""
    name = f"firebreak_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "skip"
        print(f"PostgreSQL  skipped: {server} is not reachable ({type(exc).__name__})")
        admin.dispose()
        yield None
        return
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="Mentions to ingest and drain (default 20,000).")
    parser.add_argument("--batch-size", type=int, default=256, help="Mentions per batch (default 256).")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="Server to use.")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--no-probe", action="store_true", help="Run without the concurrent writer.")
    parser.add_argument("--probe-interval", type=float, default=0.01, help="Seconds between probe writes.")
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON lines.")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        results.append(run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args))
        show(results[-1])
    if not args.skip_postgres:
        with scratch_postgres(args.postgres) as url:
            if url is not None:
                results.append(run(url, "PostgreSQL", args))
                show(results[-1])
    if args.json:
        for result in results:
            print(orjson.dumps(result.summary()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
