"""Readers of the store for the sync tests (real database, no mocks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlmodel import col

from schemas.tables import Change, SyncRun, WorkItem
from service.store.db import Database

_WORK_ITEM_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE) work_item\b", re.IGNORECASE)


async def stored(db: Database, source_id: int) -> list[tuple[Any, ...]]:
    """The store's content for a source, without ids and bookkeeping timestamps."""
    async with db.session() as session:
        rows = await session.execute(select(WorkItem).where(col(WorkItem.source_id) == source_id))
        return sorted(
            (
                w.external_id,
                w.key,
                w.title,
                w.status,
                w.upstream_updated_at,
                w.content_hash,
                w.deleted_at is not None,
            )
            for w in rows.scalars()
        )


async def item_by_key(db: Database, source_id: int, key: str) -> WorkItem:
    async with db.session() as session:
        result = await session.execute(
            select(WorkItem).where(col(WorkItem.source_id) == source_id, col(WorkItem.key) == key)
        )
        return result.scalars().one()


async def changes(db: Database, cause: str | None = None) -> list[Change]:
    async with db.session() as session:
        stmt = select(Change).where(col(Change.entity_type) == "work_item").order_by(col(Change.id))
        if cause is not None:
            stmt = stmt.where(col(Change.cause) == cause)
        return list((await session.execute(stmt)).scalars())


async def run_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(SyncRun)) or 0)


@contextmanager
def count_work_item_writes(db: Database) -> Iterator[list[str]]:
    """Every INSERT/UPDATE statement sent against `work_item` while the block runs."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WORK_ITEM_WRITE.match(statement):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listener)
