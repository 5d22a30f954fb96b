"""SQLite: writers of one process take turns in arrival order; readers never wait."""

import asyncio

import pytest
from sqlalchemy import text

from service.store.db import Database


async def test_writers_queue_in_arrival_order(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite writer queue")
    order: list[int] = []
    release, started = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write turn
            order.append(0)
            started.set()
            await release.wait()

    async def writer(n: int) -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            order.append(n)

    first = asyncio.create_task(holder())
    await started.wait()
    waiting = []
    for n in range(1, 6):
        waiting.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.02)  # each has reached the queue before the next one starts
    async with db.session(readonly=True) as session:  # a reader is not held up meanwhile
        assert (await session.execute(text("SELECT 1"))).scalar() == 1
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == [0, 1, 2, 3, 4, 5]


async def test_a_writer_that_cannot_get_its_turn_fails_after_the_busy_timeout(
    database_url: str,
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite writer queue")
    db = Database(database_url, busy_timeout_ms=100)
    try:
        async with db.session() as outer:
            await outer.execute(text("SELECT 1"))
            with pytest.raises(Exception, match="database is locked"):
                async with db.session() as inner:
                    await inner.execute(text("SELECT 1"))
    finally:
        await db.dispose()
