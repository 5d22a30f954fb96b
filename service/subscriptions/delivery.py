"""Delivering the feed to subscribers: fan-out into a delivery log, signed POSTs, retries.

At-least-once: a delivery row is created in the same transaction that advances the
subscription's feed position, and each attempt reuses the row's `webhook-id`, so a receiver
can drop duplicates. A subscription failing without a single success for five days is disabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.feed import ChangePublic
from schemas.tables import Change, Subscription, SubscriptionDelivery
from schemas.types import utcnow
from service.errors import ServiceError
from service.feed.queries import FeedFilter, head_id, list_changes
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions import metrics
from service.subscriptions.signing import encode_body, headers, new_message_id

logger = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# After the first attempt (Standard Webhooks' suggested schedule, shortened at the tail).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
DISABLE_AFTER = timedelta(days=5)
# A claimed delivery is hidden from other workers this long (longer than any request).
CLAIM_FOR = timedelta(minutes=2)
FAN_OUT_BATCH = 500
SEND_BATCH = 100
SEND_CONCURRENCY = 10

UrlGuard = Callable[[str], Awaitable[None]]


@dataclass
class DeliveryReport:
    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: list[int] = field(default_factory=list)


@dataclass
class _Claim:
    delivery_id: int
    subscription_id: int
    webhook_id: str
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


def change_payload(change: Change) -> dict[str, Any]:
    return {
        "type": change.type,
        "timestamp": change.created_at.isoformat(),
        "data": ChangePublic.model_validate(change).model_dump(mode="json"),
    }


def _for_update(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def fan_out(session: AsyncSession, *, now: datetime) -> int:
    """Queue a delivery per matching feed entry for every enabled subscription."""
    head = await head_id(session)
    stmt = select(Subscription).where(
        col(Subscription.enabled).is_(True), col(Subscription.last_change_id) < head
    )
    if _for_update(session):
        # Two workers must not queue the same entries twice for one subscription.
        stmt = stmt.with_for_update(skip_locked=True)
    queued = 0
    for sub in (await session.execute(stmt.order_by(col(Subscription.id)))).scalars().all():
        flt = FeedFilter(
            types=tuple(sub.types),
            initiative_id=sub.initiative_id,
            objective_id=sub.objective_id,
            extra=(col(Change.id) <= head,),
        )
        rows = await list_changes(session, after=sub.last_change_id, limit=FAN_OUT_BATCH, flt=flt)
        if rows:
            await enqueue(
                session, sub.id or 0, [(r.type, r.id, change_payload(r)) for r in rows], now
            )
            queued += len(rows)
        # A full batch may have more to come; otherwise everything up to `head` was examined.
        sub.last_change_id = (rows[-1].id or head) if len(rows) == FAN_OUT_BATCH else head
        session.add(sub)
    await session.flush()
    return queued


async def enqueue(
    session: AsyncSession,
    subscription_id: int,
    events: Sequence[tuple[str, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    await session.execute(
        insert(SubscriptionDelivery),
        [
            {
                "subscription_id": subscription_id,
                "webhook_id": new_message_id(),
                "event_type": event_type,
                "change_id": change_id,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_type, change_id, payload in events
        ],
    )


async def _claim(session: AsyncSession, box: SecretBox, now: datetime) -> list[_Claim]:
    stmt = (
        select(SubscriptionDelivery, Subscription)
        .join(Subscription, col(Subscription.id) == col(SubscriptionDelivery.subscription_id))
        .where(
            col(SubscriptionDelivery.status) == PENDING,
            col(SubscriptionDelivery.next_attempt_at) <= now,
            col(Subscription.enabled).is_(True),
        )
        .order_by(col(SubscriptionDelivery.id))
        .limit(SEND_BATCH)
    )
    if _for_update(session):
        stmt = stmt.with_for_update(skip_locked=True, of=SubscriptionDelivery)
    claims = []
    for delivery, sub in (await session.execute(stmt)).all():
        delivery.next_attempt_at = now + CLAIM_FOR
        session.add(delivery)
        claims.append(
            _Claim(
                delivery_id=delivery.id or 0,
                subscription_id=sub.id or 0,
                webhook_id=delivery.webhook_id,
                url=sub.url,
                secret=box.decrypt(sub.secret_encrypted),
                payload=delivery.payload,
                attempts=delivery.attempts,
            )
        )
    await session.flush()
    return claims


async def _send(
    client: httpx.AsyncClient, claim: _Claim, now: datetime, guard: UrlGuard | None
) -> _Outcome:
    body = encode_body(claim.payload)
    try:
        if guard is not None:
            # Checked again at send time: the host may resolve elsewhere than at creation.
            await guard(claim.url)
        response = await client.post(
            claim.url, content=body, headers=headers(claim.secret, claim.webhook_id, now, body)
        )
    except ServiceError as exc:
        return _Outcome(ok=False, error=f"refused: {exc.detail}")
    except httpx.HTTPError as exc:
        return _Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return _Outcome(ok=True, status_code=response.status_code)
    return _Outcome(
        ok=False, status_code=response.status_code, error=f"HTTP {response.status_code}"
    )


async def _record(
    session: AsyncSession, claim: _Claim, outcome: _Outcome, now: datetime, report: DeliveryReport
) -> None:
    delivery = await session.get(SubscriptionDelivery, claim.delivery_id)
    sub = await session.get(Subscription, claim.subscription_id)
    if delivery is None or sub is None:  # deleted meanwhile
        return
    delivery.attempts = claim.attempts + 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
        sub.failing_since = None
        report.delivered += 1
        metrics.DELIVERIES.labels(DELIVERED).inc()
    else:
        retry = delivery.attempts - 1
        if retry < len(RETRY_SCHEDULE):
            delivery.next_attempt_at = now + RETRY_SCHEDULE[retry]
            report.retrying += 1
            metrics.DELIVERIES.labels("retrying").inc()
        else:
            delivery.status, delivery.next_attempt_at = FAILED, None
            report.failed += 1
            metrics.DELIVERIES.labels(FAILED).inc()
        sub.failing_since = sub.failing_since or now
        if sub.enabled and now - sub.failing_since >= DISABLE_AFTER:
            sub.enabled = False
            sub.disabled_reason = (
                f"disabled at {now.isoformat()}: every delivery failed since "
                f"{sub.failing_since.isoformat()} (last: {outcome.error})"
            )
            report.disabled.append(claim.subscription_id)
            logger.warning(
                "subscription disabled after repeated failures",
                extra={"subscription_id": claim.subscription_id},
            )
    sub.updated_at = now
    session.add_all([delivery, sub])


async def deliver_due(
    db: Database,
    secret_box: SecretBox,
    http_client: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    guard: UrlGuard | None = None,
) -> DeliveryReport:
    """Queue new feed entries, then send every delivery that is due; one pass."""
    now = now or utcnow()
    report = DeliveryReport()
    async with db.session() as session:
        report.queued = await fan_out(session, now=now)
        claims = await _claim(session, secret_box, now)
    if not claims:
        return report
    semaphore = asyncio.Semaphore(SEND_CONCURRENCY)

    async def send(claim: _Claim) -> _Outcome:
        async with semaphore:
            return await _send(http_client, claim, now, guard)

    outcomes = await asyncio.gather(*(send(c) for c in claims))
    async with db.session() as session:
        for claim, outcome in zip(claims, outcomes, strict=True):
            await _record(session, claim, outcome, now, report)
    return report
