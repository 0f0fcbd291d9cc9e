"""Measure the signed webhook end to end: `firebreak serve` in a subprocess, clients over loopback.

Sets up a scratch deployment the way an operator would (`firebreak init`, `firebreak workspace
create`, `firebreak channel create`), starts `firebreak serve` with its pipeline worker on a free
loopback port, then for a fixed time sends signed batches of unique mentions from a few client
threads. Each latency is request sent -> 202 received, and the server answers 202 only after the
batch is committed. Afterwards it waits for the worker to process everything that was accepted.

    .venv/bin/python bench/webhook_throughput.py [--seconds 20] [--clients 4] [--batch 100]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--worker-batch-size N]
        [--no-worker] [--wrap 'py-spy record -o serve.txt -f raw --'] [--json]

With --database-url the bench creates a scratch database on that PostgreSQL server and drops it
afterwards; without it, a SQLite file in a temporary folder. Texts are real airline tweets from
/work/shared/data when present. Figures are wall-clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from firebreak.mentions.models import Mention
from firebreak.mentions.webhook import sign

GOAL_RATE = 2_000  # mentions/s sustained
GOAL_P99_MS = 250.0
AIRLINE_CSV = Path("/work/shared/data/airline/airline_train.csv")
FALLBACK_TEXTS = [
    "my order never arrived and nobody answers the phone",
    "the app keeps crashing when I open my booking",
    "thanks for the quick fix, works great now",
    "charged me twice for the same flight, please refund",
    "¿alguien sabe por qué la web no carga?",
    "le vol est encore en retard, c'est la troisième fois",
]


def load_texts(limit: int = 5_000) -> list[str]:
    """Return real tweet texts to send (or a few stock ones when the data folder is absent)."""
    if not AIRLINE_CSV.exists():
        return FALLBACK_TEXTS
    with AIRLINE_CSV.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for _, row in zip(range(limit), csv.DictReader(handle), strict=False) if row["text"]]
    return texts or FALLBACK_TEXTS


def free_port() -> int:
    """Return a loopback port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def firebreak(env: dict[str, str], *args: str) -> str:
    """Run one `firebreak` CLI command and return what it printed; stop on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "firebreak", *args],
        env=env,
        cwd=env["FIREBREAK_DATA_DIR"],  # away from any stray .env file
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"firebreak {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """Create an empty database on the server for this run and drop it afterwards."""
    name = f"firebreak_bench_{uuid.uuid4().hex[:8]}"
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+psycopg://" + server_url[len("postgresql://") :]
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    first_sent: float = float("inf")
    last_answer: float = 0.0


def client_loop(
    index: int, base_url: str, secret: str, texts: list[str], batch: int, deadline: float, stats: ClientStats
) -> None:
    """Send signed batches of unique mentions until the deadline, timing each request."""
    url = f"{base_url}/api/v1/workspaces/bench/mentions"
    sequence = 0
    with httpx.Client(timeout=60) as client:
        while time.perf_counter() < deadline:
            items = []
            for i in range(batch):
                n = sequence * batch + i
                items.append(
                    {
                        "external_id": f"c{index}-{n}",
                        "text": texts[(index * 7919 + n) % len(texts)],
                        "author": {"handle": f"user_{(index * 31 + n) % 5000}"},
                        "url": f"https://x.com/i/status/c{index}-{n}",
                    }
                )
            sequence += 1
            body = orjson.dumps(items)
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Firebreak-Channel": "hooks",
                "X-Firebreak-Timestamp": ts,
                "X-Firebreak-Signature": sign(secret, ts, body),
            }
            sent = time.perf_counter()
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                stats.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            answered = time.perf_counter()
            stats.first_sent = min(stats.first_sent, sent)
            stats.last_answer = max(stats.last_answer, answered)
            if response.status_code != 202 or response.json().get("created") != batch:
                stats.failures.append(f"{response.status_code}: {response.text[:200]}")
                continue
            stats.latencies.append(answered - sent)
            stats.sent_at.append(sent)
            stats.accepted += batch


def pending_count(engine: Any) -> tuple[int, int]:
    """Return (pending, total) mentions in the database."""
    with engine.connect() as conn:
        rows = dict(conn.execute(select(Mention.state, func.count()).group_by(Mention.state)).all())
    return rows.get("pending", 0), sum(rows.values())


def percentile(values: list[float], pct: float) -> float:
    """Return the nearest-rank percentile of `values`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(args: argparse.Namespace, database_url: str, folder: Path) -> dict[str, Any]:
    """Set up, serve, load and measure; return the figures."""
    env = {
        **os.environ,
        "FIREBREAK_DATA_DIR": str(folder),
        "FIREBREAK_DATABASE_URL": database_url,
        "FIREBREAK_FEED_POLL_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    if args.worker_batch_size:
        env["FIREBREAK_WORKER_BATCH_SIZE"] = str(args.worker_batch_size)
    firebreak(env, "init")
    firebreak(env, "workspace", "create", "bench", "--name", "Bench")
    printed = firebreak(env, "channel", "create", "--workspace", "bench", "hooks", "--kind", "webhook")
    found = re.search(r"Webhook secret:\s*(\S+)", printed)
    if not found:
        raise SystemExit(f"no webhook secret in the CLI output:\n{printed}")
    secret = found.group(1)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (folder / "serve.log").open("w")
    serve_args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.no_worker:
        serve_args.append("--no-worker")
    command = [sys.executable, "-m", "firebreak", *serve_args]
    if args.wrap:
        command = [*shlex.split(args.wrap), *command]
    server = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=log)
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"firebreak serve exited ({server.returncode}); see {folder / 'serve.log'}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 60:
                raise SystemExit("firebreak serve did not become healthy within 60s")
            time.sleep(0.1)

        texts = load_texts()
        cpu_before = cpu_seconds(server.pid)
        stats = [ClientStats() for _ in range(args.clients)]
        load_started = time.perf_counter()
        deadline = load_started + args.seconds
        threads = [
            threading.Thread(
                target=client_loop, args=(i, base_url, secret, texts, args.batch, deadline, stats[i]), daemon=True
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        samples: list[tuple[float, int]] = []
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.5)
            pending, total = pending_count(engine)
            samples.append((time.perf_counter() - load_started, total - pending))
        for thread in threads:
            thread.join()
        load_ended = max(s.last_answer for s in stats) or time.perf_counter()
        cpu_load = cpu_seconds(server.pid) - cpu_before

        # The worker keeps going after the clients stop; time how long it needs to catch up.
        drained_at = None
        if not args.no_worker:
            while time.perf_counter() - load_ended < args.drain_timeout:
                pending, total = pending_count(engine)
                if pending == 0:
                    drained_at = time.perf_counter()
                    break
                time.sleep(0.1)
        pending, total = pending_count(engine)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        engine.dispose()

    latencies = [lat for s in stats for lat in s.latencies]
    timeline = sorted((lat, at - load_started) for s in stats for lat, at in zip(s.latencies, s.sent_at, strict=True))
    accepted = sum(s.accepted for s in stats)
    first_sent = min(min(s.first_sent for s in stats), load_ended)
    elapsed = load_ended - first_sent
    return {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "clients": args.clients,
        "batch": args.batch,
        "requests": len(latencies),
        "accepted": accepted,
        "stored": total,
        "failures": sum(len(s.failures) for s in stats),
        "failure_examples": [f for s in stats for f in s.failures][:3],
        "seconds": round(elapsed, 2),
        "mentions_per_s": round(accepted / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),  # nan when nothing was accepted
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "slowest": [(round(at, 2), round(lat * 1000)) for lat, at in timeline[-5:][::-1]],
        "server_cpu_s": round(cpu_load, 1),
        "processed_during_load": samples[-1][1] if samples else 0,
        "worker_drain_after_load_s": round(drained_at - load_ended, 2) if drained_at else None,
        "worker_total_s": round(drained_at - first_sent, 2) if drained_at else None,
        "left_pending": pending,
        # When the worker fell behind or failed, its log usually says why.
        "serve_log_tail": (folder / "serve.log").read_text(errors="replace").splitlines()[-12:] if pending else [],
    }


def report(figures: dict[str, Any]) -> None:
    """Print the figures and whether they meet the goals."""
    rate_ok = figures["mentions_per_s"] >= GOAL_RATE
    p99_ok = figures["p99_ms"] < GOAL_P99_MS
    print(f"database:     {figures['database']}  ({figures['clients']} clients, batches of {figures['batch']})")
    print(
        f"accepted:     {figures['accepted']:,} mentions in {figures['requests']:,} requests over "
        f"{figures['seconds']}s; stored {figures['stored']:,}; failures {figures['failures']}"
    )
    for example in figures["failure_examples"]:
        print(f"  failure:    {example}")
    print(
        f"throughput:   {figures['mentions_per_s']:,.0f} mentions/s sustained "
        f"({'meets' if rate_ok else 'misses'} the {GOAL_RATE:,}/s goal)"
    )
    print(
        f"latency:      p50 {figures['p50_ms']} ms  p95 {figures['p95_ms']} ms  p99 {figures['p99_ms']} ms  "
        f"max {figures['max_ms']} ms  ({'meets' if p99_ok else 'misses'} the p99 < {GOAL_P99_MS:.0f} ms goal)"
    )
    slowest = ", ".join(f"{ms} ms at {at}s" for at, ms in figures["slowest"])
    print(f"slowest:      {slowest}")
    print(f"server CPU:   {figures['server_cpu_s']} s during the load")
    if figures["worker_total_s"] is not None:
        done_during = figures["processed_during_load"]
        print(
            f"worker:       {done_during:,} processed while the load ran; all {figures['accepted']:,} processed "
            f"{figures['worker_drain_after_load_s']}s after the last 202 ({figures['worker_total_s']}s in all, "
            f"{figures['accepted'] / figures['worker_total_s']:,.0f} mentions/s)"
        )
    elif figures["left_pending"]:
        print(f"worker:       {figures['left_pending']:,} mentions still pending at the end")
        if figures["serve_log_tail"] and figures["worker_total_s"] is None:
            print("serve log:    " + "\n              ".join(figures["serve_log_tail"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the clients send (default 20).")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent client threads (default 4).")
    parser.add_argument("--batch", type=int, default=100, help="Mentions per request (default 100).")
    parser.add_argument("--database-url", help="A PostgreSQL server URL; a scratch database is made there.")
    parser.add_argument("--worker-batch-size", type=int, help="FIREBREAK_WORKER_BATCH_SIZE for the server.")
    parser.add_argument("--no-worker", action="store_true", help="Serve without the pipeline worker.")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="Longest wait for the worker (s).")
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    parser.add_argument(
        "--wrap",
        help="Prefix for the server command, to profile it: --wrap 'py-spy record -o serve.txt -f raw --'.",
    )
    args = parser.parse_args()
    if args.database_url and not args.database_url.startswith("postgresql"):
        parser.error("--database-url takes a PostgreSQL server URL (SQLite is the default)")

    with tempfile.TemporaryDirectory(prefix="firebreak-webhook-bench-") as tmp:
        folder = Path(tmp)
        if args.database_url:
            with scratch_postgres(args.database_url) as url:
                figures = run(args, url, folder)
        else:
            figures = run(args, f"sqlite:///{folder / 'firebreak.db'}", folder)
    report(figures)
    if args.json:
        print(orjson.dumps(figures).decode())
    return 0 if figures["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
