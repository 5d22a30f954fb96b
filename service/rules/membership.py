"""Materialised rollup membership: each item's anchor per target type, and tallies per anchor.

An item counts for a target (initiative or key result) when it is linked to it, or when it
descends from such an item and has no link row of that target type of its own (rule link,
manual link or manual exclusion). Its *anchor* is the nearest item on its parent chain, itself
included, with an own link row of the type; the item counts for the anchor's non-excluded
targets. Anchors depend on the parent chain and on *whether* an item has own links of a type,
never on which targets those links name: a rule that moves an epic from one initiative to
another rewrites one link row and no anchor.

`membership_anchor` holds the anchor of every anchored item with the values it is counted with
(status category, estimate, tombstone); `membership_tally` holds per anchor and bucket the
items, points and estimated items. A rollup then adds up a few tally rows per link instead of
walking the item tree on every read.

`refresh` keeps both exact, in the writer's transaction, for the items a write touched (the
upsert, tombstones and restores, link writes): it recomputes their anchors, walks the subtrees
below the items whose anchor changed (or whose children were just attached to them), and
applies count deltas to the tallies. Membership changes append nothing to the change feed: the
feed already carries their causes (`work_item.*`, `link.*`), and one epic link would otherwise
add a row per descendant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, delete, exists, func, literal, select, text, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import LinkTarget
from schemas.tables import MembershipAnchor, MembershipTally, WorkItem, WorkItemLink
from service.portfolio import touches
from service.rules import targets
from service.store.changes import CHANGE_FEED_LOCK_KEY
from service.writeback import outbox

WORK: Table = WorkItem.__table__  # type: ignore[attr-defined]
LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
ANCHOR: Table = MembershipAnchor.__table__  # type: ignore[attr-defined]
TALLY: Table = MembershipTally.__table__  # type: ignore[attr-defined]
TARGET_TYPES = (LinkTarget.initiative.value, LinkTarget.key_result.value)
_CHUNK = 500
# (anchor_id, status_category, estimate, deleted): what an item is counted with.
Row = tuple[int, str, float | None, bool]
Values = tuple[str, float | None, bool]


def members(target_type: str) -> Any:
    """(target_id, item_id) of every item counted for a target of `target_type`."""
    return (
        select(LINK.c.target_id, ANCHOR.c.work_item_id.label("item_id"))
        .join(
            ANCHOR,
            and_(
                ANCHOR.c.anchor_id == LINK.c.work_item_id,
                ANCHOR.c.target_type == LINK.c.target_type,
            ),
        )
        .where(LINK.c.target_type == target_type, LINK.c.excluded.is_(False))
    )


@dataclass
class _Writes:
    """Anchor rows to write, and tally deltas (items, points, estimated) per bucket."""

    upserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    tallies: dict[tuple[str, int, str, bool], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0, 0])
    )
    # Items whose anchor changed: what they show upstream may have changed (write-back).
    moved: set[int] = field(default_factory=set)

    def change(self, item_id: int, target_type: str, old: Row | None, new: Row | None) -> None:
        if old == new:
            return
        if (old[0] if old else None) != (new[0] if new else None):
            self.moved.add(item_id)
        for row, sign in ((old, -1), (new, 1)):
            if row is not None:
                anchor_id, category, estimate, deleted = row
                bucket = self.tallies[(target_type, anchor_id, category, deleted)]
                bucket[0] += sign
                bucket[1] += sign * (estimate or 0.0)
                bucket[2] += sign * (estimate is not None)
        if new is None:
            self.deletes[target_type].append(item_id)
            return
        anchor_id, category, estimate, deleted = new
        self.upserts.append(
            {
                "work_item_id": item_id,
                "target_type": target_type,
                "anchor_id": anchor_id,
                "status_category": category,
                "estimate": estimate,
                "deleted": deleted,
            }
        )


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def _flush_anchors(session: AsyncSession, writes: _Writes) -> None:
    for target_type, ids in writes.deletes.items():
        for start in range(0, len(ids), _CHUNK):
            await session.execute(
                delete(ANCHOR).where(
                    ANCHOR.c.target_type == target_type,
                    ANCHOR.c.work_item_id.in_(ids[start : start + _CHUNK]),
                )
            )
    if writes.upserts:
        stmt = _insert(session, ANCHOR)
        stmt = stmt.on_conflict_do_update(
            index_elements=["work_item_id", "target_type"],
            set_={
                name: stmt.excluded[name]
                for name in ("anchor_id", "status_category", "estimate", "deleted")
            },
        )
        await session.execute(stmt, writes.upserts)
    writes.upserts, writes.deletes = [], defaultdict(list)


async def _flush_tallies(session: AsyncSession, writes: _Writes) -> None:
    deltas = sorted((k, v) for k, v in writes.tallies.items() if any(v))
    if not deltas:
        return
    for target_type, target_id in await targets.propagate(session, deltas):
        touches.nodes(session, target_type, [target_id])  # their rollups moved
    await targets.add_deltas(session, TALLY, "anchor_id", dict(deltas))
    writes.tallies.clear()


def _own_link(item: Any, target_type: str) -> Any:
    return exists().where(LINK.c.work_item_id == item, LINK.c.target_type == target_type)


async def _serialize(session: AsyncSession) -> None:
    """Take the change-feed lock (PostgreSQL): every writer that can change membership holds it.

    Deltas are computed from stored anchor rows, so two concurrent refreshes of one item could
    both apply the same delta. SQLite writers are serialized already; on PostgreSQL the feed's
    transaction-scoped advisory lock is re-entrant and usually held by the caller anyway.

    JIT is switched off for the rest of the transaction: the per-row probes below are costed
    high (the planner assumes ~45 children per parent), which crossed `jit_above_cost` and
    spent ~30 ms compiling each sub-millisecond statement of a sync page.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_FEED_LOCK_KEY}
        )
        await session.execute(text("SET LOCAL jit = off"))


