"""Inbox queries: the `webhook_delivery` table is the only place a delivery lives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_

from schemas.enums import DeliveryStatus
from schemas.tables import Source, WebhookDelivery
from service.errors import NotFound
from service.store.pagination import paginate

DUE_STATUSES = (DeliveryStatus.pending.value, DeliveryStatus.failed.value)


@dataclass(frozen=True)
class Stored:
    id: int
    status: DeliveryStatus
    duplicate: bool


async def get_source(session: AsyncSession, source_id: int) -> Source | None:
    return await session.get(Source, source_id)


async def note_verified_delivery(session: AsyncSession, source_id: int, at: datetime) -> None:
    """Remember the last verified delivery; at most one write per source per second."""
    stmt = (
        update(Source)
        .where(col(Source.id) == source_id)
        .where(
            or_(
                col(Source.last_delivery_at).is_(None),
                col(Source.last_delivery_at) < at - timedelta(seconds=1),
            )
        )
        .values(last_delivery_at=at)
    )
    await session.execute(stmt)


async def insert_delivery(session: AsyncSession, values: dict[str, Any]) -> Stored:
    """Insert once per (source, delivery id); a concurrent or later duplicate inserts nothing.

    ON CONFLICT DO NOTHING instead of select-then-insert: twenty simultaneous copies of one
    delivery must neither fail nor store twice, on either backend.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(WebhookDelivery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source_id", "delivery_id"])
        .returning(col(WebhookDelivery.id))
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is not None:
        return Stored(id=new_id, status=DeliveryStatus(values["status"]), duplicate=False)
    row = (
        await session.execute(
            select(col(WebhookDelivery.id), col(WebhookDelivery.status)).where(
                col(WebhookDelivery.source_id) == values["source_id"],
                col(WebhookDelivery.delivery_id) == values["delivery_id"],
            )
        )
    ).one()
    return Stored(id=row.id, status=DeliveryStatus(row.status), duplicate=True)


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> Sequence[WebhookDelivery]:
    """Rows to apply now, locked for this transaction.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows. SQLite: the
    session began with `BEGIN IMMEDIATE`, which already serialises every writer.
    """
    stmt = (
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.status).in_(DUE_STATUSES),
            or_(
                col(WebhookDelivery.next_attempt_at).is_(None),
                col(WebhookDelivery.next_attempt_at) <= now,
            ),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).scalars().all()


async def oldest_pending_received_at(session: AsyncSession) -> datetime | None:
    stmt = select(func.min(col(WebhookDelivery.received_at))).where(
        col(WebhookDelivery.status) == DeliveryStatus.pending.value
    )
    value: datetime | None = await session.scalar(stmt)
    return value


async def list_page(
    session: AsyncSession,
    *,
    source_id: int | None,
    status: DeliveryStatus | None,
    event: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[WebhookDelivery], str | None]:
    stmt = select(WebhookDelivery)
    if source_id is not None:
        stmt = stmt.where(col(WebhookDelivery.source_id) == source_id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status.value)
    if event is not None:
        stmt = stmt.where(col(WebhookDelivery.event) == event)
    return await paginate(session, stmt, col(WebhookDelivery.id), limit=limit, cursor=cursor)


async def get(session: AsyncSession, delivery_pk: int) -> WebhookDelivery:
    row = await session.get(WebhookDelivery, delivery_pk)
    if row is None:
        raise NotFound(f"webhook delivery {delivery_pk} does not exist")
    return row


async def replay(session: AsyncSession, delivery_pk: int) -> WebhookDelivery:
    """Back to `pending` with a fresh retry budget (attempts reset to 0), applied again soon.

    Safe for any status: the upsert is idempotent, so replaying a processed delivery changes
    nothing unless the store lost or regressed the item meanwhile.
    """
    row = await get(session, delivery_pk)
    row.status = DeliveryStatus.pending.value
    row.attempts = 0
    row.error = None
    row.next_attempt_at = None
    row.processed_at = None
    session.add(row)
    await session.flush()
    return row
