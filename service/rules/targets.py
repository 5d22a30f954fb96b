"""Tallies per target (initiative or key result), kept exact by deltas on write.

`membership_tally` holds items and points per *anchor*; a target counts the anchors it is linked
to (non-excluded link rows). Summing those per read costs a row per linked anchor — with rule
links on every item, a row per item — which made every write that moves a node as slow as a
full rollup read. `membership_target_tally` holds the same buckets per target, so a rollup reads
a handful of rows however much work it covers. It moves when:

- an anchor's tally changes (`propagate`, from `membership.refresh`): the delta goes to every
  target the anchor is linked to, by the link rows as they stand after the write;
- a link row starts or stops counting (`links_changed`, called when the row is written and
  before the membership refresh): the anchor's whole tally is added to or taken from the target;
- a target is deleted (`forget`), and on a full rebuild (`rebuild`).

For key results, whose work through their initiatives counts each anchor once, items linked to
two initiatives of one key result are found through `membership_multi_link` (items with two or
more counting own links of a type), kept by `refresh_multi_links` for the items a write touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.tables import MembershipMultiLink, MembershipTally, MembershipTargetTally, WorkItemLink

LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
TALLY: Table = MembershipTally.__table__  # type: ignore[attr-defined]
TARGET_TALLY: Table = MembershipTargetTally.__table__  # type: ignore[attr-defined]
MULTI: Table = MembershipMultiLink.__table__  # type: ignore[attr-defined]
_CHUNK = 500
# (target_type, target_id, status_category, deleted) -> [items, points, estimated]
Deltas = dict[tuple[str, int, str, bool], list[float]]


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def add_deltas(session: AsyncSession, table: Table, id_column: str, deltas: Deltas) -> None:
    """Add (items, points, estimated) deltas to a tally table keyed by (target_type, `id_column`,
    status_category, deleted); buckets left empty are removed."""
    # Sorted so concurrent writers (PostgreSQL) take row locks in one order.
    rows = sorted((k, v) for k, v in deltas.items() if any(v))
    if not rows:
        return
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["target_type", id_column, "status_category", "deleted"],
        set_={
            name: table.c[name] + stmt.excluded[name] for name in ("items", "points", "estimated")
        },
    )
    await session.execute(
        stmt,
        [
            {
                "target_type": target_type,
                id_column: key_id,
                "status_category": category,
                "deleted": deleted,
                "items": int(items),
                "points": points,
                "estimated": int(estimated),
            }
            for (target_type, key_id, category, deleted), (items, points, estimated) in rows
        ],
    )
    emptied: dict[str, set[int]] = defaultdict(set)
    for (target_type, key_id, _, _), _ in rows:
        emptied[target_type].add(key_id)
    for target_type, ids in emptied.items():
        wanted = sorted(ids)
        for start in range(0, len(wanted), _CHUNK):
            await session.execute(
                delete(table).where(
                    table.c.target_type == target_type,
                    table.c[id_column].in_(wanted[start : start + _CHUNK]),
                    table.c["items"] <= 0,
                )
            )


async def _apply(session: AsyncSession, deltas: Deltas) -> None:
    await add_deltas(session, TARGET_TALLY, "target_id", deltas)


async def _targets_of(
    session: AsyncSession, target_type: str, anchor_ids: Sequence[int]
) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(anchor_ids), _CHUNK):
        rows = await session.execute(
            select(LINK.c.work_item_id, LINK.c.target_id).where(
                LINK.c.target_type == target_type,
                LINK.c.work_item_id.in_(anchor_ids[start : start + _CHUNK]),
                LINK.c.excluded.is_(False),
            )
        )
        for anchor_id, target_id in rows:
            found[anchor_id].append(target_id)
    return found


async def propagate(
    session: AsyncSession, anchor_deltas: Iterable[tuple[tuple[str, int, str, bool], list[float]]]
) -> set[tuple[str, int]]:
    """Add anchor tally deltas to the targets their anchors count for; returns those targets."""
    by_type: dict[str, list[tuple[int, str, bool, list[float]]]] = defaultdict(list)
    for (target_type, anchor_id, category, deleted), values in anchor_deltas:
        by_type[target_type].append((anchor_id, category, deleted, values))
    deltas: Deltas = defaultdict(lambda: [0, 0.0, 0])
    moved: set[tuple[str, int]] = set()
    for target_type, rows in by_type.items():
        targets = await _targets_of(session, target_type, sorted({r[0] for r in rows}))
        for anchor_id, category, deleted, values in rows:
            for target_id in targets.get(anchor_id, []):
                bucket = deltas[(target_type, target_id, category, deleted)]
                for i in range(3):
                    bucket[i] += values[i]
                moved.add((target_type, target_id))
    await _apply(session, deltas)
    return moved


async def links_changed(
    session: AsyncSession, changes: Sequence[tuple[str, int, int, int]]
) -> None:
    """Link rows that started (+1) or stopped (-1) counting: (target_type, target_id, item, sign).

    Call it when the row is written, before the membership refresh: the item's tally as an
    anchor is then the one the target counted (or will count) for it.
    """
    if not changes:
        return
    by_type: dict[str, set[int]] = defaultdict(set)
    for target_type, _, item_id, _ in changes:
        by_type[target_type].add(item_id)
    tallies: dict[tuple[str, int], list[tuple[str, bool, int, float, int]]] = defaultdict(list)
    for target_type, ids in by_type.items():
        wanted = sorted(ids)
        for start in range(0, len(wanted), _CHUNK):
            rows = await session.execute(
                select(
                    TALLY.c.anchor_id,
                    TALLY.c.status_category,
                    TALLY.c.deleted,
                    TALLY.c["items"],
                    TALLY.c.points,
                    TALLY.c.estimated,
                ).where(
                    TALLY.c.target_type == target_type,
                    TALLY.c.anchor_id.in_(wanted[start : start + _CHUNK]),
                )
            )
            for anchor_id, category, deleted, items, points, estimated in rows:
                tallies[(target_type, anchor_id)].append(
                    (category, bool(deleted), items, points, estimated)
                )
    deltas: Deltas = defaultdict(lambda: [0, 0.0, 0])
    for target_type, target_id, item_id, sign in changes:
        for category, deleted, items, points, estimated in tallies.get((target_type, item_id), []):
            bucket = deltas[(target_type, target_id, category, deleted)]
            bucket[0] += sign * items
            bucket[1] += sign * points
            bucket[2] += sign * estimated
    await _apply(session, deltas)


async def forget(session: AsyncSession, target_type: str, target_ids: Sequence[int]) -> None:
    """A deleted target counts nothing (ids may be reused on SQLite)."""
    if target_ids:
        await session.execute(
            delete(TARGET_TALLY).where(
                TARGET_TALLY.c.target_type == target_type,
                TARGET_TALLY.c.target_id.in_(list(target_ids)),
            )
        )


async def refresh_multi_links(session: AsyncSession, item_ids: Sequence[int]) -> None:
    """Record which of the items have two or more counting own links of a target type."""
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await session.execute(
            select(LINK.c.work_item_id, LINK.c.target_type)
            .where(LINK.c.work_item_id.in_(chunk), LINK.c.excluded.is_(False))
            .group_by(LINK.c.work_item_id, LINK.c.target_type)
            .having(func.count() > 1)
        )
        multi = [{"work_item_id": i, "target_type": t} for i, t in rows]
        await session.execute(delete(MULTI).where(MULTI.c.work_item_id.in_(chunk)))
        if multi:
            await session.execute(insert(MULTI), multi)


async def rebuild(session: AsyncSession) -> None:
    """Recompute target tallies and multi-link rows from anchors tallies and link rows."""
    await session.execute(delete(TARGET_TALLY))
    await session.execute(delete(MULTI))
    t = TALLY.c
    await session.execute(
        TARGET_TALLY.insert().from_select(
            [
                "target_type",
                "target_id",
                "status_category",
                "deleted",
                "items",
                "points",
                "estimated",
            ],
            select(
                LINK.c.target_type,
                LINK.c.target_id,
                t.status_category,
                t.deleted,
                func.sum(t["items"]),
                func.sum(t.points),
                func.sum(t.estimated),
            )
            .join(
                TALLY, and_(t.target_type == LINK.c.target_type, t.anchor_id == LINK.c.work_item_id)
            )
            .where(LINK.c.excluded.is_(False))
            .group_by(LINK.c.target_type, LINK.c.target_id, t.status_category, t.deleted),
        )
    )
    await session.execute(
        MULTI.insert().from_select(
            ["work_item_id", "target_type"],
            select(LINK.c.work_item_id, LINK.c.target_type)
            .where(LINK.c.excluded.is_(False))
            .group_by(LINK.c.work_item_id, LINK.c.target_type)
            .having(func.count() > 1),
        )
    )
