"""The background worker delivers on its own, and stops cleanly."""

from __future__ import annotations

import asyncio

import respx
from httpx import Response

from service.app import create_app
from service.config import Settings
from service.runtime import background_workers
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions.worker import start_subscription_worker
from tests.feed.helpers import change
from tests.subscriptions.helpers import URL, subscribe


async def test_worker_delivers_feed_entries_in_the_background(
    db: Database, secret_box: SecretBox, database_url: str
) -> None:
    assert start_subscription_worker in background_workers()
    settings = Settings(
        database_url=database_url,
        worker_poll_seconds=0.02,
        allow_private_upstreams=True,
        log_json=True,
    )
    app = create_app(settings, database=db, secret_box=secret_box)
    await subscribe(db, secret_box)
    await change(db, "objective.updated", "objective", 1)
    with respx.mock(assert_all_called=True) as upstream:
        route = upstream.post(URL).mock(return_value=Response(200))
        stop = await start_subscription_worker(app)
        try:
            for _ in range(250):
                if route.called:
                    break
                await asyncio.sleep(0.02)
        finally:
            await stop()
    assert route.call_count == 1
    assert route.calls[0].request.headers["webhook-signature"].startswith("v1,")
