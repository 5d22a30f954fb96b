"""Queries for sync cursors (per source and stream) and run records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.enums import RunStatus, SyncMode
from schemas.tables import Source, SyncCursor, SyncRun
from schemas.types import utcnow
from service.errors import NotFound
from service.store.pagination import paginate

CURSOR: Table = SyncCursor.__table__  # type: ignore[attr-defined]
UNFINISHED = (RunStatus.queued.value, RunStatus.running.value)


async def load_cursors(session: AsyncSession, source_id: int) -> dict[str, dict[str, Any]]:
    rows = await session.execute(
        select(CURSOR.c.stream, CURSOR.c.state).where(CURSOR.c.source_id == source_id)
    )
    return {stream: dict(state or {}) for stream, state in rows}


async def save_cursor(
    session: AsyncSession, source_id: int, stream: str, state: dict[str, Any]
) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(CURSOR).values(
        source_id=source_id, stream=stream, state=state, updated_at=utcnow()
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source_id", "stream"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )


async def get_run(session: AsyncSession, run_id: int) -> SyncRun:
    run = await session.get(SyncRun, run_id)
    if run is None:
        raise NotFound(f"sync run {run_id} does not exist")
    return run


async def list_runs(
    session: AsyncSession, source_id: int, *, limit: int, cursor: str | None
) -> tuple[Sequence[SyncRun], str | None]:
    stmt = select(SyncRun).where(col(SyncRun.source_id) == source_id)
    return await paginate(session, stmt, col(SyncRun.id), limit=limit, cursor=cursor)


async def abandon_unfinished(session: AsyncSession, source_id: int, *, now: datetime) -> list[int]:
    """Runs left queued or running by a holder whose lease expired: they will never finish."""
    rows = await session.execute(
        update(SyncRun)
        .where(col(SyncRun.source_id) == source_id, col(SyncRun.status).in_(UNFINISHED))
        .values(
            status=RunStatus.abandoned.value,
            finished_at=now,
            error="abandoned: the process running it stopped renewing its lease; the next run "
            "resumes from the last checkpoint",
        )
        .returning(col(SyncRun.id))
    )
    return [int(row_id) for (row_id,) in rows if row_id is not None]


async def interrupted_full_run(
    session: AsyncSession, source_id: int, *, not_before: datetime
) -> SyncRun | None:
    """The source's latest run if it is a full run that ended without finishing (crashed, shut
    down or failed) and whose generation began at `not_before` or later: a new full run
    continues its generation instead of listing from the start. Any later run (an incremental
    poll, say) ends that chance: its cursors moved on. An older generation is not continued:
    what it read long ago would not be swept again."""
    latest = await session.scalar(
        select(SyncRun)
        .where(col(SyncRun.source_id) == source_id)
        .order_by(col(SyncRun.id).desc())
        .limit(1)
    )
    if (
        latest is None
        or latest.mode != SyncMode.full.value
        or latest.generation is None
        or latest.status not in (RunStatus.abandoned.value, RunStatus.failed.value)
    ):
        return None
    began = await session.scalar(
        select(col(SyncRun.created_at)).where(col(SyncRun.id) == latest.generation)
    )
    return latest if began is not None and began >= not_before else None


async def schedule_candidates(session: AsyncSession) -> list[tuple[int, int, datetime | None]]:
    """Enabled sources with their poll interval and when their latest run was created."""
    latest = (
        select(col(SyncRun.source_id), func.max(col(SyncRun.created_at)).label("last"))
        .group_by(col(SyncRun.source_id))
        .subquery()
    )
    rows = await session.execute(
        select(col(Source.id), col(Source.poll_interval_seconds), latest.c.last)
        .outerjoin(latest, latest.c.source_id == col(Source.id))
        .where(col(Source.enabled).is_(True))
        .order_by(col(Source.id))
    )
    return [(int(sid), int(interval), last) for sid, interval, last in rows]
