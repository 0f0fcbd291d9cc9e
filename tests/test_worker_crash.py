"""Crash-resume for real: worker processes killed with SIGKILL mid-batch, on both databases.

The worker is `python -m tests.pipeline_support`; its `SeenStage` reports each mention on stdout while it
prepares the batch, or after its `apply` has written the batch's audit rows in the open write
transaction, so the test kills the process at a known point inside an open batch.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from firebreak.audit.models import AuditEntry
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention, PipelineError
from tests.factories import ingest, mention
from tests.pipeline_support import SEEN

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BATCH = 25


def _worker(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline_support", url, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _seen(db: Database) -> Counter[int]:
    with db.read() as session:
        return Counter(int(s) for s in session.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == SEEN)))


def _states(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(
            {state: n for state, n in session.execute(select(Mention.state, func.count()).group_by(Mention.state))}
        )


@pytest.mark.parametrize("phase", ["prepare", "apply"])
def test_worker_killed_mid_batch_resumes_and_processes_every_mention_once(db, acme, database_url, phase):
    ids = ingest(db, acme, [mention(i, f"my order {i} never arrived, again") for i in range(1, 301)]).ids
    # Claimed oldest first, and all arrived at once: by id (PostgreSQL ingest numbers them in key order).
    order = sorted(ids)
    # Two batches committed, and the third is 10 mentions into its prepare, or has written its audit
    # rows in the open write transaction, when it stops.
    kill_after = 2 * BATCH + 10
    args = ["--batch-size", str(BATCH), "--sleep", "0.005", "--hang-after", str(kill_after), "--hang-in", phase]
    first = _worker(database_url, *args)
    try:
        assert first.stdout is not None
        for count, line in enumerate(first.stdout, start=1):
            assert line.startswith("seen "), line
            if count == kill_after:
                break
        time.sleep(0.05)
        assert first.poll() is None, "the worker must still be inside its batch"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
    finally:
        first.kill()
        first.wait()

    assert _states(db) == {"processed": 2 * BATCH, "pending": 300 - 2 * BATCH}
    assert _seen(db) == Counter({i: 1 for i in order[: 2 * BATCH]}), "the killed batch's rows died with it"
    with db.read() as session:
        lost = set(session.scalars(select(Mention.id).where(Mention.state == "pending", Mention.attempts == 1)))
    assert lost == set(order[2 * BATCH : 3 * BATCH]), "the killed batch's try was counted before it ran"

    started = time.monotonic()
    second = _worker(database_url, "--batch-size", str(BATCH))
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"processed": 300 - 2 * BATCH}
    drained_in = time.monotonic() - started

    assert _states(db) == {"processed": 300}
    assert _seen(db) == Counter({i: 1 for i in ids}), "every mention's effect committed exactly once"
    with db.read() as session:
        attempts = {i: n for i, n in session.execute(select(Mention.id, Mention.attempts))}
        worker_errors = set(session.scalars(select(PipelineError.mention_id).where(PipelineError.stage == "worker")))
    assert {i for i, n in attempts.items() if n == 2} == lost and set(attempts.values()) == {1, 2}
    assert worker_errors == lost
    assert drained_in < 30


def test_a_mention_that_kills_the_worker_is_parked_and_the_rest_processed(db, acme, database_url):
    ids = ingest(db, acme, [mention(i, "poison" if i == 15 else f"post {i}") for i in range(1, 41)]).ids
    poison = ids[14]
    exits = []
    for _ in range(6):  # bounded: the fix parks it after 3 crashes; without it this never ends
        proc = _worker(database_url, "--light", "--batch-size", "10", "--max-attempts", "3", "--retry-base", "0.05")
        _, err = proc.communicate(timeout=60)
        exits.append(proc.returncode)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err
        time.sleep(0.1)  # past the lost try's retry delay

    assert exits == [-signal.SIGKILL] * 3 + [0]
    assert _states(db) == {"processed": 39, "parked": 1}
    assert _seen(db) == Counter({i: 1 for i in ids if i != poison})
    with db.read() as session:
        row = session.get(Mention, poison)
        assert row is not None and (row.state, row.attempts) == ("parked", 3)
        assert row.last_error and row.last_error.startswith("worker: ")
        errors = session.execute(
            select(PipelineError.stage, PipelineError.attempt).where(PipelineError.mention_id == poison)
        ).all()
    assert [tuple(e) for e in errors] == [("worker", 1), ("worker", 2), ("worker", 3)]
