"""The in-process worker that `firebreak serve` runs: the pipeline loop plus periodic jobs.

Each job runs on its own daemon thread and keeps no state in memory that matters: whatever must
survive a restart is a row (pending mentions, feed schedules), so stopping at any moment is safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from firebreak.db.engine import Database
from firebreak.pipeline.runner import BatchReport, Pipeline

log = logging.getLogger(__name__)

ERROR_BACKOFF_SECONDS = 5.0


@dataclass(slots=True)
class PeriodicJob:
    """A function run every `interval` seconds; it returns True when more work is waiting."""

    name: str
    run: Callable[[], bool]
    interval: float


class BackgroundWorker:
    """Runs the pipeline and periodic jobs on threads until stopped."""

    def __init__(self, db: Database, pipeline: Pipeline, *, batch_size: int = 256, idle_seconds: float = 1.0):
        self.db = db
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._jobs: list[PeriodicJob] = [PeriodicJob("pipeline", self._pipeline_step, idle_seconds)]
        self._wake = {job.name: threading.Event() for job in self._jobs}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._after_batch: list[Callable[[], None]] = []
        self.processed_total = 0

    def add_job(self, job: PeriodicJob) -> None:
        """Register a periodic job; call before `start`."""
        self._jobs.append(job)
        self._wake[job.name] = threading.Event()

    def after_batch(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every batch that processed mentions (to wake alert delivery, say)."""
        self._after_batch.append(callback)

    def run_once(self) -> BatchReport:
        """Process one batch (reserve, prepare outside the write lock, apply in bulk) and return what it did."""
        report = self.pipeline.run_batch(self.db, limit=self.batch_size)
        self.processed_total += len(report.processed)
        if report.processed:
            for callback in self._after_batch:
                callback()
        return report

    def drain(self, *, max_batches: int = 1_000_000) -> int:
        """Process batches until none is due; return how many mentions were processed."""
        done = 0
        for _ in range(max_batches):
            report = self.run_once()
            done += len(report.processed)
            # Not `claimed < batch_size`: mentions left over from a crashed batch run one per batch.
            if not report.claimed:
                break
        return done

    def _pipeline_step(self) -> bool:
        return self.run_once().claimed > 0

    def wake(self, name: str = "pipeline") -> None:
        """Ask a job to run now instead of waiting out its interval (new mentions arrived)."""
        event = self._wake.get(name)
        if event is not None:
            event.set()

    def start(self) -> None:
        """Start one thread per job."""
        self._stop.clear()
        for job in self._jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"firebreak-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every job to stop after its current step and wait for them."""
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self, job: PeriodicJob) -> None:
        wake = self._wake[job.name]
        while not self._stop.is_set():
            try:
                more = job.run()
                delay = 0.0 if more else job.interval
            except Exception:  # noqa: BLE001 - a broken database or bug must not kill the thread
                log.exception("job %s failed; retrying in %.0fs", job.name, ERROR_BACKOFF_SECONDS)
                delay = ERROR_BACKOFF_SECONDS
            if delay:
                wake.wait(delay)
            wake.clear()
