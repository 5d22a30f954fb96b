"""The inbox worker: applies stored deliveries through the single work-item upsert.

Each batch is one transaction: claim due rows, apply them, mark each, commit. Consecutive
upserts of one source go through one upsert call (each change keeps its delivery as cause), so
rule evaluation and parent resolution run once per batch instead of once per delivery; if that
call fails, its deliveries are applied one by one, each in a savepoint, so one bad delivery does
not undo the others. Applying and marking commit together, so a crash applies nothing twice,
and rows a crash left `pending` are simply claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import Ignore, Tombstone, Upsert
from schemas.enums import DeliveryStatus
from schemas.tables import Source, WebhookDelivery
from schemas.types import utcnow
from service.store.db import Database
from service.store.work_items import tombstone_work_items, upsert_work_items
from service.webhooks import inbox
from service.webhooks.metrics import APPLY_SECONDS, DELIVERIES, DELIVERY_LATENCY, INBOX_LAG
from service.webhooks.receiver import instruction_for, out_of_scope

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEFAULT_BATCH = 50
# A SQLite batch holds the only write lock: keep it short so receivers are not kept waiting.
SQLITE_BATCH = 20
# Between SQLite batches the worker pauses so that waiting receivers get the write lock (the
# busy handler retries on a timer, and a worker looping straight back would win every time).
SQLITE_PAUSE_SECONDS = 0.005
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 3600.0
_WAKE_ATTR = "webhook_inbox_wake"
_GATE_ATTR = "webhook_receiver_gate"
# After a wake-up the worker waits this long so that a burst is applied as one batch (one rule
# evaluation and one commit for many deliveries) instead of one batch per delivery.
COALESCE_SECONDS = 0.05
# The most a batch waits for in-flight acknowledgements of this process to finish first.
YIELD_TO_RECEIVERS_SECONDS = 0.05


class ReceiverGate:
    """Counts acknowledgements in flight in this process, so the worker can let them go first:
    an acknowledgement is what a sender waits for; applying can wait a few milliseconds."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def enter(self) -> None:
        self._in_flight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight <= 0:
            self._in_flight = 0
            self._quiet.set()

    async def quiet(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), at_most)