async def _work_rows(
    session: AsyncSession, ids: Sequence[int]
) -> tuple[dict[int, tuple[int | None, Values]], dict[int, set[str]]]:
    """Parent and counted values of each item, and the target types it has own links of."""
    found: dict[int, tuple[int | None, Values]] = {}
    own: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(
                WORK.c.id,
                WORK.c.parent_id,
                WORK.c.status_category,
                WORK.c.estimate,
                WORK.c.deleted_at.is_not(None),
                *(_own_link(WORK.c.id, target_type) for target_type in TARGET_TYPES),
            ).where(WORK.c.id.in_(ids[start : start + _CHUNK]))
        )
        for item_id, parent_id, category, estimate, deleted, *linked in rows:
            found[item_id] = (parent_id, (category, estimate, bool(deleted)))
            own[item_id].update(t for t, has in zip(TARGET_TYPES, linked, strict=True) if has)
    return found, own


def _row(anchor_id: Any, category: Any, estimate: Any, deleted: Any) -> Row | None:
    return None if anchor_id is None else (anchor_id, category, estimate, bool(deleted))


async def _stored(session: AsyncSession, ids: Sequence[int]) -> dict[tuple[int, str], Row]:
    found: dict[tuple[int, str], Row] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(
                ANCHOR.c.work_item_id,
                ANCHOR.c.target_type,
                ANCHOR.c.anchor_id,
                ANCHOR.c.status_category,
                ANCHOR.c.estimate,
                ANCHOR.c.deleted,
            ).where(ANCHOR.c.work_item_id.in_(ids[start : start + _CHUNK]))
        )
        for item_id, target_type, *values in rows:
            row = _row(*values)
            assert row is not None
            found[(item_id, target_type)] = row
    return found


