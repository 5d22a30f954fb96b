"""THE single entry point for work items: the bulk, idempotent, out-of-order-safe upsert.

Both the poll path (sync engine) and the webhook path (inbox worker) end here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.tables import WorkItem
from schemas.types import utcnow
from schemas.work_item import WorkItemIn
from service.portfolio import touches
from service.store.changes import append_changes, change_row, diff

# Canonical fields: their hash decides whether an incoming item changes anything.
CONTENT_FIELDS: tuple[str, ...] = tuple(f for f in WorkItemIn.model_fields if f != "raw")
# What a `work_item.created` change shows; updates show exactly the fields that differ.
SUMMARY_FIELDS = ("key", "kind", "title", "status", "status_category", "parent_key", "estimate")
_CONTENT_SET = set(CONTENT_FIELDS)
# The stored columns the skip, guard and restore decisions read.
_DECISION_COLUMNS = (
    "id",
    "external_id",
    "content_hash",
    "upstream_updated_at",
    "deleted_at",
)
# Columns the upsert, parent resolution and rollup refresh filter on.
_LOOKUP_COLUMNS = (
    "source_id",
    "external_id",
    "key",
    "parent_id",
    "parent_external_id",
    "parent_key",
    "deleted_at",
)
_CHUNK = 500
# Tables a sync's pages fill beside `work_item` (see `refresh_statistics`).
_GROWING_WITH_ITEMS = ("work_item_link", "membership_anchor", "membership_tally")
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


def _build_insert(dialect: str) -> Any:
    # A Core insert on the table (not the ORM entity): the ORM bulk path costs more per row
    # than the statement itself, and the rows are plain dicts anyway.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(WORK_ITEM)
    updatable = [*CONTENT_FIELDS, "raw", "content_hash", "updated_at", "deleted_at"]
    return stmt.on_conflict_do_update(
        index_elements=["source_id", "external_id"],
        set_={
            **{name: stmt.excluded[name] for name in updatable},
            # A write from outside a full run (a webhook) keeps the mark the row has.
            "seen_generation": func.coalesce(
                stmt.excluded.seen_generation, WORK_ITEM.c.seen_generation
            ),
        },
        # Guard against a concurrent writer having stored a newer version meanwhile.
        where=WORK_ITEM.c.upstream_updated_at <= stmt.excluded.upstream_updated_at,
    ).returning(WORK_ITEM.c.id, WORK_ITEM.c.external_id, WORK_ITEM.c.parent_id)


# Statements are built once: constructing them (above all the `excluded` alias) cost more
# per page than running them. Lists are expanding bind parameters.
_INSERTS = {dialect: _build_insert(dialect) for dialect in ("postgresql", "sqlite")}
_EXISTING = select(*(WORK_ITEM.c[name] for name in _DECISION_COLUMNS)).where(
    WORK_ITEM.c.source_id == bindparam("source_id"),
    WORK_ITEM.c.external_id.in_(bindparam("values", expanding=True)),
)
_OLD_CONTENT = select(WORK_ITEM.c.id, *(WORK_ITEM.c[name] for name in CONTENT_FIELDS)).where(
    WORK_ITEM.c.id.in_(bindparam("values", expanding=True))
)
_ORPHANS = {
    column.name: select(
        WORK_ITEM.c.id, WORK_ITEM.c.parent_external_id, WORK_ITEM.c.parent_key
    ).where(
        WORK_ITEM.c.source_id == bindparam("source_id"),
        WORK_ITEM.c.parent_id.is_(None),
        column.in_(bindparam("values", expanding=True)),
    )
    for column in (WORK_ITEM.c.parent_external_id, WORK_ITEM.c.parent_key)
}
_LOWEST_ID_BY = {
    column.name: select(column, func.min(WORK_ITEM.c.id))
    .where(
        WORK_ITEM.c.source_id == bindparam("source_id"),
        column.in_(bindparam("values", expanding=True)),
    )
    .group_by(column)
    for column in (WORK_ITEM.c.external_id, WORK_ITEM.c.key)
}
_MARK_SEEN = (
    update(WORK_ITEM)
    .where(WORK_ITEM.c.id.in_(bindparam("values", expanding=True)))
    .values(seen_generation=bindparam("generation"))
)
_SET_PARENT = (
    update(WORK_ITEM)
    .where(WORK_ITEM.c.id == bindparam("row_id"))
    .values(parent_id=bindparam("new_parent_id"))
)


async def upsert_work_items(
    session: AsyncSession,
    source_id: int,
    items: Sequence[WorkItemIn],
    *,
    cause: str,
    causes: Mapping[str, str] | None = None,
    generation: int | None = None,
) -> UpsertResult:
    """Store a batch of canonical items for one source; return what happened.

    Unchanged content (same hash) writes nothing; an item older than the stored version
    (upstream `updated_at`) changes nothing; a tombstoned item that comes back is restored.
    Every real change appends a change-feed row in the caller's transaction, caused by
    `causes[external_id]` when given (a batch of webhook deliveries), else by `cause`.
    A full run passes its `generation`: every item of the batch, changed or not, is marked
    as read by it (see `sweep_candidates`).
    """
    touches.cause(session, cause)
    result = UpsertResult()
    batch = _dedupe(items)
    # Imported here: the rules and write-back read the store, which must not import them eagerly.
    from service.rules.evaluation import apply_rules_to_items
    from service.writeback import conflicts

    # Write-back: a person's upstream edit of what it wrote, settled after the write.
    watches = await conflicts.watches(session, source_id, batch)
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start : start + _CHUNK]
        result.merge(
            await _upsert_chunk(session, source_id, chunk, cause, causes or {}, generation)
        )
    await apply_rules_to_items(session, source_id, result.changed_ids)
    for watch in watches:
        await watch.settle(session, result.changed_ids, causes or {}, cause)
    return result


async def _upsert_chunk(
    session: AsyncSession,
    source_id: int,
    items: list[WorkItemIn],
    default_cause: str,
    causes: Mapping[str, str],
    generation: int | None,
) -> UpsertResult:
    result = UpsertResult()
    # Only what the skip/guard decisions need: `raw` is large and usually unchanged.
    existing_rows = await session.execute(
        _EXISTING, {"source_id": source_id, "values": [i.external_id for i in items]}
    )
    existing = {row.external_id: row._asdict() for row in existing_rows}
    now = utcnow()
    to_write: list[dict[str, Any]] = []
    pending: dict[str, tuple[str, dict[str, Any] | None, dict[str, Any]]] = {}
    seen_unwritten: list[int] = []
    for item in items:
        digest = content_hash(item)
        old = existing.get(item.external_id)
        values = item.model_dump(include=_CONTENT_SET)
        if old is not None:
            if old["upstream_updated_at"] > item.upstream_updated_at:
                result.stale += 1
                seen_unwritten.append(old["id"])
                continue
            if old["content_hash"] == digest and old["deleted_at"] is None:
                result.unchanged += 1
                seen_unwritten.append(old["id"])
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
                "seen_generation": generation,
            }
        )
        pending[item.external_id] = (kind, old, values)
    if generation is not None and seen_unwritten:
        await session.execute(_MARK_SEEN, {"values": seen_unwritten, "generation": generation})
    if not to_write:
        return result
    await _load_old_content(session, [old for kind, old, _ in pending.values() if old])
    # New rows get the parents already stored on insert, saving a rewrite of the row later;
    # an existing row keeps its parent id on conflict and is re-resolved afterwards.
    known = await _known_parents(
        session, source_id, [v for kind, _, v in pending.values() if kind == "created"]
    )
    for row in to_write:
        created = pending[row["external_id"]][0] == "created"
        row["parent_id"] = _parent_of(row, known) if created else None

    dialect = session.get_bind().dialect.name
    written = (await session.execute(_INSERTS[dialect], to_write)).all()
    changes: list[dict[str, Any]] = []
    resolve: list[tuple[int, dict[str, Any], int | None]] = []
    for row_id, external_id, stored_parent_id in written:
        kind, old, values = pending[external_id]
        cause = causes.get(external_id, default_cause)
        result.changed_ids.append(row_id)
        resolve.append((row_id, values, stored_parent_id))
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
    await _resolve_parents(session, source_id, resolve, [v for _, _, v in pending.values()], known)
    return result


# Parent row ids found so far: (by external id, by key).
_Known = tuple[dict[str, int], dict[str, int]]


def _parent_of(values: dict[str, Any], known: _Known) -> int | None:
    """The parent by `parent_external_id` when given, else by `parent_key` (None if unknown)."""
    by_external_id, by_key = known
    if values["parent_external_id"] is not None:
        return by_external_id.get(values["parent_external_id"])
    return by_key.get(values["parent_key"]) if values["parent_key"] is not None else None


async def _known_parents(
    session: AsyncSession,
    source_id: int,
    values: Iterable[dict[str, Any]],
    known: _Known | None = None,
) -> _Known:
    """Look up the parents `values` name, skipping those `known` already holds."""
    by_external_id, by_key = known if known is not None else ({}, {})
    wanted_external_ids, wanted_keys = set(), set()
    for v in values:
        if v["parent_external_id"] is not None:
            if v["parent_external_id"] not in by_external_id:
                wanted_external_ids.add(v["parent_external_id"])
        elif v["parent_key"] is not None and v["parent_key"] not in by_key:
            wanted_keys.add(v["parent_key"])
    found_by_external_id = await _lowest_ids(session, source_id, "external_id", wanted_external_ids)
    found_by_key = await _lowest_ids(session, source_id, "key", wanted_keys)
    return {**by_external_id, **found_by_external_id}, {**by_key, **found_by_key}


async def _load_old_content(session: AsyncSession, olds: list[dict[str, Any]]) -> None:
    """Add the stored content fields to the rows about to be overwritten (for the diff)."""
    if not olds:
        return
    by_id = {old["id"]: old for old in olds}
    for row in await session.execute(_OLD_CONTENT, {"values": list(by_id)}):
        by_id[row.id].update(row._asdict())


async def _resolve_parents(
    session: AsyncSession,
    source_id: int,
    written: list[tuple[int, dict[str, Any], int | None]],
    values: list[dict[str, Any]],
    known: _Known,
) -> None:
    """Link written items to their parents, and earlier orphans to the newly written parents.

    `written` holds (row id, written values, parent id stored now); `values` every item of the
    batch; `known` the parents found before the write (still valid: a parent found by key is
    the lowest id with that key, and new rows only add higher ids). Only rows whose parent id
    changes are updated.
    """
    if not written:
        return
    # row id -> (parent external id, parent key, parent id stored now)
    targets: dict[int, tuple[str | None, str | None, int | None]] = {
        row_id: (v["parent_external_id"], v["parent_key"], current)
        for row_id, v, current in written
        # An item that no longer names a parent loses the one it had.
        if v["parent_external_id"] is not None or v["parent_key"] is not None or current is not None
    }
    new_external_ids = [v["external_id"] for v in values]
    new_keys = [v["key"] for v in values]
    for column, wanted in (("parent_external_id", new_external_ids), ("parent_key", new_keys)):
        orphans = await session.execute(
            _ORPHANS[column], {"source_id": source_id, "values": wanted}
        )
        for row_id, parent_external_id, parent_key in orphans:
            targets.setdefault(row_id, (parent_external_id, parent_key, None))
    if not targets:
        return
    refs = [{"parent_external_id": pe, "parent_key": pk} for pe, pk, _ in targets.values()]
    known = await _known_parents(session, source_id, refs, known)
    changed = []
    for (row_id, (_, _, current)), ref in zip(targets.items(), refs, strict=True):
        parent_id = _parent_of(ref, known)
        if parent_id != current:
            changed.append({"row_id": row_id, "new_parent_id": parent_id})
    if changed:
        await session.execute(_SET_PARENT, changed)


async def _lowest_ids(
    session: AsyncSession, source_id: int, column: str, wanted: set[str]
) -> dict[str, int]:
    """The lowest row id per value of `column` (external id or key) within the source."""
    found: dict[str, int] = {}
    values = sorted(wanted)
    for start in range(0, len(values), _CHUNK):
        rows = await session.execute(
            _LOWEST_ID_BY[column],
            {"source_id": source_id, "values": values[start : start + _CHUNK]},
        )
        found.update({value: row_id for value, row_id in rows})
    return found


async def tombstone_work_items(
    session: AsyncSession,
    source_id: int,
    external_ids: Sequence[str],
    *,
    cause: str,
    occurred_at: datetime | None = None,
) -> list[int]:
    """Mark items deleted upstream (the rows stay); returns the ids newly tombstoned."""
    touches.cause(session, cause)
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
    from service.rules.membership import refresh  # imported late, as in upsert_work_items

    await refresh(session, tombstoned)  # tombstoned items leave the rollups
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
    from service.rules.membership import refresh

    await refresh(session, restored)
    return tombstoned, restored


async def sweep_candidates(
    session: AsyncSession,
    source_id: int,
    generation: int,
    *,
    written_before: datetime,
    projects: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """(external id, key) of live items a full run's listing did not mark: deletion candidates.

    Only rows last written before the generation began (a webhook may have created one since)
    and, with `projects`, only those scopes (the rest could not be read).
    """
    table = WORK_ITEM
    stmt = select(table.c.external_id, table.c.key).where(
        table.c.source_id == source_id,
        table.c.deleted_at.is_(None),
        or_(table.c.seen_generation.is_(None), table.c.seen_generation != generation),
        table.c.updated_at < written_before,
    )
    if projects is not None:
        stmt = stmt.where(table.c.project.in_(list(projects)))
    return [(external_id, key) for external_id, key in await session.execute(stmt)]


async def refresh_statistics(session: AsyncSession) -> None:
    """PostgreSQL: refresh the planner statistics of the columns the upsert looks rows up by.

    A bulk load outgrows them fast (a table never analyzed looks nearly empty, a new source's
    id looks rare), and the planner then scans every row of the source for each page instead
    of probing the unique index; autovacuum catches up only a minute or more later. The tables
    the same pages fill through the rules and rollups (links, membership anchors and tallies)
    grow with them and are probed by item id on every page: they are refreshed too.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    columns = ", ".join(("id", *_LOOKUP_COLUMNS))
    await session.execute(text(f"ANALYZE work_item ({columns})"))
    await session.execute(text(f"ANALYZE {', '.join(_GROWING_WITH_ITEMS)}"))


async def count_for_source(session: AsyncSession, source_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(WORK_ITEM.c.source_id == source_id)) or 0
    )
