"""Duplicates, concurrency, order and crashes: each delivery changes the store exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from schemas.tables import WebhookDelivery
from schemas.types import utcnow
from service.security import SecretBox
from service.store.db import Database
from service.webhooks import inbox
from service.webhooks.worker import (
    _apply_one,
    drain_once,
    run_until_drained,
    start_inbox_worker,
)

from .support import (
    add_source,
    change_causes,
    count,
    deliveries,
    encode,
    issue_variant,
    load_github,
    post_github,
    work_items,
)


async def test_same_delivery_twice_is_stored_and_applied_once(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    payload = load_github("issues.opened.json")
    first = await post_github(client, source_id, payload, "issues", delivery="d-1")
    await drain_once(db)
    again = await post_github(client, source_id, payload, "issues", delivery="d-1")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {**first.json(), "status": "processed", "duplicate": True}
    assert await drain_once(db) == 0
    assert await change_causes(db) == ["webhook:292430182:d-1"]


async def test_twenty_concurrent_copies_are_stored_once(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    payload = load_github("issues.opened.json")

    responses = await asyncio.gather(
        *(post_github(client, source_id, payload, "issues", delivery="same") for _ in range(20))
    )

    assert Counter(r.status_code for r in responses) == {202: 1, 200: 19}
    assert len({r.json()["id"] for r in responses}) == 1
    await run_until_drained(db, max_attempts=8)
    assert await count(db, WebhookDelivery) == 1
    assert await change_causes(db) == ["webhook:292430182:same"]


async def test_older_event_arriving_later_changes_nothing(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    base = load_github("issues.edited.json")
    newer = issue_variant(base, n=1, title="newer title", updated_at="2019-05-15T16:00:00Z")
    older = issue_variant(base, n=1, title="older title", updated_at="2019-05-15T15:00:00Z")
    await post_github(client, source_id, newer, "issues")
    await drain_once(db)
    await post_github(client, source_id, older, "issues")
    await drain_once(db)

    [item] = await work_items(db)
    assert item.title == "newer title"
    assert [r.status for r in await deliveries(db)] == ["processed", "processed"]
    assert len(await change_causes(db)) == 1


async def test_crash_after_acknowledging_loses_nothing(
    db: Database, app: FastAPI, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    base = load_github("issues.opened.json")
    for n in range(3):
        response = await post_github(client, source_id, issue_variant(base, n=n), "issues")
        assert response.status_code == 202

    # A worker dies mid-batch: it applied the rows but never committed.
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            rows = await inbox.claim_due(session, now=utcnow(), limit=10)
            for row in rows:
                await _apply_one(
                    session, row, await inbox.get_source(session, source_id), utcnow(), 8
                )
            await session.flush()
            raise RuntimeError("process killed")
    assert [r.status for r in await deliveries(db)] == ["pending"] * 3
    assert await work_items(db) == []

    # A new process starts its worker: the rows left pending are applied, once.
    stop = await start_inbox_worker(app)
    try:
        for _ in range(500):
            if all(r.status == "processed" for r in await deliveries(db)):
                break
            await asyncio.sleep(0.01)
    finally:
        await stop()
    assert [r.status for r in await deliveries(db)] == ["processed"] * 3
    assert len(await work_items(db)) == 3
    assert len(await change_causes(db)) == 3


async def test_running_worker_is_woken_by_the_receiver(
    db: Database, app: FastAPI, client: httpx.AsyncClient, secret_box: SecretBox, settings
) -> None:
    settings.worker_poll_seconds = 3600  # only the receiver's wake-up can explain a quick apply
    source_id = await add_source(db, secret_box)
    stop = await start_inbox_worker(app)
    try:
        await asyncio.sleep(0)
        await post_github(client, source_id, load_github("issues.opened.json"), "issues")
        for _ in range(500):
            if (await deliveries(db))[0].status == "processed":
                break
            await asyncio.sleep(0.01)
    finally:
        await stop()
    assert (await deliveries(db))[0].status == "processed"


async def test_two_workers_apply_every_row_exactly_once(
    db: Database, secret_box: SecretBox
) -> None:
    # 500 rows where workers really run in parallel (PostgreSQL, SKIP LOCKED); on SQLite,
    # where BEGIN IMMEDIATE serialises them, fewer rows show the same property faster.
    total = 500 if db.is_postgres else 60
    source_id = await add_source(db, secret_box)
    base = load_github("issues.opened.json")
    now = utcnow()
    async with db.session() as session:
        for n in range(total):
            await inbox.insert_delivery(
                session,
                {
                    "source_id": source_id,
                    "delivery_id": f"h:{n}",
                    "event": "issues",
                    "action": "opened",
                    "status": "pending",
                    "headers": {},
                    "payload": issue_variant(base, n=n),
                    "attempts": 0,
                    "received_at": now,
                },
            )
    # Two engines: two processes' worth of connections, really concurrent on PostgreSQL.
    other = Database(db.url, busy_timeout_ms=30000)
    try:
        handled = await asyncio.gather(
            run_until_drained(db, max_attempts=8), run_until_drained(other, max_attempts=8)
        )
    finally:
        await other.dispose()

    assert sum(handled) == total
    causes = Counter(await change_causes(db))
    assert len(causes) == total and set(causes.values()) == {1}
    rows = await deliveries(db)
    assert {(r.status, r.attempts) for r in rows} == {("processed", 1)}
    assert len(await work_items(db)) == total
    if db.is_postgres:
        assert min(handled) > 0, handled


async def test_failing_delivery_backs_off_then_dies(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    broken = {"action": "opened", "issue": {"number": 1}, "repository": {"full_name": "x/y"}}
    body = encode(broken)
    response = await post_github(client, source_id, broken, "issues")
    assert response.status_code == 202 and body
    t0 = utcnow()

    assert await drain_once(db, max_attempts=3, clock=lambda: t0) == 1
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.next_attempt_at == t0 + timedelta(seconds=5)
    assert "KeyError" in (row.error or "") or "ValueError" in (row.error or "")

    assert await drain_once(db, max_attempts=3, clock=lambda: t0 + timedelta(seconds=4)) == 0
    assert await drain_once(db, max_attempts=3, clock=lambda: t0 + timedelta(seconds=5)) == 1
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.next_attempt_at == t0 + timedelta(seconds=15)
    assert await drain_once(db, max_attempts=3, clock=lambda: t0 + timedelta(seconds=15)) == 1
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 3, None)
    assert await drain_once(db, max_attempts=3, clock=lambda: t0 + timedelta(days=1)) == 0


async def test_one_bad_delivery_does_not_undo_its_batch(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    base = load_github("issues.opened.json")
    await post_github(client, source_id, issue_variant(base, n=1), "issues")
    await post_github(client, source_id, {"action": "opened", "issue": {}}, "issues")
    await post_github(client, source_id, issue_variant(base, n=2), "issues")
    assert await drain_once(db, limit=10) == 3
    assert [r.status for r in await deliveries(db)] == ["processed", "failed", "processed"]
    assert len(await work_items(db)) == 2


def test_serve_and_worker_run_the_inbox_worker() -> None:
    from service.runtime import background_workers

    assert start_inbox_worker in background_workers()


async def test_one_batch_applies_in_delivery_order_with_each_delivery_as_cause(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    opened, deleted = load_github("issues.opened.json"), load_github("issues.deleted.json")
    other = issue_variant(opened, n=7)
    for payload, delivery in ((opened, "a"), (other, "b"), (deleted, "c")):
        response = await post_github(client, source_id, payload, "issues", delivery=delivery)
        assert response.status_code == 202
    assert await drain_once(db) == 3  # one batch: two upserts grouped, then the tombstone

    items = {i.external_id: i for i in await work_items(db)}
    assert items[opened["issue"]["node_id"]].deleted_at is not None
    assert items["I_test_7"].deleted_at is None
    assert sorted(await change_causes(db)) == [
        "webhook:292430182:a",
        "webhook:292430182:b",
        "webhook:292430182:c",
    ]


async def test_the_worker_lets_acknowledgements_in_flight_go_first() -> None:
    from service.webhooks.worker import ReceiverGate

    gate = ReceiverGate()
    gate.enter()
    waited = asyncio.create_task(gate.quiet(5))
    await asyncio.sleep(0.01)
    assert not waited.done()  # an acknowledgement is in flight: the batch waits
    gate.leave()
    await asyncio.wait_for(waited, 1)  # and goes as soon as it is done
    started = asyncio.get_running_loop().time()
    gate.enter()
    await gate.quiet(0.05)  # never longer than the bound, so applying is not starved
    assert asyncio.get_running_loop().time() - started < 1
    gate.leave()
