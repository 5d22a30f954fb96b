"""Prometheus metrics of the change feed and of outbound deliveries."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import Subscription, SubscriptionDelivery
from service.api.observability import REGISTRY
from service.feed.queries import feed_length, head_id

FEED_LENGTH = Gauge(
    "portfolio_sync_change_feed_length", "Entries in the change feed.", registry=REGISTRY
)
FEED_HEAD = Gauge(
    "portfolio_sync_change_feed_head_id", "The newest change-feed cursor.", registry=REGISTRY
)
DELIVERIES = Counter(
    "portfolio_sync_subscription_deliveries_total",
    "Outbound delivery attempts by outcome (delivered, retrying, failed, refused).",
    ["status"],
    registry=REGISTRY,
)
LAG_CHANGES = Gauge(
    "portfolio_sync_subscription_lag_changes",
    "Feed entries not yet queued for an enabled subscription.",
    ["subscription_id"],
    registry=REGISTRY,
)
LAG_SECONDS = Gauge(
    "portfolio_sync_subscription_lag_seconds",
    "Age of the oldest undelivered (pending) delivery of a subscription; 0 when none.",
    ["subscription_id"],
    registry=REGISTRY,
)


async def refresh(session: AsyncSession, now: datetime) -> None:
    head = await head_id(session)
    FEED_HEAD.set(head)
    FEED_LENGTH.set(await feed_length(session))
    oldest = dict(
        (
            await session.execute(
                select(
                    col(SubscriptionDelivery.subscription_id),
                    func.min(col(SubscriptionDelivery.created_at)),
                )
                .where(col(SubscriptionDelivery.status) == "pending")
                .group_by(col(SubscriptionDelivery.subscription_id))
            )
        ).all()
    )
    LAG_CHANGES.clear()
    LAG_SECONDS.clear()
    subs = await session.execute(
        select(col(Subscription.id), col(Subscription.last_change_id)).where(
            col(Subscription.enabled).is_(True)
        )
    )
    for sub_id, last_change_id in subs:
        label = str(sub_id)
        LAG_CHANGES.labels(label).set(max(head - last_change_id, 0))
        since = oldest.get(sub_id or 0)
        LAG_SECONDS.labels(label).set((now - since).total_seconds() if since else 0.0)