def _anchors_of(
    target_type: str,
    work: dict[int, tuple[int | None, Values]],
    own: dict[int, set[str]],
    stored: dict[tuple[int, str], Row],
) -> dict[int, int | None]:
    """New anchors of the touched items: parents among them first, else the parent's stored one."""
    memo: dict[int, int | None] = {}

    def anchor(item_id: int, path: frozenset[int]) -> int | None:
        if item_id in memo:
            return memo[item_id]
        parent_id = work[item_id][0]
        if target_type in own.get(item_id, ()):
            found: int | None = item_id
        elif parent_id is None or parent_id in path:
            found = None  # a parent cycle among the touched items anchors nowhere
        elif parent_id in work:
            found = anchor(parent_id, path | {item_id})
        else:
            parent = stored.get((parent_id, target_type))
            found = parent[0] if parent is not None else None
        memo[item_id] = found
        return found

    return {item_id: anchor(item_id, frozenset()) for item_id in work}


def _anchor_of(item: Any, target_type: str) -> Any:
    # A scalar subquery (one primary-key probe per row): as a join, PostgreSQL misjudged
    # the row count and hashed the whole anchor table on every page.
    return (
        select(ANCHOR.c.anchor_id)
        .where(ANCHOR.c.work_item_id == item, ANCHOR.c.target_type == target_type)
        .scalar_subquery()
    )


async def _adopting_parents(session: AsyncSession, ids: Sequence[int]) -> dict[str, set[int]]:
    """Touched items with a child whose anchor disagrees with theirs (a child just attached)."""
    found: dict[str, set[int]] = defaultdict(set)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        parts = [
            select(literal(target_type).label("target_type"), WORK.c.parent_id).where(
                WORK.c.parent_id.in_(chunk),
                ~_own_link(WORK.c.id, target_type),
                _anchor_of(WORK.c.id, target_type).is_distinct_from(
                    _anchor_of(WORK.c.parent_id, target_type)
                ),
            )
            for target_type in TARGET_TYPES
        ]
        for target_type, parent_id in await session.execute(union_all(*parts)):
            found[target_type].add(parent_id)
    return found


async def _walk(
    session: AsyncSession, target_type: str, roots: dict[int, int | None], writes: _Writes
) -> None:
    """Re-anchor every item below `roots` (new anchors given) that inherits through them."""
    rows: dict[int, tuple[int, Values, Row | None]] = {}
    ids = sorted(roots)
    for start in range(0, len(ids), _CHUNK):
        seed = select(WORK.c.id, WORK.c.parent_id).where(
            WORK.c.parent_id.in_(ids[start : start + _CHUNK]), ~_own_link(WORK.c.id, target_type)
        )
        tree = seed.cte("below", recursive=True)
        child = WORK.alias("child")
        tree = tree.union(
            select(child.c.id, child.c.parent_id)
            .join(tree, child.c.parent_id == tree.c.id)
            .where(~_own_link(child.c.id, target_type))
        )
        result = await session.execute(
            select(
                tree.c.id,
                tree.c.parent_id,
                WORK.c.status_category,
                WORK.c.estimate,
                WORK.c.deleted_at.is_not(None),
            ).join(WORK, WORK.c.id == tree.c.id)
        )
        for item_id, parent_id, category, estimate, deleted in result:
            rows[item_id] = (parent_id, (category, estimate, bool(deleted)), None)
    # Stored anchors by primary key (a join here hashed the whole anchor table on PostgreSQL).
    stored = await _stored(session, sorted(rows))
    for item_id, (parent_id, values, _) in rows.items():
        rows[item_id] = (parent_id, values, stored.get((item_id, target_type)))

    memo: dict[int, int | None] = {}

    def anchor(item_id: int, path: frozenset[int]) -> int | None:
        if item_id in roots:
            return roots[item_id]
        if item_id in memo:
            return memo[item_id]
        parent_id = rows[item_id][0]
        inherited = (
            anchor(parent_id, path | {item_id})
            if parent_id is not None
            and parent_id not in path
            and (parent_id in roots or parent_id in rows)
            else None
        )
        memo[item_id] = inherited
        return inherited

    for item_id, (_, values, stored_row) in rows.items():
        if item_id in roots:
            continue
        new_anchor = anchor(item_id, frozenset())
        new_row = (new_anchor, *values) if new_anchor is not None else None
        writes.change(item_id, target_type, stored_row, new_row)


