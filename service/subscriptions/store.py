"""Subscriptions and their delivery log: create, change, delete, list."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.feed import SubscriptionCreate, SubscriptionUpdate
from schemas.tables import Initiative, Objective, Subscription, SubscriptionDelivery
from schemas.types import utcnow
from service.errors import Unprocessable
from service.feed.queries import head_id
from service.security import SecretBox
from service.sources.ssrf import Resolver
from service.store.pagination import paginate
from service.store.repository import get_or_404
from service.subscriptions.signing import generate_secret, secret_bytes
from service.subscriptions.urls import check_subscription_url


async def get(session: AsyncSession, subscription_id: int) -> Subscription:
    return await get_or_404(session, Subscription, subscription_id, "subscription")


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[Sequence[Subscription], str | None]:
    return await paginate(
        session, select(Subscription), Subscription.id, limit=limit, cursor=cursor
    )


async def _check_targets(
    session: AsyncSession, initiative_id: int | None, objective_id: int | None
) -> None:
    for model, value, field in (
        (Initiative, initiative_id, "initiative_id"),
        (Objective, objective_id, "objective_id"),
    ):
        if value is not None and await session.get(model, value) is None:
            raise Unprocessable(
                f"{field}: {field.removesuffix('_id')} {value} does not exist",
                errors=[{"loc": ["body", field], "msg": "not found", "type": "value_error"}],
            )


async def create(
    session: AsyncSession,
    box: SecretBox,
    data: SubscriptionCreate,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> tuple[Subscription, str]:
    """Returns the row and the signing secret (shown to the caller once, stored encrypted)."""
    await check_subscription_url(data.url, allow_private=allow_private, resolver=resolver)
    secret = data.secret or generate_secret()
    secret_bytes(secret)
    await _check_targets(session, data.initiative_id, data.objective_id)
    row = Subscription(
        url=data.url,
        secret_encrypted=box.encrypt(secret),
        types=list(data.types),
        initiative_id=data.initiative_id,
        objective_id=data.objective_id,
        enabled=data.enabled,
        # A new subscriber hears what happens from now on; the feed itself serves history.
        last_change_id=await head_id(session),
    )
    session.add(row)
    await session.flush()
    return row, secret


async def update(
    session: AsyncSession,
    box: SecretBox,
    subscription_id: int,
    data: SubscriptionUpdate,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> Subscription:
    row = await get(session, subscription_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("url", "types", "enabled"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null",
                errors=[{"loc": ["body", field], "msg": "may not be null", "type": "value_error"}],
            )
    if data.url is not None:
        await check_subscription_url(data.url, allow_private=allow_private, resolver=resolver)
        row.url = data.url
    if data.secret is not None:
        secret_bytes(data.secret)
        row.secret_encrypted = box.encrypt(data.secret)
    await _check_targets(session, data.initiative_id, data.objective_id)
    for field in ("types", "initiative_id", "objective_id"):
        if field in changes:
            setattr(row, field, changes[field])
    if data.enabled is not None:
        if data.enabled and not row.enabled:
            row.disabled_reason = None
            row.failing_since = None
        row.enabled = data.enabled
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    return row


async def delete(session: AsyncSession, subscription_id: int) -> None:
    row = await get(session, subscription_id)
    await session.delete(row)
    await session.flush()


async def deliveries_page(
    session: AsyncSession,
    subscription_id: int,
    *,
    limit: int,
    cursor: str | None,
    status: str | None = None,
) -> tuple[Sequence[SubscriptionDelivery], str | None]:
    await get(session, subscription_id)
    stmt = select(SubscriptionDelivery).where(
        col(SubscriptionDelivery.subscription_id) == subscription_id
    )
    if status is not None:
        stmt = stmt.where(col(SubscriptionDelivery.status) == status)
    return await paginate(session, stmt, SubscriptionDelivery.id, limit=limit, cursor=cursor)
