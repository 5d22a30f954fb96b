import asyncio
import random
from datetime import timedelta

import pytest
from pydantic import SecretStr

from schemas.enums import RunStatus, SyncMode
from schemas.types import utcnow
from service.config import Settings
from service.runtime import build_app, serve_worker
from service.security import SecretBox, generate_secret_key
from service.store.db import Database
from service.sync import leases
from service.sync.runner import SyncRunner
from service.sync.scheduler import JITTER_RATIO, SyncScheduler

pytestmark = pytest.mark.usefixtures("upstream")


async def test_due_sources_follow_poll_interval_with_jitter(
    db: Database, runner: SyncRunner, make_github_source
) -> None:
    clock = {"now": utcnow()}
    scheduler = SyncScheduler(db, runner, clock=lambda: clock["now"], rng=random.Random(7))
    polled = await make_github_source("polled", poll_interval_seconds=600)
    await make_github_source("off", enabled=False)

    assert await scheduler.due_sources() == [polled]  # never ran: due at once
    started = await scheduler.tick()
    assert len(started) == 1
    assert (await runner.wait(started[0])).status == RunStatus.succeeded

    clock["now"] = utcnow() + timedelta(seconds=599)
    assert await scheduler.due_sources() == []
    jitter = scheduler.jitter(polled, 600).total_seconds()
    assert 0 <= jitter <= 600 * JITTER_RATIO
    clock["now"] = utcnow() + timedelta(seconds=600 + jitter + 1)
    assert await scheduler.due_sources() == [polled]


async def test_tick_skips_a_source_another_replica_is_syncing(
    db: Database, runner: SyncRunner, source_id: int
) -> None:
    async with db.session() as session:
        assert await leases.acquire(session, source_id, "other", ttl_seconds=60, now=utcnow())
    scheduler = SyncScheduler(db, runner)

    assert await scheduler.tick() == []
    assert runner.tasks == {}


async def test_scheduler_registers_one_timer_job(db: Database, runner: SyncRunner) -> None:
    scheduler = SyncScheduler(db, runner, tick_seconds=3600)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job("sync-due-sources")
        assert job is not None and scheduler.scheduler.running
    finally:
        await scheduler.shutdown()
    assert not scheduler.scheduler.running


def _settings_with_key(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(generate_secret_key()), **changes})


@pytest.mark.parametrize("enabled", [True, False])
async def test_serve_starts_the_scheduler_unless_disabled(
    db: Database, settings: Settings, enabled: bool
) -> None:
    app = build_app(_settings_with_key(settings, scheduler_enabled=enabled), migrate=False)
    async with app.router.lifespan_context(app):
        scheduler = getattr(app.state, "sync_scheduler", None)
        assert (scheduler is not None and scheduler.scheduler.running) is enabled
    if enabled:
        assert not app.state.sync_scheduler.scheduler.running


async def test_worker_runs_background_work_without_http(
    db: Database, settings: Settings, make_github_source
) -> None:
    stopping = asyncio.Event()
    worker = asyncio.create_task(serve_worker(_settings_with_key(settings), stopping))
    await asyncio.sleep(0)
    stopping.set()
    await asyncio.wait_for(worker, 30)
    assert worker.exception() is None


async def test_runner_close_marks_running_syncs_abandoned(
    db: Database, settings: Settings, secret_box: SecretBox, source_id: int
) -> None:
    gate = asyncio.Event()

    async def hold(number, page, counters) -> None:
        await gate.wait()

    runner = SyncRunner(db, settings, secret_box, on_page=hold)
    run_id = await runner.start(source_id, SyncMode.full, trigger="test")
    for _ in range(200):
        await asyncio.sleep(0.01)
        async with db.session() as session:
            from service.sync.store import get_run

            if (await get_run(session, run_id)).pages:
                break
    await runner.aclose()
    async with db.session() as session:
        run = await get_run(session, run_id)
        lease = await leases.current(session, source_id)
    assert run.status == RunStatus.abandoned and run.pages == 1
    assert lease is not None and lease.holder is None
