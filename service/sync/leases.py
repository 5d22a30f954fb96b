"""One sync per source at a time, across processes and replicas: a lease row per source.

PostgreSQL: the lease row is locked with `SELECT … FOR UPDATE SKIP LOCKED`, so a contender that
finds it locked skips at once instead of queueing. SQLite: every write transaction starts with
`BEGIN IMMEDIATE` (see `service.store.db`), so the conditional UPDATE below is atomic.
A holder that dies stops renewing; once `expires_at` passes, the next caller takes the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.tables import JobLease, SyncLease

LEASE: Table = SyncLease.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LeaseState:
    holder: str | None
    run_id: int | None
    expires_at: datetime | None


async def _ensure_row(session: AsyncSession, source_id: int) -> None:
    # ON CONFLICT DO NOTHING settles two first-time contenders without a unique-violation error.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(LEASE)
        .values(source_id=source_id)
        .on_conflict_do_nothing(index_elements=["source_id"])
    )


async def acquire(
    session: AsyncSession,
    source_id: int,
    holder: str,
    *,
    ttl_seconds: float,
    now: datetime,
    run_id: int | None = None,
) -> bool:
    """Take the lease if it is free or expired; False when someone else holds it."""
    await _ensure_row(session, source_id)
    free = or_(LEASE.c.holder.is_(None), LEASE.c.expires_at.is_(None), LEASE.c.expires_at <= now)
    expires = now + timedelta(seconds=ttl_seconds)
    if session.get_bind().dialect.name == "postgresql":
        row = (
            await session.execute(
                select(LEASE.c.holder, LEASE.c.expires_at)
                .where(LEASE.c.source_id == source_id)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return False  # another transaction is deciding about this lease right now
        if row.holder is not None and row.expires_at is not None and row.expires_at > now:
            return False
    result = await session.execute(
        update(LEASE)
        .where(LEASE.c.source_id == source_id, free)
        .values(holder=holder, expires_at=expires, run_id=run_id)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def attach_run(session: AsyncSession, source_id: int, holder: str, run_id: int) -> None:
    await session.execute(
        update(LEASE)
        .where(LEASE.c.source_id == source_id, LEASE.c.holder == holder)
        .values(run_id=run_id)
    )


async def renew(
    session: AsyncSession, source_id: int, holder: str, *, ttl_seconds: float, now: datetime
) -> bool:
    """Extend our lease; False when it was lost (expired and taken by another holder)."""
    result = await session.execute(
        update(LEASE)
        .where(LEASE.c.source_id == source_id, LEASE.c.holder == holder)
        .values(expires_at=now + timedelta(seconds=ttl_seconds))
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def release(session: AsyncSession, source_id: int, holder: str) -> None:
    await session.execute(
        update(LEASE)
        .where(LEASE.c.source_id == source_id, LEASE.c.holder == holder)
        .values(holder=None, expires_at=None)
    )


async def current(session: AsyncSession, source_id: int) -> LeaseState | None:
    row = (
        await session.execute(
            select(LEASE.c.holder, LEASE.c.run_id, LEASE.c.expires_at).where(
                LEASE.c.source_id == source_id
            )
        )
    ).first()
    if row is None:
        return None
    return LeaseState(holder=row.holder, run_id=row.run_id, expires_at=row.expires_at)


JOB_LEASE: Table = JobLease.__table__  # type: ignore[attr-defined]


async def acquire_job(
    session: AsyncSession, name: str, holder: str, *, ttl_seconds: float, now: datetime
) -> bool:
    """Take the named job's lease if it is free, expired or already ours; False otherwise.

    The same rules as a source's sync lease: one conditional UPDATE, atomic on SQLite (writers
    begin IMMEDIATE) and on PostgreSQL (the row lock the UPDATE takes; a contender re-checks
    the condition on the committed row).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(JOB_LEASE).values(name=name).on_conflict_do_nothing(index_elements=["name"])
    )
    c = JOB_LEASE.c
    free = or_(c.holder.is_(None), c.holder == holder, c.expires_at.is_(None), c.expires_at <= now)
    result = await session.execute(
        update(JOB_LEASE)
        .where(c.name == name, free)
        .values(holder=holder, expires_at=now + timedelta(seconds=ttl_seconds))
    )
    return bool(getattr(result, "rowcount", 0) == 1)
