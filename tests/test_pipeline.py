"""The pipeline runner and the background worker, on both databases: stages, failures, retries, claims."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from firebreak.audit.models import AuditEntry
from firebreak.core.clock import FixedClock, utcnow
from firebreak.core.errors import NotFound
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention, PipelineError
from firebreak.pipeline.base import Stage, WorkItem
from firebreak.pipeline.registry import build_pipeline
from firebreak.pipeline.runner import MAX_RETRY_DELAY, WORKER_STOPPED, BatchReport, Pipeline, retry_parked
from firebreak.pipeline.stages.normalise import NormaliseStage
from firebreak.worker import BackgroundWorker
from tests.factories import ingest, mention
from tests.pipeline_support import SEEN, BoomStage, BulkBoomStage, DuplicateRowStage, SeenStage


def _clock() -> FixedClock:
    # A moment just after the test's ingests, so what was ingested is due and time moves only when told.
    return FixedClock(utcnow() + timedelta(seconds=1))


def _run(db: Database, pipeline: Pipeline, *, limit: int = 100) -> BatchReport:
    with db.write() as session:
        return pipeline.process_batch(session, limit=limit)


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
    # The whole batch, then each mention alone, then the five good ones together on the clean pass.
    assert bulk.batch_sizes == [6, 1, 1, 1, 1, 1, 1, 5]
    rows = _mentions(db)
    assert rows[bad].last_error == "bulk: ValueError: bulk call rejected the batch"
    assert rows[bad].entities is None
    assert all(rows[i].entities == {"hashtags": ["ok"], "bulk": True} for i in ids if i != bad)


class NulErrorStage(Stage):
    name = "nul"

    def process_one(self, session, item: WorkItem) -> None:
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
    with db.write() as session:
        assert pipeline.process_batch(session, limit=10, ids=ids).claimed == 0
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

    def process(self, session, items: list[WorkItem]) -> None:
        if not getattr(self.met, "done", False):
            self.met.done = True
            self.barrier.wait(timeout=20)


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
                with db.write() as session:
                    report = pipeline.process_batch(session, limit=10)
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
