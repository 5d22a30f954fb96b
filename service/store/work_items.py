"""THE single entry point for work items: the bulk, idempotent, out-of-order-safe upsert.

Both the poll path (sync engine) and the webhook path (inbox worker) end here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas.tables import WorkItem
from schemas.types import utcnow
from schemas.work_item import WorkItemIn
from service.store.changes import append_changes, change_row, diff

# Canonical fields: their hash decides whether an incoming item changes anything.
CONTENT_FIELDS: tuple[str, ...] = tuple(f for f in WorkItemIn.model_fields if f != "raw")
# What a `work_item.created` change shows; updates show exactly the fields that differ.
SUMMARY_FIELDS = ("key", "kind", "title", "status", "status_category", "parent_key", "estimate")
_CHUNK = 500
WORK_ITEM: Table = WorkItem.__table__  # type: ignore[attr-defined]


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    restored: int = 0
    changed_ids: list[int] = field(default_factory=list)

    def merge(self, other: UpsertResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.restored += other.restored
        self.changed_ids.extend(other.changed_ids)


def content_hash(item: WorkItemIn) -> str:
    data = item.model_dump(mode="json", include=set(CONTENT_FIELDS))
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _dedupe(items: Iterable[WorkItemIn]) -> list[WorkItemIn]:
    """Within one batch, keep only the newest version of each item."""
    newest: dict[str, WorkItemIn] = {}
    for item in items:
        seen = newest.get(item.external_id)
        if seen is None or item.upstream_updated_at >= seen.upstream_updated_at:
            newest[item.external_id] = item
    return list(newest.values())


def _insert_stmt(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(WorkItem)
    updatable = [*CONTENT_FIELDS, "raw", "content_hash", "updated_at", "deleted_at"]
    return stmt.on_conflict_do_update(
        index_elements=["source_id", "external_id"],
        set_={name: stmt.excluded[name] for name in updatable},
        # Guard against a concurrent writer having stored a newer version meanwhile.
        where=WORK_ITEM.c.upstream_updated_at <= stmt.excluded.upstream_updated_at,
    ).returning(WORK_ITEM.c.id, WORK_ITEM.c.external_id)


async def upsert_work_items(
    session: AsyncSession, source_id: int, items: Sequence[WorkItemIn], *, cause: str
) -> UpsertResult:
    """Store a batch of canonical items for one source; return what happened.

    Unchanged content (same hash) writes nothing; an item older than the stored version
    (upstream `updated_at`) changes nothing; a tombstoned item that comes back is restored.
    Every real change appends a change-feed row in the caller's transaction.
    """
    result = UpsertResult()
    batch = _dedupe(items)
    for start in range(0, len(batch), _CHUNK):
        result.merge(await _upsert_chunk(session, source_id, batch[start : start + _CHUNK], cause))
    # Imported here: the rules package reads the store, and the store must not import it eagerly.
    from service.rules.evaluation import apply_rules_to_items

    await apply_rules_to_items(session, source_id, result.changed_ids)
    return result


async def _upsert_chunk(
    session: AsyncSession, source_id: int, items: list[WorkItemIn], cause: str
) -> UpsertResult:
    result = UpsertResult()
    table = WORK_ITEM
    existing_rows = await session.execute(
        select(table).where(
            table.c.source_id == source_id,
            table.c.external_id.in_([i.external_id for i in items]),
        )
    )
    existing = {row.external_id: row._asdict() for row in existing_rows}
    now = utcnow()
    to_write: list[dict[str, Any]] = []
    pending: dict[str, tuple[str, dict[str, Any] | None, dict[str, Any]]] = {}
    for item in items:
        digest = content_hash(item)
        old = existing.get(item.external_id)
        values = item.model_dump(include=set(CONTENT_FIELDS))
        if old is not None:
            if old["upstream_updated_at"] > item.upstream_updated_at:
                result.stale += 1
                continue
            if old["content_hash"] == digest and old["deleted_at"] is None:
                result.unchanged += 1
                continue
            kind = "restored" if old["deleted_at"] is not None else "updated"
        else:
            kind = "created"
        to_write.append(
            {
                **values,
                "raw": item.raw,
                "source_id": source_id,
                "content_hash": digest,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
            }
        )
        pending[item.external_id] = (kind, old, values)
    if not to_write:
        return result

    dialect = session.get_bind().dialect.name
    written = (await session.execute(_insert_stmt(dialect), to_write)).all()
    changes: list[dict[str, Any]] = []
    for row_id, external_id in written:
        kind, old, values = pending[external_id]
        result.changed_ids.append(row_id)
        if kind == "created":
            result.created += 1
            after = {k: values[k] for k in SUMMARY_FIELDS}
            changes.append(
                change_row("work_item.created", "work_item", row_id, cause=cause, after=after)
            )
            continue
        assert old is not None
        before, after = diff({k: old[k] for k in CONTENT_FIELDS}, values)
        if kind == "restored":
            result.restored += 1
            before["deleted_at"] = old["deleted_at"]
            after["deleted_at"] = None
        else:
            result.updated += 1
        changes.append(
            change_row(
                f"work_item.{kind}", "work_item", row_id, cause=cause, before=before, after=after
            )
        )
    # Rows the guard refused were overtaken by a concurrent, newer write.
    result.stale += len(to_write) - len(written)
    await append_changes(session, changes)
    await _resolve_parents(session, source_id, result.changed_ids, [pending[e][2] for e in pending])
    return result


async def _resolve_parents(
    session: AsyncSession, source_id: int, row_ids: list[int], values: list[dict[str, Any]]
) -> None:
    """Link written items to their parents, and earlier orphans to the newly written parents."""
    if not row_ids:
        return
    child = WORK_ITEM
    parent = aliased(WORK_ITEM)
    new_external_ids = [v["external_id"] for v in values]
    new_keys = [v["key"] for v in values]
    parent_id = (
        select(parent.c.id)
        .where(
            parent.c.source_id == child.c.source_id,
            or_(
                parent.c.external_id == child.c.parent_external_id,
                and_(child.c.parent_external_id.is_(None), parent.c.key == child.c.parent_key),
            ),
        )
        .order_by(parent.c.id)
        .limit(1)
        .scalar_subquery()
    )
    for start in range(0, len(row_ids), _CHUNK):
        ids = row_ids[start : start + _CHUNK]
        ext = new_external_ids[start : start + _CHUNK]
        keys = new_keys[start : start + _CHUNK]
        await session.execute(
            update(child)
            .where(
                child.c.source_id == source_id,
                or_(
                    child.c.id.in_(ids),
                    and_(child.c.parent_id.is_(None), child.c.parent_external_id.in_(ext)),
                    and_(child.c.parent_id.is_(None), child.c.parent_key.in_(keys)),
                ),
                or_(child.c.parent_external_id.is_not(None), child.c.parent_key.is_not(None)),
            )
            .values(parent_id=parent_id)
        )


async def tombstone_work_items(
    session: AsyncSession,
    source_id: int,
    external_ids: Sequence[str],
    *,
    cause: str,
    occurred_at: datetime | None = None,
) -> list[int]:
    """Mark items deleted upstream (the rows stay); returns the ids newly tombstoned."""
    table = WORK_ITEM
    now = utcnow()
    tombstoned: list[int] = []
    for start in range(0, len(external_ids), _CHUNK):
        chunk = list(external_ids[start : start + _CHUNK])
        stmt = update(table).where(
            table.c.source_id == source_id,
            table.c.external_id.in_(chunk),
            table.c.deleted_at.is_(None),
        )
        if occurred_at is not None:
            stmt = stmt.where(table.c.upstream_updated_at <= occurred_at)
        rows = await session.execute(
            stmt.values(deleted_at=now, updated_at=now).returning(table.c.id, table.c.key)
        )
        changes = []
        for row_id, key in rows:
            tombstoned.append(row_id)
            changes.append(
                change_row(
                    "work_item.deleted",
                    "work_item",
                    row_id,
                    cause=cause,
                    before={"key": key, "deleted_at": None},
                    after={"deleted_at": now},
                )
            )
        await append_changes(session, changes)
    return tombstoned


async def reconcile_live_ids(
    session: AsyncSession, source_id: int, live_external_ids: set[str], *, cause: str
) -> tuple[list[int], list[int]]:
    """Tombstone stored items missing from the live set; restore tombstoned ones present in it."""
    table = WORK_ITEM
    stored = await session.execute(
        select(table.c.id, table.c.external_id, table.c.deleted_at).where(
            table.c.source_id == source_id
        )
    )
    missing: list[str] = []
    back: list[tuple[int, datetime]] = []
    for row_id, external_id, deleted_at in stored:
        if external_id not in live_external_ids:
            if deleted_at is None:
                missing.append(external_id)
        elif deleted_at is not None:
            back.append((row_id, deleted_at))
    tombstoned = await tombstone_work_items(session, source_id, missing, cause=cause)
    now = utcnow()
    restored = [row_id for row_id, _ in back]
    for start in range(0, len(restored), _CHUNK):
        chunk = restored[start : start + _CHUNK]
        await session.execute(
            update(table).where(table.c.id.in_(chunk)).values(deleted_at=None, updated_at=now)
        )
    await append_changes(
        session,
        [
            change_row(
                "work_item.restored",
                "work_item",
                row_id,
                cause=cause,
                before={"deleted_at": deleted_at},
                after={"deleted_at": None},
            )
            for row_id, deleted_at in back
        ],
    )
    return tombstoned, restored


async def count_for_source(session: AsyncSession, source_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(WORK_ITEM.c.source_id == source_id)) or 0
    )
