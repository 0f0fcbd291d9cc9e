"""Test stages for the pipeline tests, and a worker process to kill: `python -m tests.pipeline_support`.

The entry point drains the queue of the database it is given with the default stages plus `SeenStage`
(one audit row per mention, written in bulk by its `apply`; it reports each mention on stdout, so a
test knows how far the open batch has got, and can stop dead at a chosen mention, in `prepare` or
inside the write transaction of `apply`) and `PoisonStage` (the process kills itself on texts
containing "poison").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import ClassVar

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from firebreak.audit.models import AuditEntry
from firebreak.core.clock import utcnow
from firebreak.db.engine import open_database
from firebreak.mentions.models import Author
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.normalise import NormaliseStage
from firebreak.services import default_stages
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker

SEEN = "test.seen"


class SeenStage(Stage):
    """Write one audit row per mention (an effect that must never be committed twice)."""

    name = "seen"
    phases: ClassVar[tuple[str, ...]] = ("prepare", "apply")

    def __init__(
        self, *, sleep: float = 0.0, report: bool = False, hang_after: int | None = None, hang_in: str = "apply"
    ) -> None:
        assert hang_in in self.phases
        self.sleep = sleep
        self.report = report
        self.hang_after = hang_after
        self.hang_in = hang_in
        self.count = 0

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        mention = item.mention
        item.data[self.name] = {
            "workspace_id": mention.workspace_id,
            "actor": "test",
            "action": SEEN,
            "subject_type": "mention",
            "subject_id": str(mention.id),
            "details": {},
        }
        if self.sleep:
            time.sleep(self.sleep)
        if self.hang_in == "prepare":
            self._step(mention.id)

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        session.execute(insert(AuditEntry), [{**item.data[self.name], "at": utcnow()} for item in items])
        if self.hang_in == "apply":
            for item in items:  # the rows are really in the open transaction when the test kills the process
                self._step(item.mention.id)

    def _step(self, mention_id: int) -> None:
        self.count += 1
        if self.report:
            print(f"seen {mention_id}", flush=True)
        if self.count == self.hang_after:
            time.sleep(600)  # stuck mid-batch until the test kills the process


class BoomStage(Stage):
    """Raise in prepare for texts containing "boom" while armed."""

    name = "boom"

    def __init__(self) -> None:
        self.armed = True
        self.calls: list[int] = []

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        self.calls.append(item.mention.id)
        if self.armed and "boom" in item.mention.text:
            raise RuntimeError(f"cannot handle mention {item.mention.id}")


class BulkBoomStage(Stage):
    """Work in bulk, and raise for the whole batch when any text in it contains "boom".

    Each run adds one to `entities["bulk"]` of every mention it is given, before raising, so a test
    sees whether the runner undid what a failed shared run set.
    """

    name = "bulk"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        self.batch_sizes.append(len(items))
        for item in items:
            entities = item.mention.entities or {}
            item.set(entities={**entities, "bulk": entities.get("bulk", 0) + 1})
        if any("boom" in item.mention.text for item in items):
            raise ValueError("bulk call rejected the batch")


class DuplicateRowStage(Stage):
    """Insert one author row per mention in apply, and a clashing duplicate for texts containing "dup".

    `bulk` writes every row in one executemany, which fails as a whole; `per_item` inserts row by row
    and blames each error on its mention itself (on PostgreSQL the first error also breaks every later
    statement, so bystanders get blamed too); `flush` adds ORM objects, so the error surfaces when the
    runner flushes the stage.
    """

    name = "dup"
    modes: ClassVar[tuple[str, ...]] = ("bulk", "per_item", "flush")

    def __init__(self, mode: str) -> None:
        assert mode in self.modes
        self.mode = mode

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        row = {"workspace_id": item.mention.workspace_id, "network": "test", "handle": f"m{item.mention.id}"}
        item.data[self.name] = [{**row, "tags": []}] * (2 if "dup" in item.mention.text else 1)

    def apply(self, session: Session, items: list[WorkItem]) -> None:
        if self.mode == "bulk":
            session.execute(insert(Author), [row for item in items for row in item.data[self.name]])
        elif self.mode == "flush":
            session.add_all([Author(**row) for item in items for row in item.data[self.name]])
        else:
            for item in items:
                try:
                    for row in item.data[self.name]:
                        session.execute(insert(Author).values(**row))
                except Exception as exc:  # noqa: BLE001 - a stage that judges per mention on its own
                    item.fail(self.name, exc)

    @staticmethod
    def handles(session: Session) -> set[str]:
        """Return the handles this stage has stored."""
        return set(session.scalars(select(Author.handle).where(Author.network == "test")))


class LookupStage(Stage):
    """Query the database in prepare; texts containing "missing" query a table that does not exist."""

    name = "lookup"

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        table = "no_such_table" if "missing" in item.mention.text else "mentions"
        found = session.execute(text(f"SELECT count(*) FROM {table} WHERE id = :id"), {"id": item.mention.id})
        item.set(entities={"rows": found.scalar_one()})


class GateStage(Stage):
    """Hold the first prepare it runs until the test opens the gate (the worker is then mid-batch)."""

    name = "gate"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self.held = False

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        if not self.held:
            self.held = True
            self.entered.set()
            assert self.open.wait(20), "the test never opened the gate"


class PoisonStage(Stage):
    """Kill the whole process, as a crash in native code would, on texts containing "poison"."""

    name = "poison"

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        if "poison" in item.mention.text:
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    """Drain the queue once with the test stages; print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds SeenStage waits per mention")
    parser.add_argument("--hang-after", type=int, default=None, help="SeenStage stops after this many mentions")
    parser.add_argument("--hang-in", choices=SeenStage.phases, default="apply", help="where SeenStage stops")
    parser.add_argument("--retry-base", type=float, default=0.2)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--light", action="store_true", help="normalise only: skip loading the language model")
    args = parser.parse_args(argv)
    stages: list[Stage] = [NormaliseStage()] if args.light else default_stages(Settings(_env_file=None))  # type: ignore[call-arg]
    seen = SeenStage(sleep=args.sleep, report=True, hang_after=args.hang_after, hang_in=args.hang_in)
    stages += [seen, PoisonStage()]
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
