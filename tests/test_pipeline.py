"""The pipeline runner and the background worker, on both databases: stages, failures, retries, claims."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from firebreak.audit.models import AuditEntry
from firebreak.core.clock import FixedClock, utcnow
from firebreak.core.errors import NotFound
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention, PipelineError
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.pipeline.runner import MAX_RETRY_DELAY, WORKER_STOPPED, BatchReport, Pipeline, retry_parked
from firebreak.pipeline.stages.normalise import NormaliseStage
from firebreak.services import build_pipeline
from firebreak.worker import BackgroundWorker
from tests.factories import ingest, mention
from tests.pipeline_support import (
    SEEN,
    BoomStage,
    BulkBoomStage,
    DuplicateRowStage,
    GateStage,
    LookupStage,
    SeenStage,
)


def _clock() -> FixedClock:
    # A moment just after the test's ingests, so what was ingested is due and time moves only when told.
    return FixedClock(utcnow() + timedelta(seconds=1))


def _run(db: Database, pipeline: Pipeline, *, limit: int = 100) -> BatchReport:
    return pipeline.run_batch(db, limit=limit)


def _mentions(db: Database) -> dict[int, Mention]:
    with db.read() as session:
        return {m.id: m for m in session.scalars(select(Mention))}


def _seen(db: Database) -> Counter[int]:
    with db.read() as session:
        return Counter(int(s) for s in session.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == SEEN)))


def _errors(db: Database, mention_id: int) -> list[tuple[str, int, str]]:
    with db.read() as session:
        rows = session.scalars(
            select(PipelineError).where(PipelineError.mention_id == mention_id).order_by(PipelineError.id)
        )
        return [(e.stage, e.attempt, e.error) for e in rows]


# ------------------------------------------------------------------------------------ default stages


def test_default_stages_fill_normalized_text_entities_and_language(db, acme, settings):
    texts = {
        "1": "Caf&eacute; &amp; bar\u200b  is   \ufb01ne\u00a0\n\t\uff21\uff23\uff2d\uff25 @AcmeHelp #fail https://acme.example/a?b=1",
        "2": "My order never arrived and nobody answers the phone, this is ridiculous",
        "3": "Mi pedido nunca llegó y nadie contesta el teléfono, es una vergüenza",
        "4": "Meine Bestellung ist nie angekommen und niemand geht ans Telefon",
        "5": "Ma commande n'est jamais arrivée et personne ne répond au téléphone",
        "6": "ok",
        "7": "\U0001f525\U0001f525\U0001f525 \U0001f44d",
    }
    items = [mention(k, v) for k, v in texts.items()]
    items.append(mention("8", "My order never arrived and nobody answers the phone", language="pt"))
    ids = dict(zip([*texts, "8"], ingest(db, acme, items).ids, strict=True))

    report = BackgroundWorker(db, build_pipeline(settings)).run_once()

    assert sorted(report.processed) == sorted(ids.values()) and not report.retried
    rows = _mentions(db)
    first = rows[ids["1"]]
    assert first.normalized_text == "Café & bar is fine ACME @AcmeHelp #fail https://acme.example/a?b=1"
    assert first.entities == {"urls": ["https://acme.example/a?b=1"], "handles": ["AcmeHelp"], "hashtags": ["fail"]}
    assert rows[ids["2"]].entities is None
    detected = {key: rows[ids[key]].language for key in ("2", "3", "4", "5", "6", "7")}
    assert detected == {"2": "en", "3": "es", "4": "de", "5": "fr", "6": "und", "7": "und"}
    assert all(rows[ids[key]].language_confidence > 0.9 for key in ("2", "3", "4", "5"))
    assert rows[ids["8"]].language == "pt" and rows[ids["8"]].language_confidence == 1.0
    for row in rows.values():
        assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == ("processed", 1, None, None)
        assert row.processed_at is not None


class V1Stage(Stage):
    name = "v1"

    def process_one(self, session, item: WorkItem) -> None:
        item.mention.language = "xx"


def test_a_stage_written_for_the_old_api_is_refused_not_silently_skipped():
    with pytest.raises(TypeError, match="port it to prepare/apply"):
        Pipeline([NormaliseStage(), V1Stage()])


# ------------------------------------------------------------------------------------ failures


def test_failing_mention_is_isolated_and_leaves_nothing_behind(db, acme):
    ids = ingest(db, acme, [mention(i, "boom #oops" if i == 3 else f"fine post {i}") for i in range(1, 7)]).ids
    bad = ids[2]
    clock = _clock()
    boom = BoomStage()
    pipeline = Pipeline([NormaliseStage(), SeenStage(), boom], retry_base_seconds=5, clock=clock)

    report = _run(db, pipeline)

    assert report.claimed == 6 and report.retried == [bad] and not report.parked
    assert sorted(report.processed) == sorted(set(ids) - {bad})
    rows = _mentions(db)
    failed = rows[bad]
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert failed.last_error == f"boom: RuntimeError: cannot handle mention {bad}"
    assert failed.next_attempt_at == clock.now() + timedelta(seconds=5)
    # What the stages before the failing one wrote for it was rolled back with it.
    assert failed.normalized_text is None and failed.entities is None and failed.processed_at is None
    assert _errors(db, bad) == [("boom", 1, f"RuntimeError: cannot handle mention {bad}")]
    assert _seen(db) == Counter({i: 1 for i in ids if i != bad})
    for good in set(ids) - {bad}:
        assert rows[good].state == "processed" and rows[good].normalized_text == f"fine post {ids.index(good) + 1}"


def test_bulk_stage_that_raises_falls_back_to_one_by_one(db, acme):
    ids = ingest(db, acme, [mention(i, "boom #oops" if i == 4 else f"post {i} #ok") for i in range(1, 7)]).ids
    bad = ids[3]
    bulk = BulkBoomStage()
    pipeline = Pipeline([NormaliseStage(), bulk], clock=_clock())

    report = _run(db, pipeline)

    assert report.retried == [bad] and len(report.processed) == 5
    # The whole batch, then each mention alone; nothing was written, so there is no clean pass to redo.
    assert bulk.batch_sizes == [6, 1, 1, 1, 1, 1, 1]
    rows = _mentions(db)
    assert rows[bad].last_error == "bulk: ValueError: bulk call rejected the batch"
    assert rows[bad].entities is None
    # What the failed shared run set was undone: each good mention counts only its lone run.
    assert all(rows[i].entities == {"hashtags": ["ok"], "bulk": 1} for i in ids if i != bad)


class NulErrorStage(Stage):
    name = "nul"

    def prepare_one(self, session, item: WorkItem) -> None:
        if "nul" in item.mention.text:
            raise ValueError("undecodable \x00 byte")


def test_an_error_message_postgresql_cannot_store_is_still_recorded(db, acme):
    good, bad = ingest(db, acme, [mention(1, "fine"), mention(2, "nul")]).ids

    report = _run(db, Pipeline([NulErrorStage()], clock=_clock()))

    assert report.processed == [good] and report.retried == [bad]
    assert _mentions(db)[bad].last_error == "nul: ValueError: undecodable  byte"


@pytest.mark.parametrize("mode", DuplicateRowStage.modes)
def test_database_error_in_a_stage_is_isolated_to_its_mention(db, acme, mode):
    ids = ingest(db, acme, [mention(i, "dup" if i in (2, 5) else f"post {i}") for i in range(1, 8)]).ids
    bad = {ids[1], ids[4]}
    pipeline = Pipeline([NormaliseStage(), SeenStage(), DuplicateRowStage(mode)], clock=_clock())

    report = _run(db, pipeline)

    assert sorted(report.retried) == sorted(bad)
    assert sorted(report.processed) == sorted(set(ids) - bad)
    rows = _mentions(db)
    for i in bad:
        assert rows[i].attempts == 1 and "IntegrityError" in (rows[i].last_error or "")
        assert rows[i].last_error.startswith("dup: ")
    with db.read() as session:
        assert DuplicateRowStage.handles(session) == {f"m{i}" for i in ids if i not in bad}
    assert _seen(db) == Counter({i: 1 for i in ids if i not in bad})


def test_a_database_error_in_prepare_is_isolated_to_its_mention(db, acme):
    ids = ingest(db, acme, [mention(i, "missing" if i in (2, 5) else f"post {i}") for i in range(1, 8)]).ids
    bad = {ids[1], ids[4]}

    # On PostgreSQL the first error breaks the read transaction: the rest of the shared run fails too.
    report = _run(db, Pipeline([LookupStage(), SeenStage()], clock=_clock()))

    assert sorted(report.retried) == sorted(bad) and sorted(report.processed) == sorted(set(ids) - bad)
    rows = _mentions(db)
    for i in bad:
        assert rows[i].last_error.startswith("lookup: ") and "no_such_table" in rows[i].last_error
        assert rows[i].entities is None
    assert all(rows[i].entities == {"rows": 1} for i in set(ids) - bad)
    assert _seen(db) == Counter({i: 1 for i in ids if i not in bad})


class SessionWriterStage(Stage):
    """Wrongly add a row to the session in prepare."""

    name = "sneaky"

    def prepare_one(self, session, item: WorkItem) -> None:
        session.add(AuditEntry(workspace_id=item.mention.workspace_id, actor="t", action=SEEN, details={}))


class DirectSetStage(Stage):
    """Wrongly assign a mention column instead of calling item.set()."""

    name = "direct"

    def prepare_one(self, session, item: WorkItem) -> None:
        item.set(language="xx")
        item.mention.normalized_text = "lost"


class CoreWriterStage(Stage):
    """Wrongly write with a Core statement in prepare."""

    name = "core"

    def prepare_one(self, session, item: WorkItem) -> None:
        values = {"workspace_id": item.mention.workspace_id, "actor": "t", "action": SEEN, "details": {}}
        session.execute(insert(AuditEntry).values(**values))


def test_prepare_cannot_write_and_says_so(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 5)]).ids

    first = Pipeline([SessionWriterStage()], clock=_clock()).run_batch(db, limit=10, ids=ids[1:3])
    second = Pipeline([DirectSetStage()], clock=_clock()).run_batch(db, limit=10, ids=ids[:1])
    # PostgreSQL refuses it (read-only transaction); on SQLite the read session is never committed.
    third = Pipeline([CoreWriterStage()], clock=_clock()).run_batch(db, limit=10, ids=ids[3:])

    assert first.retried == ids[1:3] and second.retried == ids[:1]
    if not db.is_sqlite:
        assert third.retried == ids[3:] and "read-only transaction" in (_mentions(db)[ids[3]].last_error or "")
    rows = _mentions(db)
    assert all("changed the session in prepare" in (rows[i].last_error or "") for i in ids[1:3])
    assert rows[ids[0]].last_error == "direct: stage direct changed mention.normalized_text directly; " + (
        "use item.set(normalized_text=...)"
    )
    assert {(r.language, r.normalized_text) for r in rows.values()} == {(None, None)}
    assert _seen(db) == Counter()


def test_a_batch_settles_in_a_few_bulk_statements_whatever_its_size(db, acme):
    ids = ingest(db, acme, [mention(i, f"boom {i}" if i % 4 == 0 else f"post {i} #x") for i in range(1, 81)]).ids
    writes: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = _run(db, Pipeline([NormaliseStage(), SeenStage(), BoomStage()], clock=_clock()))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert len(report.processed) == 60 and len(report.retried) == 20
    # Reserve; then audit rows, processed mentions, error rows, failed mentions: one statement each.
    assert writes == ["UPDATE", "INSERT", "UPDATE", "INSERT", "UPDATE"]
    rows = _mentions(db)
    assert all(rows[i].normalized_text == f"post {ids.index(i) + 1} #x" for i in report.processed)
    assert {rows[i].entities["hashtags"][0] for i in report.processed} == {"x"}
    assert _seen(db) == Counter(dict.fromkeys(report.processed, 1))


class OddValueStage(Stage):
    """Set a value the entities column cannot store for texts containing "odd"."""

    name = "odd"

    def prepare_one(self, session, item: WorkItem) -> None:
        item.set(entities={"value": object() if "odd" in item.mention.text else 1})


def test_a_value_its_row_refuses_fails_only_that_mention(db, acme):
    ids = ingest(db, acme, [mention(i, "odd" if i == 3 else f"post {i}") for i in range(1, 6)]).ids
    bad = ids[2]

    report = _run(db, Pipeline([NormaliseStage(), SeenStage(), OddValueStage()], clock=_clock()))

    assert report.retried == [bad] and report.processed == [i for i in ids if i != bad]
    rows = _mentions(db)
    assert rows[bad].last_error.startswith("settle: ") and "not JSON serializable" in rows[bad].last_error
    assert rows[bad].normalized_text is None
    assert all(rows[i].entities == {"value": 1} for i in ids if i != bad)
    assert _seen(db) == Counter({i: 1 for i in ids if i != bad}), "its apply rows were rolled back"


def test_backoff_doubles_parks_after_max_attempts_and_retry_parked_requeues(db, acme, globex):
    (bad,) = ingest(db, acme, [mention(1, "boom")]).ids
    clock = _clock()
    boom = BoomStage()
    pipeline = Pipeline([boom], max_attempts=3, retry_base_seconds=10, clock=clock)
    assert [pipeline.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert pipeline.retry_delay(50) == MAX_RETRY_DELAY

    assert _run(db, pipeline).retried == [bad]
    for wait, attempts in ((10, 2), (20, 3)):
        clock.advance(timedelta(seconds=wait - 1))
        assert _run(db, pipeline).claimed == 0, "retried before its time"
        clock.advance(timedelta(seconds=1))
        report = _run(db, pipeline)
        assert report.claimed == 1
        assert _mentions(db)[bad].attempts == attempts
    assert report.parked == [bad]
    row = _mentions(db)[bad]
    assert (row.state, row.attempts, row.next_attempt_at) == ("parked", 3, None)
    assert [(stage, attempt) for stage, attempt, _ in _errors(db, bad)] == [("boom", 1), ("boom", 2), ("boom", 3)]
    clock.advance(timedelta(days=2))
    assert _run(db, pipeline).claimed == 0, "a parked mention is never claimed"

    with db.write() as session:
        assert retry_parked(session=session, workspace_id=globex.id, mention_ids=None, actor="t", now=clock.now()) == 0
        with pytest.raises(NotFound):
            retry_parked(session=session, workspace_id=globex.id, mention_ids=[bad], actor="t", now=clock.now())
        moved = retry_parked(session=session, workspace_id=acme.id, mention_ids=[bad], actor="ops", now=clock.now())
    assert moved == 1
    row = _mentions(db)[bad]
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 0, clock.now())
    with db.read() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "mention.retried")).all()
        assert [(a.workspace_id, a.actor, a.subject_id) for a in audit] == [(acme.id, "ops", str(bad))]

    boom.armed = False  # the stage is fixed
    assert _run(db, pipeline).processed == [bad]
    row = _mentions(db)[bad]
    assert (row.state, row.attempts, row.last_error) == ("processed", 1, None)


def test_processed_mentions_are_never_processed_again_and_batches_respect_the_limit(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 8)]).ids
    boom = BoomStage()
    pipeline = Pipeline([boom], clock=_clock())

    sizes = [len(_run(db, pipeline, limit=3).processed) for _ in range(4)]

    assert sizes == [3, 3, 1, 0]
    assert boom.calls == ids, "oldest first, each once"
    ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 8)])  # delivered again: duplicates
    assert pipeline.run_batch(db, limit=10, ids=ids).claimed == 0
    assert _run(db, pipeline).claimed == 0
    assert BackgroundWorker(db, pipeline, batch_size=2).drain() == 0
    assert boom.calls == ids


# ------------------------------------------------------------------------------------ lost tries


def test_a_try_that_never_settles_is_counted_and_a_repeat_offender_is_parked(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 6)]).ids
    clock = _clock()
    seen = SeenStage()
    pipeline = Pipeline([seen], max_attempts=2, retry_base_seconds=30, clock=clock)
    # A worker that reserved a batch and died before settling it: the reservation is all that is left.
    with db.write() as session:
        assert pipeline.reserve(session, limit=3).ids == ids[:3]
    assert BackgroundWorker(db, pipeline, batch_size=10).drain() == 2, "reserved mentions wait out their delay"

    clock.advance(timedelta(seconds=30))
    worker = BackgroundWorker(db, pipeline, batch_size=10)
    # Each mention of the lost batch now runs alone, so a poison one only takes itself down.
    assert [worker.run_once().processed for _ in range(4)] == [[ids[0]], [ids[1]], [ids[2]], []]
    rows = _mentions(db)
    assert [rows[i].attempts for i in ids] == [2, 2, 2, 1, 1]
    assert all(rows[i].state == "processed" for i in ids)
    assert _errors(db, ids[0]) == [("worker", 1, WORKER_STOPPED)]
    assert _seen(db) == Counter({i: 1 for i in ids})

    (poison,) = ingest(db, acme, [mention(99, "poison")]).ids
    for _ in range(2):  # two lost tries ...
        clock.advance(timedelta(hours=1))
        with db.write() as session:
            assert pipeline.reserve(session, limit=10).ids == [poison]
    clock.advance(timedelta(hours=1))
    report = worker.run_once()  # ... and the third claim parks it without running it
    assert report.parked == [poison] and report.claimed == 1 and not report.processed
    row = _mentions(db)[poison]
    assert (row.state, row.attempts) == ("parked", 2) and row.last_error.startswith("worker: this try never finished")
    assert [(stage, attempt) for stage, attempt, _ in _errors(db, poison)] == [("worker", 1), ("worker", 2)]


def test_a_failure_after_a_reservation_is_counted_once(db, acme):
    (bad,) = ingest(db, acme, [mention(1, "boom")]).ids
    clock = _clock()
    pipeline = Pipeline([BoomStage()], max_attempts=2, retry_base_seconds=10, clock=clock)
    worker = BackgroundWorker(db, pipeline)

    assert worker.run_once().retried == [bad]
    row = _mentions(db)[bad]
    assert (row.attempts, row.next_attempt_at) == (1, clock.now() + timedelta(seconds=10))
    clock.advance(timedelta(seconds=10))
    assert worker.run_once().parked == [bad]
    assert [(stage, attempt) for stage, attempt, _ in _errors(db, bad)] == [("boom", 1), ("boom", 2)]


# ------------------------------------------------------------------------------------ concurrency


class RendezvousStage(Stage):
    """Hold each worker's first batch until the other worker's first batch is running too."""

    name = "rendezvous"

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier
        self.met = threading.local()

    def prepare(self, session, items: list[WorkItem]) -> None:
        if not getattr(self.met, "done", False):
            self.met.done = True
            self.barrier.wait(timeout=20)


def test_a_slow_prepare_does_not_hold_up_other_writers(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 6)]).ids
    gate = GateStage()
    pipeline = Pipeline([NormaliseStage(), gate, SeenStage()], clock=_clock())
    reports: list[BatchReport] = []
    worker = threading.Thread(target=lambda: reports.append(pipeline.run_batch(db, limit=10)))
    worker.start()
    try:
        assert gate.entered.wait(20)
        # A webhook's write through the same Database while the worker is mid-batch: were the worker
        # holding SQLite's write lock, this would wait until the gate gives up (20 s).
        started = time.monotonic()
        (late,) = ingest(db, acme, [mention(99, "arrived mid-batch")]).ids
        took = time.monotonic() - started
        mid_batch = not gate.open.is_set() and worker.is_alive()
    finally:
        gate.open.set()
        worker.join(30)
    assert mid_batch and took < 2, f"the write took {took:.1f}s"
    (report,) = reports
    assert sorted(report.processed) == sorted(ids)
    assert _seen(db) == Counter({i: 1 for i in ids})
    assert _mentions(db)[late].state == "pending"


def test_a_reservation_taken_over_after_it_expired_is_not_applied_twice(db, acme):
    first, second = ingest(db, acme, [mention(1, "post 1"), mention(2, "post 2")]).ids
    clock = _clock()
    gate = GateStage()
    slow = Pipeline([NormaliseStage(), SeenStage(), gate], retry_base_seconds=10, clock=clock)
    reports: list[BatchReport] = []
    worker = threading.Thread(target=lambda: reports.append(slow.run_batch(db, limit=10)))
    worker.start()
    try:
        assert gate.entered.wait(20)
        # The slow batch outlives its reservation; another worker sees a try that never settled and
        # takes that mention over (alone, as it may be what stopped a worker).
        clock.advance(timedelta(seconds=10))
        other = Pipeline([SeenStage()], retry_base_seconds=10, clock=clock).run_batch(db, limit=10)
    finally:
        gate.open.set()
        worker.join(30)

    assert other.processed == [first]
    (report,) = reports
    assert report.claimed == 2 and report.processed == [second] and report.skipped == [first]
    assert _seen(db) == Counter({first: 1, second: 1})
    rows = _mentions(db)
    assert (rows[first].state, rows[first].attempts, rows[first].normalized_text) == ("processed", 2, None)
    assert (rows[second].state, rows[second].attempts, rows[second].normalized_text) == ("processed", 1, "post 2")
    assert _errors(db, first) == [("worker", 1, WORKER_STOPPED)]


def test_two_workers_claim_disjoint_batches_and_process_each_mention_once(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 61)]).ids
    # On PostgreSQL both first batches must be in flight at once (SKIP LOCKED); SQLite serialises writers.
    barrier = threading.Barrier(2 if not db.is_sqlite else 1)
    rendezvous = RendezvousStage(barrier)
    batches: dict[str, list[list[int]]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        pipeline = Pipeline([SeenStage(sleep=0.002), rendezvous], clock=_clock())
        try:
            while True:
                report = pipeline.run_batch(db, limit=10)
                if not report.claimed:
                    return
                batches[name].append(report.processed)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    a = [i for batch in batches["a"] for i in batch]
    b = [i for batch in batches["b"] for i in batch]
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(ids)
    if not db.is_sqlite:
        assert a and b
    assert _seen(db) == Counter({i: 1 for i in ids})


def test_two_background_workers_share_the_queue_without_doing_anything_twice(db, acme):
    ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 121)]).ids
    workers = [
        BackgroundWorker(db, Pipeline([SeenStage(sleep=0.001)]), batch_size=16, idle_seconds=0.05) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 30
        while sum(w.processed_total for w in workers) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.stop()
    assert sum(w.processed_total for w in workers) == len(ids)
    assert _seen(db) == Counter({i: 1 for i in ids})
    assert {m.attempts for m in _mentions(db).values()} == {1}


# ------------------------------------------------------------------------------------ the worker thread


def test_background_worker_processes_new_mentions_promptly_after_wake_and_stops_cleanly(db, acme):
    worker = BackgroundWorker(db, Pipeline([NormaliseStage(), SeenStage()]), idle_seconds=60)
    worker.start()
    try:
        time.sleep(0.3)  # the first, empty step is done and the thread now idles for a minute
        ids = ingest(db, acme, [mention(i, f"post {i}") for i in range(1, 21)]).ids
        started = time.monotonic()
        worker.wake()
        while worker.processed_total < len(ids) and time.monotonic() - started < 10:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        threads = [t for t in threading.enumerate() if t.name == "firebreak-pipeline"]
        stop_started = time.monotonic()
        worker.stop()
        stop_took = time.monotonic() - stop_started
    assert worker.processed_total == len(ids)
    assert elapsed < 5, f"took {elapsed:.1f}s after wake()"
    assert threads and stop_took < 5 and not any(t.is_alive() for t in threads)
    assert _seen(db) == Counter({i: 1 for i in ids})
    assert all(m.state == "processed" for m in _mentions(db).values())
