"""Paging while writers commit out of id order: no entry skipped, none repeated.

Each writer appends, then lingers inside its transaction so that, without the append path's
ordering guarantee, a later writer would commit a higher id first and a reader would move its
cursor past the lingering writer's lower id for good.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change
from service.feed.queries import list_changes
from service.store.changes import append_changes, change_row
from service.store.db import Database

WRITERS = 6
COMMITS_PER_WRITER = 8


async def _writer(db: Database, n: int, rng: random.Random) -> None:
    for i in range(COMMITS_PER_WRITER):
        async with db.session() as session:
            rows = [
                change_row("objective.updated", "objective", n * 100 + i, cause=f"api:w{n}")
                for _ in range(rng.randint(1, 3))
            ]
            await append_changes(session, rows)
            await asyncio.sleep(rng.uniform(0, 0.02))


async def test_paging_during_concurrent_writes_has_no_gap_and_no_repeat(db: Database) -> None:
    rng = random.Random(8)
    writers = asyncio.gather(*(_writer(db, n, rng) for n in range(WRITERS)))
    seen: list[int] = []
    after = 0

    async def read_page() -> None:
        nonlocal after
        async with db.session() as session:
            page = await list_changes(session, after=after, limit=4)
        seen.extend(c.id or 0 for c in page)
        if page:
            after = page[-1].id or after

    while not writers.done():
        await read_page()
        await asyncio.sleep(0.001)
    await writers
    for _ in range(100):
        await read_page()

    async with db.session() as session:
        committed = (
            (await session.execute(select(col(Change.id)).order_by(col(Change.id)))).scalars().all()
        )
    assert len(committed) >= WRITERS * COMMITS_PER_WRITER
    assert len(seen) == len(set(seen)), "an entry was served twice"
    assert seen == list(committed), "an entry was skipped"


async def test_a_later_writer_cannot_commit_past_an_earlier_one_on_postgres(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite serializes writers with BEGIN IMMEDIATE; nothing to interleave")
    first_may_commit = asyncio.Event()

    async def first() -> None:
        async with db.session() as session:
            await append_changes(session, [change_row("a.x", "objective", 1, cause="api:a")])
            await first_may_commit.wait()

    async def second() -> None:
        async with db.session() as session:
            await append_changes(session, [change_row("b.x", "objective", 2, cause="api:b")])

    one = asyncio.create_task(first())
    await asyncio.sleep(0.2)
    two = asyncio.create_task(second())
    await asyncio.sleep(0.2)
    async with db.session() as session:
        early = await list_changes(session, after=0, limit=10)
    # Without the ordering lock, `b` (the higher id) would be visible here, and a reader that
    # moved its cursor past it would never see `a`.
    assert early == []
    first_may_commit.set()
    await asyncio.gather(one, two)
    async with db.session() as session:
        late = await list_changes(session, after=0, limit=10)
    assert [c.type for c in late] == ["a.x", "b.x"]
