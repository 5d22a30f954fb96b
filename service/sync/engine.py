"""The sync engine: one run of one source, checkpointed per page.

Each page is stored in ONE transaction together with its checkpoint, the run's counters and the
lease renewal, so a crash re-fetches at most the page in flight and leaves the store exactly as
a clean run would (the upsert is idempotent). Errors fail the run loudly, with a message that
never contains a secret; the pages committed before the error stay.

The next page is fetched while the current one is stored (one page of read-ahead): the upstream
and the database work at the same time. A page is still stored only after the one before it
committed, and an upstream error surfaces after the pages before it are stored; a run that
stops early may have sent one request more than it stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import Connector, Page, Sleep
from connectors.registry import build_connector
from schemas.enums import RunStatus, SourceKind, SyncMode
from schemas.tables import Source, SyncRun
from schemas.types import utcnow
from service.config import Settings
from service.security import SecretBox
from service.sources import health
from service.sources import store as sources
from service.store.db import Database, outlasting_outage
from service.store.work_items import (
    reconcile_live_ids,
    refresh_statistics,
    sweep_candidates,
    tombstone_work_items,
    upsert_work_items,
)
from service.sync import leases, metrics
from service.sync import store as sync_store
from service.sync.pages import (
    checkpoint,
    raise_failed_scopes,
    read_ahead,
    scope_of,
    scopes_in,
)
from service.sync.record import RunCounters, rate_limits, safe_message

logger = logging.getLogger(__name__)

# PostgreSQL: refresh planner statistics once a run has created this many items, then each
# time the run's created count doubles (a bulk load would otherwise be planned as a tiny table).
ANALYZE_FIRST_AT = 100

Clock = Callable[[], datetime]
# Called after each page is committed: (page number from 1, the page, the run's counters).
PageHook = Callable[[int, Page, "RunCounters"], Awaitable[None]]


class LeaseLost(Exception):
    """Another holder took the lease (ours expired): this run must stop writing."""


@dataclass
class _Plan:
    source_id: int
    source_name: str
    kind: str
    mode: SyncMode
    base_url: str
    credentials: dict[str, Any]
    scope: dict[str, Any]
    settings: dict[str, Any]
    state: dict[str, dict[str, Any]]
    needs_discovery: bool
    reconcile: bool
    # Full runs: the generation whose marks this run sets, when that generation began (store
    # time), and each partition's state so far: `reading` (its checkpoint is this generation's),
    # `complete` (not read again when the run is resumed) or `failed`.
    generation: int | None = None
    generation_began: datetime | None = None
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)


class SyncEngine:
    """Executes runs created by `SyncRunner.request`; the lease is already ours (`holder`).

    Args:
        db, settings, box: the store, settings (lease TTL, reconcile interval) and secret box.
        holder: the lease holder id the run was requested under.
        clock: the current time (lease expiry, reconcile due dates); injectable for tests.
        sleep: passed to connectors for rate-limit waits and retries; injectable for tests.
        client: an `httpx.AsyncClient` for connectors (tests, shared pools).
        on_page: awaited after each committed page (progress display, crash injection in tests).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        box: SecretBox,
        *,
        holder: str,
        clock: Clock = utcnow,
        sleep: Sleep | None = None,
        client: httpx.AsyncClient | None = None,
        on_page: PageHook | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.box = box
        self.holder = holder
        self.clock = clock
        self.sleep = sleep
        self.client = client
        self.on_page = on_page

    async def execute(self, run_id: int) -> SyncRun:
        """Run to the end; the returned record is `succeeded`, `failed` or `abandoned`."""
        started = time.monotonic()
        counters = RunCounters()
        plan: _Plan | None = None
        connector: Connector | None = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            plan = await self._begin(run_id)
            connector = build_connector(
                plan.kind,
                base_url=plan.base_url,
                credentials=plan.credentials,
                scope=plan.scope,
                settings=plan.settings,
                client=self.client,
                sleep=self.sleep,
                clock=self.clock,
                max_wait_seconds=self.settings.upstream_max_wait_seconds,
            )
            counters.stats = connector.stats
            heartbeat = asyncio.create_task(self._heartbeat(plan.source_id))
            await self._sync(run_id, plan, connector, counters)
            status, error = RunStatus.succeeded, None
        except asyncio.CancelledError:
            status, error = RunStatus.abandoned, "abandoned: the process was shut down mid-run"
            await asyncio.shield(self._finish(run_id, plan, counters, status, error, started))
            raise
        except Exception as exc:
            secrets = list(plan.credentials.values()) if plan else []
            status, error = RunStatus.failed, safe_message(exc, [str(s) for s in secrets])
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            if connector is not None:
                await connector.aclose()
        return await self._finish(run_id, plan, counters, status, error, started)

    async def _begin(self, run_id: int) -> _Plan:
        now = self.clock()
        async with self.db.session() as session:
            run = await sync_store.get_run(session, run_id)
            source = await sources.get(session, run.source_id)
            assert source.id is not None
            if not await leases.renew(
                session,
                source.id,
                self.holder,
                ttl_seconds=self.settings.lease_ttl_seconds,
                now=now,
            ):
                raise LeaseLost("the lease expired before the run started")
            run.status = RunStatus.running.value
            run.started_at = run.heartbeat_at = now
            mode = SyncMode(run.mode)
            generation, began = run.generation, run.created_at
            resumed = mode is SyncMode.full and generation not in (None, run.id)
            if resumed:
                assert generation is not None
                began = (await sync_store.get_run(session, generation)).created_at
            if mode is not SyncMode.full:
                state = await sync_store.load_cursors(session, source.id)
            elif resumed:
                # Only the checkpoints the interrupted run wrote: a partition it had not begun
                # still holds an incremental cursor, and must be listed from the start.
                begun = scopes_in(run.scopes or {}, "reading")
                cursors = await sync_store.load_cursors(session, source.id)
                state = {name: cursors[name] for name in begun if name in cursors}
            else:
                state = {}
            return _Plan(
                source_id=source.id,
                source_name=source.name,
                kind=source.kind,
                mode=mode,
                base_url=source.base_url,
                credentials=sources.credentials_of(self.box, source),
                scope=dict(source.scope),
                settings=self._connector_settings(source),
                state=state,
                needs_discovery=source.kind == SourceKind.jira and not source.discovered,
                # A full run's own listing is its delete sweep; the others list ids when due.
                reconcile=mode is SyncMode.reconcile
                or (mode is SyncMode.incremental and self._reconcile_due(source, now)),
                generation=generation if mode is SyncMode.full else None,
                generation_began=began,
                scopes={k: dict(v) for k, v in (run.scopes or {}).items()},
            )

    def _connector_settings(self, source: Source) -> dict[str, Any]:
        settings = dict(source.settings)
        if source.kind == SourceKind.jira:
            settings.setdefault("overlap_minutes", self.settings.jira_overlap_minutes)
            written = (source.write_back or {}).get("jira_custom_field")
            if (source.write_back or {}).get("enabled") and written:
                # Read back on every issue, so a person's edit of it is seen.
                settings["extra_fields"] = [written]
        return settings

    def _reconcile_due(self, source: Source, now: datetime) -> bool:
        last = source.last_reconcile_at
        interval = timedelta(seconds=self.settings.reconcile_interval_seconds)
        return last is None or now - last >= interval

    async def _sync(
        self, run_id: int, plan: _Plan, connector: Connector, counters: RunCounters
    ) -> None:
        cause = f"sync:{run_id}"
        if plan.needs_discovery:
            discovered = await connector.discover()
            async with self.db.session() as session:
                source = await sources.get(session, plan.source_id)
                sources.apply_discovery(source, discovered)
        if plan.mode is not SyncMode.reconcile:
            skip = set(scopes_in(plan.scopes, "complete"))
            pages = read_ahead(connector.read(plan.state, skip=skip), counters.ahead)
            async with contextlib.aclosing(pages):
                await self._store_pages(run_id, plan, pages, counters)
        if plan.generation is not None:
            await self._sweep_generation(run_id, plan, connector, counters)
        raise_failed_scopes(plan.scopes, swept=plan.generation is not None)
        if plan.reconcile:
            # Only after a sweep that finished: a partial id list would tombstone live items.
            live = await connector.live_external_ids()
            async with self.db.session() as session:
                await self._renew(session, plan.source_id)
                tombstoned, restored = await reconcile_live_ids(
                    session, plan.source_id, live, cause=cause
                )
                source = await sources.get(session, plan.source_id)
                source.last_reconcile_at = self.clock()
            counters.deleted += len(tombstoned)
            counters.updated += len(restored)

    async def _sweep_generation(
        self, run_id: int, plan: _Plan, connector: Connector, counters: RunCounters
    ) -> None:
        """Tombstone what a full run's listing no longer returned, in the scopes it read to the
        end (the caller then fails the run if any scope could not be read)."""
        assert plan.generation is not None and plan.generation_began is not None
        failed = scopes_in(plan.scopes, "failed")
        complete = scopes_in(plan.scopes, "complete")
        # Every scope read: the whole source is swept (a repository dropped from the scope too).
        projects = [scope_of(name) for name in complete] if failed else None
        async with self.db.session() as session:
            candidates = await sweep_candidates(
                session,
                plan.source_id,
                plan.generation,
                written_before=plan.generation_began,
                projects=projects,
            )
        gone = await connector.confirm_gone(candidates) if candidates else set()
        async with self.db.session() as session:
            await self._renew(session, plan.source_id)
            tombstoned = await tombstone_work_items(
                session, plan.source_id, sorted(gone), cause=f"sync:{run_id}"
            )
            run = await sync_store.get_run(session, run_id)
            run.scopes = plan.scopes | {
                "sweep": {"candidates": len(candidates), "tombstoned": len(tombstoned)}
            }
            if not failed:
                source = await sources.get(session, plan.source_id)
                source.last_reconcile_at = self.clock()
        counters.deleted += len(tombstoned)

    async def _store_pages(
        self, run_id: int, plan: _Plan, pages: AsyncIterator[Page], counters: RunCounters
    ) -> None:
        cause = f"sync:{run_id}"
        number = 0
        analyze_at = ANALYZE_FIRST_AT
        async for page in pages:
            if page.failed is not None:
                plan.scopes[page.stream] = {"status": "failed", "error": page.failed}
                async with self.db.session() as session:
                    await self._record(session, run_id, counters, plan.scopes)
                continue
            state = await checkpoint(page, counters.ahead)
            async with self.db.session() as session:
                await self._renew(session, plan.source_id)
                result = await upsert_work_items(
                    session, plan.source_id, page.items, cause=cause, generation=plan.generation
                )
                await sync_store.save_cursor(session, plan.source_id, page.stream, state)
                plan.scopes[page.stream] = {"status": "complete" if page.last else "reading"}
                staged = replace(counters)
                staged.add(result)
                await self._record(session, run_id, staged, plan.scopes)
            # Counted only once committed: a rolled-back page never shows on the run.
            counters.add(result)
            number += 1
            if self.db.is_postgres and counters.created >= analyze_at:
                async with self.db.session() as session:
                    await refresh_statistics(session)
                analyze_at = 2 * counters.created
            if self.on_page is not None:
                await self.on_page(number, page, counters)

    async def _renew(self, session: AsyncSession, source_id: int) -> None:
        ttl = self.settings.lease_ttl_seconds
        if not await leases.renew(
            session, source_id, self.holder, ttl_seconds=ttl, now=self.clock()
        ):
            raise LeaseLost("the sync lease was lost (it expired and another process took it)")

    async def _record(
        self,
        session: AsyncSession,
        run_id: int,
        counters: RunCounters,
        scopes: dict[str, dict[str, Any]],
    ) -> None:
        run = await sync_store.get_run(session, run_id)
        counters.apply(run)
        run.scopes = {name: dict(outcome) for name, outcome in scopes.items()}
        run.heartbeat_at = self.clock()

    async def _heartbeat(self, source_id: int) -> None:
        # Keeps the lease alive through long rate-limit waits between page commits.
        interval = max(1.0, self.settings.lease_ttl_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.session() as session:
                    await leases.renew(
                        session,
                        source_id,
                        self.holder,
                        ttl_seconds=self.settings.lease_ttl_seconds,
                        now=self.clock(),
                    )
            except Exception:
                logger.warning("lease renewal failed", extra={"source_id": source_id})

    async def _finish(
        self,
        run_id: int,
        plan: _Plan | None,
        counters: RunCounters,
        status: RunStatus,
        error: str | None,
        started: float,
    ) -> SyncRun:
        # Recorded even across a database restart: the run must not stay `running`.
        run = await outlasting_outage(lambda: self._record_outcome(run_id, counters, status, error))
        extra: dict[str, Any] = {"run_id": run_id, "source_id": run.source_id}
        if error:
            logger.warning("sync run %s: %s", status.value, error, extra=extra)
        else:
            items = {f"items_{k}": v for k, v in counters.items().items()}
            logger.info("sync run %s", status.value, extra=extra | items)
        metrics.record_run(
            kind=plan.kind if plan else "unknown",
            mode=run.mode,
            status=status.value,
            seconds=time.monotonic() - started,
            source_name=plan.source_name if plan else str(run.source_id),
            items=counters.items(),
            stats=counters.stats if plan else None,
        )
        return run

    async def _record_outcome(
        self, run_id: int, counters: RunCounters, status: RunStatus, error: str | None
    ) -> SyncRun:
        now = self.clock()
        async with self.db.session() as session:
            run = await sync_store.get_run(session, run_id)
            counters.apply(run)
            run.status = status.value
            run.error = error
            run.finished_at = now
            source = await session.get(Source, run.source_id)
            if source is not None:
                if counters.stats.rate_limit:
                    source.rate_limit = rate_limits(counters.stats)
                if status is RunStatus.succeeded:
                    source.last_success_at = now
                    changed = counters.created + counters.updated
                    threshold = self.settings.webhook_silence_threshold_seconds
                    health.after_poll(source, run_id, changed, now, threshold)
            await leases.release(session, run.source_id, self.holder)
        return run
