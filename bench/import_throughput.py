"""Measure `firebreak ingest` throughput on synthetic mentions, into SQLite and PostgreSQL.

Generates N realistic mentions (varied texts, ~N/5 distinct authors, about one in six a reply)
as a JSONL file in a temporary folder, then times the same code path as `firebreak ingest`
(parse and validate every line, then store in committed batches) into a fresh SQLite file and
into a fresh PostgreSQL database created on the server and dropped afterwards.

    .venv/bin/python bench/import_throughput.py [--count 100000] [--batch-size 5000]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--profile sqlite]

Figures are wall-clock, so they include whatever else the machine is doing; the process's own CPU
time is printed beside them. Repeat a run before trusting one.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.pool import NullPool

from firebreak.channels import service as channel_service
from firebreak.db.engine import Database, make_engine
from firebreak.db.migrate import upgrade
from firebreak.importers.formats import read_mentions
from firebreak.importers.store import DEFAULT_BATCH_SIZE, check_channels, paused_gc, store_batches
from firebreak.mentions.models import Mention
from firebreak.workspaces import service as workspace_service

GOAL_SQLITE = 20_000
SUBJECTS = [
    "my order",
    "the app",
    "your checkout",
    "the delivery",
    "my refund",
    "the new update",
    "customer service",
    "my account",
    "the website",
    "your support line",
    "the invoice",
    "my parcel",
    "the flight",
    "my booking",
]
PROBLEMS = [
    "never arrived",
    "keeps crashing",
    "is down again",
    "charged me twice",
    "was cancelled without notice",
    "is stuck in processing",
    "won't load",
    "lost my data",
    "took three weeks",
    "is a total joke",
    "logged me out",
    "shows the wrong price",
    "was rude to me",
    "has been on hold for an hour",
]
PRAISE = [
    "love the new design",
    "thanks for the quick fix",
    "best service I've had all year",
    "great job today",
    "the team was super helpful",
    "delivery came early, nice",
    "finally works, thank you",
]
TAILS = [
    "",
    " #fail",
    " #help",
    " please fix",
    " @support",
    " 😡",
    " 🙏",
    " !!!",
    " any update?",
    " DM me",
    " https://example.com/p/{n}",
    " (third time this month)",
    " #customerservice",
    " ...seriously",
]
FIRST = ["ann", "bob", "carla", "dev", "eli", "fatima", "gus", "hana", "ivan", "jo", "kemal", "lena", "mo", "nia"]
TAGS = ["customer", "journalist", "influencer", "partner", "troll", "employee"]


def generate(path: Path, count: int, seed: int = 20261122) -> None:
    """Write `count` synthetic mentions as JSONL to `path`."""
    rng = random.Random(seed)
    authors = max(1, count // 5)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    lines = []
    for n in range(count):
        a = rng.randrange(authors)
        author: dict[str, object] = {"handle": f"{FIRST[a % len(FIRST)]}_{a}"}
        if a % 3:
            author["display_name"] = f"{author['handle']}".replace("_", " ").title()
        if a % 2:
            author["followers"] = (a * 7919) % 250_000
        if a % 97 == 0:
            author["verified"] = True
        if a % 41 == 0:
            author["tags"] = [TAGS[a % len(TAGS)]]
        body = rng.choice(PRAISE) if rng.random() < 0.2 else f"{rng.choice(SUBJECTS)} {rng.choice(PROBLEMS)}"
        words = rng.randint(0, 12)
        filler = " ".join(rng.choice(PROBLEMS).split()[0] for _ in range(words))
        item: dict[str, object] = {
            "external_id": str(10_000_000_000 + n),
            "text": f"@brand {body} {filler}{rng.choice(TAILS).format(n=n)}".strip(),
            "created_at": (start + timedelta(seconds=n * 13 + rng.randrange(13))).isoformat().replace("+00:00", "Z"),
            "url": f"https://x.com/{author['handle']}/status/{10_000_000_000 + n}",
            "language": "en",
            "author": author,
        }
        if n > 10 and rng.random() < 0.16:
            item["reply_to"] = str(10_000_000_000 + n - rng.randint(1, min(n, 500)))
        if rng.random() < 0.05:
            item["direction"] = "outbound"
        lines.append(orjson.dumps(item))
    path.write_bytes(b"\n".join(lines) + b"\n")


def run_once(
    url: str, data: bytes, path: Path, batch_size: int, profiler: cProfile.Profile | None = None
) -> tuple[float, float, int]:
    """Migrate a fresh database at `url`, import the file into it; return (seconds, CPU seconds, created)."""
    # Pooled like the CLI's database(): one connection reused across batches.
    db = Database(url)
    upgrade(db.engine)
    with db.write() as session:
        ws = workspace_service.create_workspace(session=session, slug="bench", name="Bench")
        channel_service.create_channel(session=session, workspace_id=ws.id, slug="x-main", kind="x")
        workspace_id = ws.id
    if profiler is not None:
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    # What `firebreak ingest` does between reading the file and printing its summary.
    with paused_gc():
        parsed = read_mentions(data, path=str(path), max_text_chars=20_000)
        check_channels(parsed, known={"x-main"}, default_slug="x-main", create_missing=False, skip_bad_rows=False)
        result = store_batches(
            db=db, workspace_id=workspace_id, parsed=parsed, default_slug="x-main", batch_size=batch_size
        )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
    with db.read() as session:
        stored = session.scalar(select(func.count()).select_from(Mention))
    db.dispose()
    assert stored == result.created == len(parsed.items), (stored, result.created, len(parsed.items))
    return seconds, cpu, result.created


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="Server to use.")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--profile", choices=["sqlite", "postgres"], help="Print a cProfile of this run.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "mentions.jsonl"
        started = time.perf_counter()
        generate(path, args.count)
        data = path.read_bytes()
        print(f"generated {args.count:,} mentions ({len(data) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        with paused_gc():
            parsed = read_mentions(data, path=str(path), max_text_chars=20_000)
        parse_s = time.perf_counter() - started
        print(f"parse only:  {len(parsed.items) / parse_s:>9,.0f} mentions/s ({parse_s:.2f}s)")
        del parsed

        profiler = cProfile.Profile() if args.profile else None
        seconds, cpu, created = run_once(
            f"sqlite:///{folder / 'bench.db'}",
            data,
            path,
            args.batch_size,
            profiler if args.profile == "sqlite" else None,
        )
        verdict = "meets" if created / seconds >= GOAL_SQLITE else "misses"
        print(
            f"SQLite:      {created / seconds:>9,.0f} mentions/s ({seconds:.2f}s, this process's CPU {cpu:.2f}s; "
            f"{verdict} the {GOAL_SQLITE:,}/s goal)"
        )

        if not args.skip_postgres:
            _postgres(args, data, path, profiler)
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return 0


def _postgres(args: argparse.Namespace, data: bytes, path: Path, profiler: cProfile.Profile | None) -> None:
    name = f"firebreak_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.postgres, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "skip"
        print(f"PostgreSQL:  skipped, {args.postgres} is not reachable ({type(exc).__name__})")
        admin.dispose()
        return
    try:
        url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        seconds, cpu, created = run_once(
            url, data, path, args.batch_size, profiler if args.profile == "postgres" else None
        )
        print(f"PostgreSQL:  {created / seconds:>9,.0f} mentions/s ({seconds:.2f}s, this process's CPU {cpu:.2f}s)")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