async def refresh(session: AsyncSession, item_ids: Iterable[int]) -> None:
    """Bring anchors and tallies up to date after the given items were written or re-linked.

    Call it in the writer's transaction for every item whose parent, status category,
    estimate, tombstone or own link rows may have changed (new items included).
    """
    ids = sorted(set(item_ids))
    if not ids:
        return
    await _serialize(session)
    work, own = await _work_rows(session, ids)
    ids = sorted(work)
    parents = {parent for parent, _ in work.values() if parent is not None}
    stored = await _stored(session, sorted(set(ids) | parents))
    writes = _Writes()
    anchors: dict[str, dict[int, int | None]] = {}
    roots: dict[str, dict[int, int | None]] = {}
    for target_type in TARGET_TYPES:
        anchors[target_type] = _anchors_of(target_type, work, own, stored)
        roots[target_type] = {}
        for item_id, new_anchor in anchors[target_type].items():
            old = stored.get((item_id, target_type))
            new = (new_anchor, *work[item_id][1]) if new_anchor is not None else None
            writes.change(item_id, target_type, old, new)
            if (old[0] if old else None) != new_anchor:
                roots[target_type][item_id] = new_anchor
    await _flush_anchors(session, writes)
    # A child attached to a touched item after its own write (parent resolved later).
    for target_type, adopting in (await _adopting_parents(session, ids)).items():
        for parent_id in adopting:
            roots[target_type][parent_id] = anchors[target_type].get(parent_id)
    for target_type, below in roots.items():
        if below:
            await _walk(session, target_type, below, writes)
    await _flush_anchors(session, writes)
    await _flush_tallies(session, writes)
    await targets.refresh_multi_links(session, ids)
    outbox.items(session, writes.moved)


async def rebuild(session: AsyncSession) -> None:
    """Recompute all anchors and tallies from scratch (after bulk loads that bypass `refresh`)."""
    await _serialize(session)
    await session.execute(delete(TALLY))
    await session.execute(delete(ANCHOR))
    for target_type in TARGET_TYPES:
        seed = select(LINK.c.work_item_id.label("item_id"), LINK.c.work_item_id.label("anchor_id"))
        seed = seed.where(LINK.c.target_type == target_type).distinct()
        chain = seed.cte("chain", recursive=True)
        child = WORK.alias("child")
        chain = chain.union(
            select(child.c.id, chain.c.anchor_id)
            .join(chain, child.c.parent_id == chain.c.item_id)
            .where(~_own_link(child.c.id, target_type))
        )
        await session.execute(
            ANCHOR.insert().from_select(
                [
                    "work_item_id",
                    "target_type",
                    "anchor_id",
                    "status_category",
                    "estimate",
                    "deleted",
                ],
                select(
                    chain.c.item_id,
                    literal(target_type),
                    chain.c.anchor_id,
                    WORK.c.status_category,
                    WORK.c.estimate,
                    WORK.c.deleted_at.is_not(None),
                ).join(WORK, WORK.c.id == chain.c.item_id),
            )
        )
    await session.execute(
        TALLY.insert().from_select(
            [
                "target_type",
                "anchor_id",
                "status_category",
                "deleted",
                "items",
                "points",
                "estimated",
            ],
            select(
                ANCHOR.c.target_type,
                ANCHOR.c.anchor_id,
                ANCHOR.c.status_category,
                ANCHOR.c.deleted,
                func.count(),
                func.coalesce(func.sum(ANCHOR.c.estimate), 0.0),
                func.count(ANCHOR.c.estimate),
            ).group_by(
                ANCHOR.c.target_type,
                ANCHOR.c.anchor_id,
                ANCHOR.c.status_category,
                ANCHOR.c.deleted,
            ),
        )
    )
    await targets.rebuild(session)
