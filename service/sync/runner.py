"""Starts sync runs under the source's lease and keeps their tasks; API, scheduler and CLI use it.

`request` takes the lease and records a `queued` run in the caller's transaction (a sync that is
already running is a 409 naming its run); `launch` executes it in a background task once that
transaction has committed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import RunStatus, SyncMode
from schemas.tables import SyncRun
from schemas.types import utcnow
from service.config import Settings
from service.errors import Conflict
from service.security import SecretBox
from service.sources import store as sources
from service.store.db import Database
from service.sync import leases
from service.sync import store as sync_store
from service.sync.engine import Clock, SyncEngine
from service.sync.pages import scopes_in

logger = logging.getLogger(__name__)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SyncAlreadyRunning(Conflict):
    def __init__(self, source_id: int, run_id: int | None) -> None:
        which = f"run {run_id}" if run_id is not None else "another run"
        super().__init__(
            f"source {source_id} is already syncing ({which}); wait for it to finish",
            running_run_id=run_id,
        )
        self.run_id = run_id


def runner_of(state: Any) -> SyncRunner:
    """The app's one runner, kept on its `state` (made on first use from the app's store,
    settings and secret box): the API, the web pages and the scheduler share it."""
    runner: SyncRunner | None = getattr(state, "sync_runner", None)
    if runner is None:
        runner = SyncRunner(state.db, state.settings, state.secret_box)
        state.sync_runner = runner
    return runner


class SyncRunner:
    """Args: the store, settings, secret box; `engine_options` go to every `SyncEngine`
    (clock, sleep, client, on_page); `holder` names this process in the lease table."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        box: SecretBox,
        *,
        holder: str | None = None,
        clock: Clock = utcnow,
        **engine_options: Any,
    ) -> None:
        self.db = db
        self.settings = settings
        self.box = box
        self.holder = holder or holder_id()
        self.clock = clock
        self.engine_options = engine_options
        self.tasks: dict[int, asyncio.Task[SyncRun]] = {}

    def engine(self, **overrides: Any) -> SyncEngine:
        options = {**self.engine_options, **overrides}
        return SyncEngine(
            self.db, self.settings, self.box, holder=self.holder, clock=self.clock, **options
        )

    async def request(
        self, session: AsyncSession, source_id: int, mode: SyncMode, *, trigger: str
    ) -> SyncRun:
        """Take the lease and record a queued run (flushed, not committed)."""
        await sources.get(session, source_id)
        now = self.clock()
        taken = await leases.acquire(
            session, source_id, self.holder, ttl_seconds=self.settings.lease_ttl_seconds, now=now
        )
        if not taken:
            state = await leases.current(session, source_id)
            raise SyncAlreadyRunning(source_id, state.run_id if state else None)
        abandoned = await sync_store.abandon_unfinished(session, source_id, now=now)
        if abandoned:
            logger.warning(
                "took over an expired sync lease", extra={"source_id": source_id, "runs": abandoned}
            )
        interrupted = (
            await sync_store.interrupted_full_run(
                session,
                source_id,
                # Store time, as the generation's own start (the run's `created_at`).
                not_before=utcnow() - timedelta(seconds=self.settings.reconcile_interval_seconds),
            )
            if mode is SyncMode.full
            else None
        )
        run = SyncRun(
            source_id=source_id, mode=mode.value, status=RunStatus.queued.value, trigger=trigger
        )
        if interrupted is not None:
            # Same generation: the marks, the scopes read to the end and those begun carry over.
            run.generation = interrupted.generation
            carried = interrupted.scopes or {}
            run.scopes = {name: carried[name] for name in scopes_in(carried, "complete", "reading")}
        session.add(run)
        await session.flush()
        assert run.id is not None
        if mode is SyncMode.full and run.generation is None:
            run.generation = run.id
        await leases.attach_run(session, source_id, self.holder, run.id)
        return run

    async def launch(self, run_id: int) -> asyncio.Task[SyncRun]:
        """Execute a committed, queued run in a task this runner keeps until it ends."""
        task = asyncio.create_task(self.engine().execute(run_id), name=f"sync-run-{run_id}")
        self.tasks[run_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(run_id, None))
        return task

    async def start(self, source_id: int, mode: SyncMode, *, trigger: str) -> int:
        """Request and launch in this runner's own transaction (scheduler)."""
        async with self.db.session() as session:
            run = await self.request(session, source_id, mode, trigger=trigger)
        assert run.id is not None
        await self.launch(run.id)
        return run.id

    async def run_foreground(
        self, source_id: int, mode: SyncMode, *, trigger: str, **engine_overrides: Any
    ) -> SyncRun:
        """Request then execute in the caller's task (CLI, tests)."""
        async with self.db.session() as session:
            run = await self.request(session, source_id, mode, trigger=trigger)
        assert run.id is not None
        return await self.engine(**engine_overrides).execute(run.id)

    async def wait(self, run_id: int) -> SyncRun:
        task = self.tasks.get(run_id)
        if task is not None:
            return await task
        async with self.db.session() as session:
            return await sync_store.get_run(session, run_id)

    async def aclose(self) -> None:
        """Stop running syncs: each records itself `abandoned` and releases its lease."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
