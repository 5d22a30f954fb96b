"""The poll scheduler. APScheduler is only the timer: one job looks for sources that are due and
starts their syncs through the same lease as the API, so replicas and workers never overlap."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from schemas.enums import SyncMode
from schemas.types import utcnow
from service.store.db import Database
from service.sync import store as sync_store
from service.sync.engine import Clock
from service.sync.runner import SyncAlreadyRunning, SyncRunner

logger = logging.getLogger(__name__)

TICK_SECONDS = 5.0
# Each source waits up to this share of its interval longer, so sources added together (and
# replicas started together) spread their polls instead of firing in lockstep.
JITTER_RATIO = 0.1


class SyncScheduler:
    def __init__(
        self,
        db: Database,
        runner: SyncRunner,
        *,
        tick_seconds: float = TICK_SECONDS,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.runner = runner
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self._jitter: dict[int, float] = {}
        self.ticks = 0
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def jitter(self, source_id: int, interval: int) -> timedelta:
        if source_id not in self._jitter:
            self._jitter[source_id] = self.rng.uniform(0, JITTER_RATIO)
        return timedelta(seconds=interval * self._jitter[source_id])

    async def due_sources(self) -> list[int]:
        now = self.clock()
        async with self.db.session() as session:
            candidates = await sync_store.schedule_candidates(session)
        return [
            source_id
            for source_id, interval, last in candidates
            if last is None
            or now >= last + timedelta(seconds=interval) + self.jitter(source_id, interval)
        ]

    async def tick(self) -> list[int]:
        """Start every due source's incremental sync; returns the run ids started."""
        self.ticks += 1
        started: list[int] = []
        for source_id in await self.due_sources():
            try:
                started.append(
                    await self.runner.start(source_id, SyncMode.incremental, trigger="schedule")
                )
            except SyncAlreadyRunning:
                continue  # another replica (or an API request) is syncing it
            except Exception:
                logger.exception("could not start a scheduled sync", extra={"source_id": source_id})
            # A new draw per run keeps the spread from settling into one fixed order.
            self._jitter.pop(source_id, None)
        return started

    def start(self) -> None:
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            id="sync-due-sources",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock(),
        )
        self.scheduler.start()

    async def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            # AsyncIOScheduler stops on the loop's next turn.
            await asyncio.sleep(0)
        logger.info("poll scheduler stopped", extra={"scheduler_ticks": self.ticks})
