"""Test stages for the pipeline tests, and a worker process to kill: `python -m tests.pipeline_support`.

The entry point drains the queue of the database it is given with the default stages plus `SeenStage`
(one audit row per mention, flushed and then reported on stdout, so a test knows how far the open batch
has got; it can also stop dead at a chosen mention) and `PoisonStage` (the process kills itself on
texts containing "poison").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import ClassVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.db.engine import open_database
from firebreak.mentions.models import Author
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.pipeline.registry import default_stages
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.normalise import NormaliseStage
from firebreak.worker import BackgroundWorker

SEEN = "test.seen"


class SeenStage(Stage):
    """Write one audit row per mention (an effect that must never be committed twice)."""

    name = "seen"

    def __init__(self, *, sleep: float = 0.0, report: bool = False, hang_after: int | None = None) -> None:
        self.sleep = sleep
        self.report = report
        self.hang_after = hang_after
        self.count = 0

    def process_one(self, session: Session, item: WorkItem) -> None:
        mention = item.mention
        audit.record(
            session=session,
            workspace_id=mention.workspace_id,
            actor="test",
            action=SEEN,
            subject_type="mention",
            subject_id=mention.id,
        )
        session.flush()  # the row is really in the open transaction when the test kills the process
        self.count += 1
        if self.report:
            print(f"seen {mention.id}", flush=True)
        if self.sleep:
            time.sleep(self.sleep)
        if self.count == self.hang_after:
            time.sleep(600)  # stuck mid-batch until the test kills the process


class BoomStage(Stage):
    """Raise for texts containing "boom" while armed."""

    name = "boom"

    def __init__(self) -> None:
        self.armed = True
        self.calls: list[int] = []

    def process_one(self, session: Session, item: WorkItem) -> None:
        self.calls.append(item.mention.id)
        if self.armed and "boom" in item.mention.text:
            raise RuntimeError(f"cannot handle mention {item.mention.id}")


class BulkBoomStage(Stage):
    """Work in bulk, and raise for the whole batch when any text in it contains "boom"."""

    name = "bulk"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def process(self, session: Session, items: list[WorkItem]) -> None:
        self.batch_sizes.append(len(items))
        for item in items:
            item.mention.entities = {**(item.mention.entities or {}), "bulk": True}
        if any("boom" in item.mention.text for item in items):
            raise ValueError("bulk call rejected the batch")


class DuplicateRowStage(Stage):
    """Insert one author row per mention, and a clashing duplicate for texts containing "dup".

    `flush` adds ORM objects, so the error surfaces when the runner flushes the stage; `execute` runs
    Core inserts from `process_one`, whose error the default `process` catches itself.
    """

    name = "dup"
    modes: ClassVar[tuple[str, ...]] = ("execute", "flush")

    def __init__(self, mode: str) -> None:
        assert mode in self.modes
        self.mode = mode

    def process(self, session: Session, items: list[WorkItem]) -> None:
        if self.mode == "execute":
            super().process(session, items)
            return
        for item in items:
            for _ in range(2 if "dup" in item.mention.text else 1):
                session.add(self._author(item))

    def process_one(self, session: Session, item: WorkItem) -> None:
        row = self._author(item)
        values = {"workspace_id": row.workspace_id, "network": row.network, "handle": row.handle, "tags": []}
        session.execute(insert(Author).values(**values))
        if "dup" in item.mention.text:
            session.execute(insert(Author).values(**values))

    @staticmethod
    def _author(item: WorkItem) -> Author:
        return Author(workspace_id=item.mention.workspace_id, network="test", handle=f"m{item.mention.id}", tags=[])

    @staticmethod
    def handles(session: Session) -> set[str]:
        """Return the handles this stage has stored."""
        return set(session.scalars(select(Author.handle).where(Author.network == "test")))


class PoisonStage(Stage):
    """Kill the whole process, as a crash in native code would, on texts containing "poison"."""

    name = "poison"

    def process_one(self, session: Session, item: WorkItem) -> None:
        if "poison" in item.mention.text:
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    """Drain the queue once with the test stages; print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds SeenStage waits per mention")
    parser.add_argument("--hang-after", type=int, default=None, help="SeenStage stops after this many mentions")
    parser.add_argument("--retry-base", type=float, default=0.2)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--light", action="store_true", help="normalise only: skip loading the language model")
    args = parser.parse_args(argv)
    stages: list[Stage] = [NormaliseStage()] if args.light else default_stages()
    stages += [SeenStage(sleep=args.sleep, report=True, hang_after=args.hang_after), PoisonStage()]
    pipeline = Pipeline(stages, max_attempts=args.max_attempts, retry_base_seconds=args.retry_base)
    db = open_database(args.url)
    try:
        done = BackgroundWorker(db, pipeline, batch_size=args.batch_size).drain()
    finally:
        db.dispose()
    print(json.dumps({"processed": done}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
