"""Digest schedules: a scope, a cron cadence (UTC) and the subscription that receives them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.feed import DigestScheduleCreate, DigestScheduleUpdate
from schemas.tables import DigestSchedule, Subscription
from schemas.types import utcnow
from service.digests.builder import build_digest
from service.digests.markdown import render
from service.digests.scope import resolve
from service.errors import NotFound, Unprocessable
from service.store.pagination import paginate
from service.store.repository import get_or_404
from service.subscriptions.delivery import enqueue

logger = logging.getLogger(__name__)

DIGEST_EVENT = "digest.ready"


def next_fire(cron: str, after: datetime) -> datetime:
    """The next time `cron` fires after `after` (APScheduler only computes it; no job runs)."""
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise Unprocessable(
            f"cron: {exc}",
            errors=[{"loc": ["body", "cron"], "msg": str(exc), "type": "value_error"}],
        ) from exc
    # APScheduler returns `after` itself when it matches; a run at `after` wants the next one.
    fire = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    if fire is None:
        raise Unprocessable("cron: the expression never fires")
    return fire.astimezone(UTC)


async def get(session: AsyncSession, schedule_id: int) -> DigestSchedule:
    return await get_or_404(session, DigestSchedule, schedule_id, "digest schedule")


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[Sequence[DigestSchedule], str | None]:
    return await paginate(
        session, select(DigestSchedule), DigestSchedule.id, limit=limit, cursor=cursor
    )


async def _check(session: AsyncSession, scope: str | None, subscription_id: int | None) -> None:
    if scope is not None:
        try:
            await resolve(session, scope)
        except NotFound as exc:
            raise Unprocessable(
                f"scope: {exc.detail}",
                errors=[{"loc": ["body", "scope"], "msg": "not found", "type": "value_error"}],
            ) from exc
    if subscription_id is not None and await session.get(Subscription, subscription_id) is None:
        raise Unprocessable(
            f"subscription_id: subscription {subscription_id} does not exist",
            errors=[
                {"loc": ["body", "subscription_id"], "msg": "not found", "type": "value_error"}
            ],
        )


async def create(session: AsyncSession, data: DigestScheduleCreate) -> DigestSchedule:
    await _check(session, data.scope, data.subscription_id)
    now = utcnow()
    row = DigestSchedule(
        scope=data.scope,
        cron=data.cron,
        subscription_id=data.subscription_id,
        enabled=data.enabled,
        next_run_at=next_fire(data.cron, now),
        # The first digest covers the time since the schedule was made.
        last_run_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def update(
    session: AsyncSession, schedule_id: int, data: DigestScheduleUpdate
) -> DigestSchedule:
    row = await get(session, schedule_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("scope", "cron", "subscription_id", "enabled"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null",
                errors=[{"loc": ["body", field], "msg": "may not be null", "type": "value_error"}],
            )
    await _check(session, data.scope, data.subscription_id)
    for field, value in changes.items():
        setattr(row, field, value)
    now = utcnow()
    if data.cron is not None or data.enabled:
        row.next_run_at = next_fire(row.cron, now)
    row.updated_at = now
    session.add(row)
    await session.flush()
    return row


async def delete(session: AsyncSession, schedule_id: int) -> None:
    await session.delete(await get(session, schedule_id))
    await session.flush()


async def run_due(session: AsyncSession, *, now: datetime) -> int:
    """Queue a `digest.ready` delivery for every schedule due at `now`; returns how many."""
    stmt = select(DigestSchedule).where(
        col(DigestSchedule.enabled).is_(True), col(DigestSchedule.next_run_at) <= now
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    queued = 0
    for schedule in (await session.execute(stmt.order_by(col(DigestSchedule.id)))).scalars():
        since = schedule.last_run_at or schedule.created_at
        try:
            digest = await build_digest(session, schedule.scope, since, now)
        except NotFound:
            # The scope's node was deleted: stop rather than fail on every tick.
            logger.warning("digest scope is gone; schedule disabled", extra={"id": schedule.id})
            schedule.enabled = False
        else:
            payload = {
                "type": DIGEST_EVENT,
                "timestamp": now.isoformat(),
                "data": digest.model_dump(mode="json"),
                "text": render(digest),
            }
            await enqueue(session, schedule.subscription_id, [(DIGEST_EVENT, None, payload)], now)
            queued += 1
        schedule.last_run_at = now
        schedule.next_run_at = next_fire(schedule.cron, now)
        schedule.updated_at = now
        session.add(schedule)
    await session.flush()
    return queued
