"""Progress history: one point per node per interval, written when the node's value changes.

A point holds the node's progress and health, and its done and scope counts and points (what a
burn-up chart draws). Points are coalesced: within one `interval_seconds` window (fixed windows
from the epoch) a node has at most one point, and the last value in the window wins. The newest
point of a node is therefore always its current value, which is what writers compare with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import ProgressSnapshot

SNAPSHOT: Table = ProgressSnapshot.__table__  # type: ignore[attr-defined]
_CHUNK = 500
NodeKey = tuple[str, int]


def _r(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


@dataclass(frozen=True)
class Value:
    """What a point records of a node (floats rounded, so float noise is no change)."""

    progress: float | None
    by_count: float | None
    by_points: float | None
    health: str | None
    done_count: int
    total_count: int
    done_points: float
    total_points: float

    @classmethod
    def of(cls, **fields: Any) -> Value:
        for name in ("progress", "by_count", "by_points"):
            fields[name] = _r(fields.get(name))
        for name in ("done_points", "total_points"):
            fields[name] = round(float(fields.get(name) or 0.0), 6)
        return cls(**fields)

    def columns(self) -> dict[str, Any]:
        return dict(zip(_VALUE_COLUMNS, astuple(self), strict=True))


_VALUE_COLUMNS = (
    "progress",
    "by_count",
    "by_points",
    "health",
    "done_count",
    "total_count",
    "done_points",
    "total_points",
)


@dataclass(frozen=True)
class Latest:
    id: int
    value: Value
    recorded_at: datetime


async def latest(session: AsyncSession, keys: Sequence[NodeKey]) -> dict[NodeKey, Latest]:
    """The newest point of each (node_type, node_id) that has one (one round trip)."""
    found: dict[NodeKey, Latest] = {}
    by_type: dict[str, list[int]] = defaultdict(list)
    for node_type, node_id in dict.fromkeys(keys):
        by_type[node_type].append(node_id)
    s = SNAPSHOT.c
    # Per node type with a plain IN list: the (node_type, node_id, recorded_at) index serves
    # it directly, where a row-value IN over both columns planned far worse on PostgreSQL.
    newest = [
        select(func.max(s.id).label("last_id"))
        .where(s.node_type == node_type, s.node_id.in_(ids[start : start + _CHUNK]))
        .group_by(s.node_id)
        for node_type, ids in by_type.items()
        for start in range(0, len(ids), _CHUNK)
    ]
    if not newest:
        return found
    last = union_all(*newest).subquery()
    rows = await session.execute(
        select(s.id, s.node_type, s.node_id, s.recorded_at, *(s[n] for n in _VALUE_COLUMNS)).join(
            last, last.c.last_id == s.id
        )
    )
    for row_id, node_type, node_id, recorded_at, *values in rows:
        value = Value.of(**dict(zip(_VALUE_COLUMNS, values, strict=True)))
        found[(node_type, node_id)] = Latest(row_id, value, recorded_at)
    return found


def window_start(now: datetime, interval_seconds: int) -> datetime:
    seconds = int(now.timestamp()) // max(1, interval_seconds) * max(1, interval_seconds)
    return datetime.fromtimestamp(seconds, UTC)


async def record(
    session: AsyncSession,
    points: Sequence[tuple[NodeKey, Value, dict[str, Any]]],
    last: dict[NodeKey, Latest],
    *,
    now: datetime,
    interval_seconds: int,
) -> int:
    """Write a point per (node, value, details); a node's point of this window is overwritten."""
    opened = window_start(now, interval_seconds)
    inserts, updates = [], []
    for (node_type, node_id), value, details in points:
        row = {**value.columns(), "details": details, "recorded_at": now}
        previous = last.get((node_type, node_id))
        if previous is not None and previous.recorded_at >= opened:
            updates.append({"row_id": previous.id, **row})
        else:
            inserts.append({"node_type": node_type, "node_id": node_id, **row})
    if inserts:
        await session.execute(insert(SNAPSHOT), inserts)
    if updates:
        await session.execute(
            update(SNAPSHOT)
            .where(SNAPSHOT.c.id == bindparam("row_id"))
            .values({n: bindparam(n) for n in (*_VALUE_COLUMNS, "details", "recorded_at")}),
            updates,
        )
    return len(points)


async def at(
    session: AsyncSession, node_type: str, node_id: int, as_of: datetime
) -> ProgressSnapshot | None:
    """The latest point of a node recorded at or before `as_of`."""
    row = await session.execute(
        select(ProgressSnapshot)
        .where(
            col(ProgressSnapshot.node_type) == node_type,
            col(ProgressSnapshot.node_id) == node_id,
            col(ProgressSnapshot.recorded_at) <= as_of,
        )
        .order_by(col(ProgressSnapshot.recorded_at).desc(), col(ProgressSnapshot.id).desc())
        .limit(1)
    )
    return row.scalars().first()


async def between(
    session: AsyncSession, node_type: str, node_id: int, since: datetime, until: datetime
) -> tuple[ProgressSnapshot | None, list[ProgressSnapshot]]:
    """The point in force at `since` (if any), and the points recorded after it up to `until`."""
    before = await at(session, node_type, node_id, since)
    rows = await session.execute(
        select(ProgressSnapshot)
        .where(
            col(ProgressSnapshot.node_type) == node_type,
            col(ProgressSnapshot.node_id) == node_id,
            col(ProgressSnapshot.recorded_at) > since,
            col(ProgressSnapshot.recorded_at) <= until,
        )
        .order_by(col(ProgressSnapshot.recorded_at), col(ProgressSnapshot.id))
    )
    return before, list(rows.scalars())
