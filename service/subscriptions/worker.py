"""The background loop: queue digests and feed entries, deliver what is due, refresh metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
from fastapi import FastAPI

from schemas.types import utcnow
from service.config import Settings
from service.digests.schedules import run_due
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions import metrics
from service.subscriptions.delivery import deliver_due
from service.subscriptions.urls import check_subscription_url

logger = logging.getLogger(__name__)


async def run_once(
    db: Database, box: SecretBox, client: httpx.AsyncClient, settings: Settings
) -> None:
    now = utcnow()
    async with db.session() as session:
        await run_due(session, now=now)
    guard = partial(check_subscription_url, allow_private=settings.allow_private_upstreams)
    await deliver_due(db, box, client, now=now, guard=guard)
    async with db.session() as session:
        await metrics.refresh(session, now)


async def start_subscription_worker(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start delivering in the background; returns the coroutine function that stops it."""
    db: Database = app.state.db
    box: SecretBox = app.state.secret_box
    settings: Settings = app.state.settings
    # Never follow redirects: a public URL must not bounce a signed event to an internal one.
    client = httpx.AsyncClient(
        timeout=settings.subscription_timeout_seconds, follow_redirects=False
    )

    stopping = asyncio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            try:
                await run_once(db, box, client, settings)
            except Exception:  # the loop must survive a bad pass (database restart, ...)
                logger.exception("subscription worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.worker_poll_seconds)

    task = asyncio.create_task(loop(), name="subscription-worker")

    async def stop() -> None:
        # Let a pass finish rather than cancel it inside a transaction; cancel only if stuck.
        stopping.set()
        try:
            await asyncio.wait_for(task, settings.subscription_timeout_seconds + 5)
        except TimeoutError:
            pass
        finally:
            await client.aclose()

    return stop