def receiver_gate(app: FastAPI) -> ReceiverGate:
    gate: ReceiverGate | None = getattr(app.state, _GATE_ATTR, None)
    if gate is None:
        gate = ReceiverGate()
        setattr(app.state, _GATE_ATTR, gate)
    return gate


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at an hour: the wait after the `attempts`-th failure."""
    return timedelta(
        seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    )


async def drain_once(
    db: Database,
    *,
    max_attempts: int = 8,
    limit: int | None = None,
    clock: Clock = utcnow,
) -> int:
    """Apply one batch of due deliveries; return how many rows were handled (0: nothing due)."""
    if limit is None:
        limit = SQLITE_BATCH if db.is_sqlite else DEFAULT_BATCH
    now = clock()
    async with db.session() as session:
        rows = await inbox.claim_due(session, now=now, limit=limit)
        sources: dict[int, Source | None] = {}
        group: list[tuple[WebhookDelivery, Upsert]] = []
        for row in rows:
            if row.source_id not in sources:
                sources[row.source_id] = await inbox.get_source(session, row.source_id)
            source = sources[row.source_id]
            upsert = _plain_upsert(row, source)
            if group and (upsert is None or group[0][0].source_id != row.source_id):
                await _apply_group(session, group, sources, now, max_attempts)
                group = []
            if upsert is not None:
                group.append((row, upsert))
            else:
                await _apply_one(session, row, source, now, max_attempts)
        if group:
            await _apply_group(session, group, sources, now, max_attempts)
        await session.flush()
        oldest = await inbox.oldest_pending_received_at(session)
    INBOX_LAG.set(max((clock() - oldest).total_seconds(), 0.0) if oldest else 0.0)
    return len(rows)


def _plain_upsert(row: WebhookDelivery, source: Source | None) -> Upsert | None:
    """The delivery's upsert when it is an in-scope upsert that parses; None for anything else
    (ignored, tombstone, out of scope, or failing to parse: those go through `_apply_one`)."""
    if source is None:
        return None
    try:
        instruction = instruction_for(source, row.event, row.payload)
    except Exception:
        return None
    if not isinstance(instruction, Upsert) or out_of_scope(source, row.payload) is not None:
        return None
    return instruction


async def _apply_group(
    session: AsyncSession,
    group: list[tuple[WebhookDelivery, Upsert]],
    sources: dict[int, Source | None],
    now: datetime,
    max_attempts: int,
) -> None:
    """One upsert call for consecutive upserts of one source; one by one if it fails."""
    started = time.perf_counter()
    source_id = group[0][0].source_id
    causes = {u.item.external_id: f"webhook:{row.delivery_id}" for row, u in group}
    try:
        async with session.begin_nested():
            await upsert_work_items(
                session, source_id, [u.item for _, u in group], cause="webhook", causes=causes
            )
    except Exception:
        logger.warning("webhook batch failed; applying its deliveries one by one")
        for row, _ in group:
            await _apply_one(session, row, sources[source_id], now, max_attempts)
        return
    elapsed = (time.perf_counter() - started) / len(group)
    for row, _ in group:
        row.attempts += 1
        _mark_processed(row, DeliveryStatus.processed, None)
        session.add(row)
        APPLY_SECONDS.observe(elapsed)
        DELIVERIES.labels(str(row.source_id), row.event, row.status).inc()


def _mark_processed(row: WebhookDelivery, status: DeliveryStatus, reason: str | None) -> None:
    row.status, row.error = status.value, reason
    row.next_attempt_at = None
    row.processed_at = utcnow()
    DELIVERY_LATENCY.observe(max((row.processed_at - row.received_at).total_seconds(), 0.0))


async def _apply_one(
    session: AsyncSession,
    row: WebhookDelivery,
    source: Source | None,
    now: datetime,
    max_attempts: int,
) -> None:
    started = time.perf_counter()
    row.attempts += 1
    try:
        async with session.begin_nested():
            status, reason = await _apply(session, row, source)
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= max_attempts:
            row.status = DeliveryStatus.dead.value
            row.next_attempt_at = None
        else:
            row.status = DeliveryStatus.failed.value
            row.next_attempt_at = now + backoff(row.attempts)
        logger.warning(
            "webhook delivery failed",
            extra={"delivery": row.id, "attempts": row.attempts, "status": row.status},
        )
    else:
        _mark_processed(row, status, reason)
    session.add(row)
    APPLY_SECONDS.observe(time.perf_counter() - started)
    DELIVERIES.labels(str(row.source_id), row.event, row.status).inc()


async def _apply(
    session: AsyncSession, row: WebhookDelivery, source: Source | None
) -> tuple[DeliveryStatus, str | None]:
    if source is None:
        return DeliveryStatus.ignored, "source deleted"
    instruction = instruction_for(source, row.event, row.payload)
    if isinstance(instruction, Ignore):
        return DeliveryStatus.ignored, instruction.reason
    reason = out_of_scope(source, row.payload)
    if reason is not None:
        return DeliveryStatus.ignored, reason
    assert source.id is not None
    cause = f"webhook:{row.delivery_id}"
    if isinstance(instruction, Upsert):
        await upsert_work_items(session, source.id, [instruction.item], cause=cause)
    elif isinstance(instruction, Tombstone):
        await tombstone_work_items(
            session,
            source.id,
            [instruction.external_id],
            cause=cause,
            occurred_at=instruction.occurred_at,
        )
    return DeliveryStatus.processed, None


def wake(app: FastAPI) -> None:
    """Tell a running worker that a delivery was just committed (no-op without a worker)."""
    event: asyncio.Event | None = getattr(app.state, _WAKE_ATTR, None)
    if event is not None:
        event.set()


async def run_until_drained(db: Database, *, max_attempts: int, clock: Clock = utcnow) -> int:
    total = 0
    while handled := await drain_once(db, max_attempts=max_attempts, clock=clock):
        total += handled
    return total


async def start_inbox_worker(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start the worker loop on the app's database; returns `stop()`.

    The loop drains the inbox, then sleeps until the receiver wakes it or the poll interval
    passes. On start it drains whatever an earlier process left pending.
    """
    db: Database = app.state.db
    settings = app.state.settings
    wakeup = asyncio.Event()
    setattr(app.state, _WAKE_ATTR, wakeup)
    stopping = asyncio.Event()

    gate = receiver_gate(app)

    async def loop() -> None:
        while not stopping.is_set():
            wakeup.clear()
            try:
                while True:
                    await gate.quiet(YIELD_TO_RECEIVERS_SECONDS)
                    if not await drain_once(db, max_attempts=settings.webhook_max_attempts):
                        break
                    if db.is_sqlite:
                        await asyncio.sleep(SQLITE_PAUSE_SECONDS)
            except Exception:
                # Database gone or busy: keep the process alive and try again at the next tick.
                logger.exception("webhook inbox worker: batch failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=settings.worker_poll_seconds)
            if wakeup.is_set() and not stopping.is_set():
                await asyncio.sleep(COALESCE_SECONDS)

    task = asyncio.create_task(loop(), name="webhook-inbox-worker")

    async def stop() -> None:
        stopping.set()
        wakeup.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if getattr(app.state, _WAKE_ATTR, None) is wakeup:
            setattr(app.state, _WAKE_ATTR, None)

    return stop
