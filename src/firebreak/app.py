"""Build the FastAPI application; its lifespan runs the in-process worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from firebreak import __version__
from firebreak.api import errors
from firebreak.api.routes import (
    aftermath,
    content,
    dashboard,
    health,
    issues,
    mentions,
    newsroom,
    people,
    pipeline,
    playbook,
    publishing,
    responses,
    workflow,
)
from firebreak.db.engine import Database
from firebreak.db.migrate import ensure_migrated
from firebreak.services import Services
from firebreak.settings import Settings, get_settings
from firebreak.web import register as register_web
from firebreak.worker import BackgroundWorker, PeriodicJob

log = logging.getLogger(__name__)
ALERTS_PER_ROUND = 100


def build_worker(db: Database, settings: Settings, services: Services | None = None) -> BackgroundWorker:
    """Return the worker `serve` runs: the pipeline, the SLA scheduler, alert delivery and feed polling."""
    from firebreak.connectors.rss.poller import FeedPoller

    services = services or Services(settings)
    worker = BackgroundWorker(
        db, services.pipeline(), batch_size=settings.worker_batch_size, idle_seconds=settings.worker_idle_seconds
    )
    scheduler = services.scheduler()
    dispatcher = services.dispatcher(db)

    def fire_due() -> bool:
        if scheduler.tick(db).alerts:
            worker.wake("alerts")
        return False

    def deliver() -> bool:
        report = dispatcher.deliver_due(db, limit=ALERTS_PER_ROUND)
        handled = report.sent + report.retrying + report.failed + report.deferred + report.suppressed
        return handled >= ALERTS_PER_ROUND

    worker.add_job(PeriodicJob("sla", fire_due, interval=settings.scheduler_interval_seconds))
    worker.add_job(PeriodicJob("alerts", deliver, interval=settings.alerts_interval_seconds))
    outbox = services.outbox_dispatcher(db)
    worker.add_job(PeriodicJob("outbox", lambda: outbox.deliver_due().more, interval=settings.alerts_interval_seconds))
    worker.after_batch(lambda: worker.wake("alerts"))
    if settings.feed_poll_enabled:
        poller = FeedPoller(db, max_text_chars=settings.max_text_chars)

        def poll() -> bool:
            polled = poller.poll_due()
            if polled.new_mentions:
                worker.wake()
            return False

        worker.add_job(PeriodicJob("feeds", poll, interval=5.0))
    return worker


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, run_worker: bool | None = None
) -> FastAPI:
    """Create the app for `settings`; refuses to start on a database that is not migrated."""
    settings = settings or get_settings()
    db = db or Database(settings.resolved_database_url)
    ensure_migrated(db.engine)
    start_worker = settings.worker_enabled if run_worker is None else run_worker
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = build_worker(db, settings, services) if start_worker else None
        app.state.worker = worker
        if worker is not None:
            # Stages that load models lazily would do it in the first batch, holding the write lock
            # (on SQLite) while the first webhooks wait; load them before serving instead.
            for stage in worker.pipeline.stages:
                warm_up = getattr(stage, "warm_up", None)
                if callable(warm_up):
                    await run_in_threadpool(warm_up)
            worker.start()
            log.info("in-process worker started")
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="Firebreak",
        version=__version__,
        summary="Social media issues management: listen, triage, respond, run the issue.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.services = services
    app.state.worker = None
    errors.install(app)
    app.include_router(health.router)
    app.include_router(mentions.router)
    app.include_router(pipeline.router)
    app.include_router(workflow.router)
    app.include_router(responses.router)
    app.include_router(playbook.router)
    app.include_router(people.router)
    app.include_router(content.router)
    app.include_router(issues.router)
    app.include_router(publishing.router)
    app.include_router(newsroom.router)
    app.include_router(aftermath.router)
    app.include_router(dashboard.router)
    register_web(app, settings)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # The webhook documents its hand-decoded body with references to these definitions.
        if app.openapi_schema is None:
            document = generate_openapi()
            document.setdefault("components", {}).setdefault("schemas", {}).update(mentions.BODY_DEFINITIONS)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app
