"""Progress history: a snapshot per node when its value changes, at most one per interval."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rollups import Rollup
from schemas.tables import ProgressSnapshot

_CHUNK = 500


def _value(progress: float | None, health: str | None) -> tuple[float | None, str | None]:
    return (round(progress, 6) if progress is not None else None, health)


async def _latest(
    session: AsyncSession, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[float | None, str | None, datetime]]:
    found: dict[tuple[str, int], tuple[float | None, str | None, datetime]] = {}
    by_type: dict[str, list[int]] = defaultdict(list)
    for node_type, node_id in keys:
        by_type[node_type].append(node_id)
    # Per node type with a plain IN list: the (node_type, node_id, recorded_at) index serves
    # it directly, where a row-value IN over both columns planned far worse on PostgreSQL.
    for node_type, ids in by_type.items():
        for start in range(0, len(ids), _CHUNK):
            newest = (
                select(
                    col(ProgressSnapshot.node_id),
                    func.max(col(ProgressSnapshot.recorded_at)).label("at"),
                )
                .where(
                    col(ProgressSnapshot.node_type) == node_type,
                    col(ProgressSnapshot.node_id).in_(ids[start : start + _CHUNK]),
                )
                .group_by(col(ProgressSnapshot.node_id))
                .subquery()
            )
            rows = await session.execute(
                select(
                    col(ProgressSnapshot.node_id),
                    col(ProgressSnapshot.progress),
                    col(ProgressSnapshot.health),
                    col(ProgressSnapshot.recorded_at),
                ).join(
                    newest,
                    and_(
                        col(ProgressSnapshot.node_type) == node_type,
                        newest.c.node_id == col(ProgressSnapshot.node_id),
                        newest.c.at == col(ProgressSnapshot.recorded_at),
                    ),
                )
            )
            for node_id, progress, health, recorded_at in rows:
                found[(node_type, node_id)] = (progress, health, recorded_at)
    return found


Latest = dict[tuple[str, int], tuple[float | None, str | None, datetime]]


async def latest(session: AsyncSession, keys: Sequence[tuple[str, int]]) -> Latest:
    """The last recorded (progress, health, recorded_at) of each (node_type, node_id)."""
    return await _latest(session, list(dict.fromkeys(keys)))


def due(
    rollups: Sequence[Rollup], last: Latest, *, now: datetime, interval_seconds: int
) -> list[dict[str, Any]]:
    """Snapshot rows for the nodes whose value changed since their last snapshot.

    A changed value is recorded only once the last snapshot is `interval_seconds` old, so a
    busy node yields at most one row per interval.
    """
    unique = {(r.node_type, r.node_id): r for r in rollups}
    interval = timedelta(seconds=interval_seconds)
    rows = []
    for key, rollup in unique.items():
        previous = last.get(key)
        if previous is not None and (
            _value(previous[0], previous[1]) == _value(rollup.progress, rollup.health)
            or now - previous[2] < interval
        ):
            continue
        rows.append(
            {
                "node_type": rollup.node_type,
                "node_id": rollup.node_id,
                "progress": rollup.progress,
                "health": rollup.health,
                "details": rollup.model_dump(
                    mode="json", exclude={"epics", "key_results", "initiatives", "objectives"}
                ),
                "recorded_at": now,
            }
        )
    return rows


async def write(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if rows:
        await session.execute(insert(ProgressSnapshot), rows)
    return len(rows)


async def record(
    session: AsyncSession, rollups: Sequence[Rollup], *, now: datetime, interval_seconds: int
) -> int:
    """Store a snapshot for each node whose value changed (see `due`); returns how many."""
    last = await latest(session, [(r.node_type, r.node_id) for r in rollups])
    return await write(session, due(rollups, last, now=now, interval_seconds=interval_seconds))


async def at(
    session: AsyncSession, node_type: str, node_id: int, as_of: datetime
) -> ProgressSnapshot | None:
    """The latest snapshot of a node recorded at or before `as_of`."""
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
