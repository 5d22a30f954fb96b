"""Assembles the running program: app plus background work, as `serve` and `worker` use it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from service.app import BackgroundStarter, create_app
from service.config import Settings
from service.portfolio.evaluator import start_health_evaluator
from service.store.migrate import upgrade_async
from service.subscriptions.worker import start_subscription_worker
from service.sync.runner import SyncRunner, runner_of
from service.sync.scheduler import SyncScheduler
from service.webhooks.worker import start_inbox_worker
from service.writeback.worker import start_write_back_worker

logger = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]


def sync_runner(app: FastAPI) -> SyncRunner:
    """The app's runner (the sources API and pages use the same one)."""
    return runner_of(app.state)


async def start_sync_scheduler(app: FastAPI) -> Stop:
    runner = sync_runner(app)
    scheduler = SyncScheduler(
        app.state.db, runner, tick_seconds=app.state.settings.scheduler_tick_seconds
    )
    scheduler.start()
    app.state.sync_scheduler = scheduler

    async def stop() -> None:
        await scheduler.shutdown()
        await runner.aclose()

    return stop


def background_workers() -> list[BackgroundStarter]:
    """Everything that runs beside the API in `serve` and alone in `worker`.

    Each entry takes the app and returns its stop coroutine function; add other background
    workers (e.g. the webhook inbox worker) to this list.
    """
    return [
        start_sync_scheduler,
        start_inbox_worker,
        start_subscription_worker,
        start_health_evaluator,
        start_write_back_worker,
    ]


async def start_background(app: FastAPI) -> Stop:
    stops: list[Stop] = []
    try:
        for starter in background_workers():
            stops.append(await starter(app))
    except BaseException:
        for stop in reversed(stops):
            await stop()
        raise

    async def stop_all() -> None:
        for stop in reversed(stops):
            try:
                await stop()
            except Exception:
                logger.exception("a background worker failed to stop cleanly")

    return stop_all


def build_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    background = start_background if settings.scheduler_enabled else None
    return create_app(settings, migrate=migrate, background=background)


async def serve_worker(settings: Settings, stopping: asyncio.Event) -> None:
    """Scheduler and background workers without HTTP, until `stopping` is set."""
    await upgrade_async(settings.database_url)
    app = create_app(settings)
    stop = await start_background(app)
    logger.info("worker started", extra={"holder": sync_runner(app).holder})
    try:
        await stopping.wait()
    finally:
        await stop()
        await app.state.db.dispose()
        logger.info("worker stopped")


def run_worker(settings: Settings) -> None:
    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await serve_worker(settings, stopping)

    asyncio.run(main())
