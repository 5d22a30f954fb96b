"""Time-driven health: nodes fall behind (or start) as days pass, with no write to notice it.

A background loop re-evaluates every node at least every `health_evaluation_seconds` and just
after each midnight UTC (when start and target dates begin and end). One replica at a time
does it, by the named job lease; the others skip the pass. A pass recomputes every node, so it
also settles any node whose newest history point disagrees with its inputs; what moved is
appended as `health.changed` / `progress.changed` with cause `schedule`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.portfolio import progress
from service.store.db import Database
from service.sync import leases
from service.sync.runner import holder_id

logger = logging.getLogger(__name__)
JOB = "health-evaluator"
CAUSE = "schedule"


async def evaluate(session: AsyncSession, config: progress.RollupConfig) -> list[tuple[str, int]]:
    """Recompute every node now; feed entries and history points for those that moved."""
    ctx = config.context()
    nodes: set[tuple[str, int]] = set()
    for node_type, table in (
        ("initiative", progress.INITIATIVE),
        ("key_result", progress.KR),
        ("objective", progress.OBJECTIVE),
    ):
        ids = (await session.execute(select(table.c.id))).scalars()
        nodes |= {(node_type, i) for i in ids}
    if not nodes:
        return []
    computed = await progress.compute(session, nodes, ctx)
    return await progress.publish(session, computed, ctx, cause=CAUSE)


def next_due(now: datetime, every_seconds: int) -> datetime:
    """The next pass: after `every_seconds`, or just after the next midnight UTC if sooner."""
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0, 0, 5), UTC)
    return min(now + timedelta(seconds=every_seconds), midnight)


async def run_once(db: Database, holder: str, *, every_seconds: int) -> list[tuple[str, int]]:
    """One pass if this process holds the job lease (kept until the next pass is due)."""
    config: progress.RollupConfig = db.session_info.get(progress.CONFIG) or progress.RollupConfig()
    async with db.session() as session:
        now = config.clock()
        # The lease outlives this pass until the next one is due: another replica takes over
        # only when this one stops renewing it.
        ttl = (next_due(now, every_seconds) - now).total_seconds() + 60
        if not await leases.acquire_job(session, JOB, holder, ttl_seconds=ttl, now=now):
            return []
        return await evaluate(session, config)


async def start_health_evaluator(app: FastAPI) -> Callable[[], Awaitable[None]]:
    db: Database = app.state.db
    every = app.state.settings.health_evaluation_seconds
    holder = holder_id()
    stopping = asyncio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            try:
                moved = await run_once(db, holder, every_seconds=every)
                if moved:
                    logger.info("health evaluated", extra={"moved": len(moved)})
            except Exception:  # the loop must survive a bad pass (database restart, ...)
                logger.exception("health evaluation failed")
            now = datetime.now(UTC)
            wait = max(1.0, (next_due(now, every) - now).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait)

    task = asyncio.create_task(loop(), name="health-evaluator")

    async def stop() -> None:
        stopping.set()
        await task

    return stop
