from typing import Annotated

from fastapi import APIRouter, Query, Response

from schemas.api.common import Page
from schemas.api.feed import (
    DeliveryPublic,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
    SubscriptionUpdate,
)
from service.api.deps import (
    AdminDep,
    CursorDep,
    LimitDep,
    PathId,
    ResolverDep,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
)
from service.api.problems import PROBLEM_RESPONSES
from service.subscriptions import store

router = APIRouter(
    prefix="/api/v1/admin/subscriptions",
    tags=["admin: subscriptions"],
    responses=PROBLEM_RESPONSES,
)


@router.get("", response_model=Page[SubscriptionPublic])
async def list_subscriptions(
    session: SessionDep, _: AdminDep, limit: LimitDep = 50, cursor: CursorDep = None
) -> Page[SubscriptionPublic]:
    rows, next_cursor = await store.list_page(session, limit=limit, cursor=cursor)
    return Page(items=[SubscriptionPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", response_model=SubscriptionCreated, status_code=201)
async def create_subscription(
    body: SubscriptionCreate,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    _: AdminDep,
) -> SubscriptionCreated:
    """Deliveries start with the next change. The signing `secret` is in this response only."""
    row, secret = await store.create(
        session, box, body, allow_private=settings.allow_private_upstreams, resolver=resolver
    )
    return SubscriptionCreated.model_validate(
        SubscriptionPublic.model_validate(row).model_dump() | {"secret": secret}
    )


@router.get("/{subscription_id}", response_model=SubscriptionPublic)
async def get_subscription(
    subscription_id: PathId, session: SessionDep, _: AdminDep
) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(await store.get(session, subscription_id))


@router.patch("/{subscription_id}", response_model=SubscriptionPublic)
async def update_subscription(
    subscription_id: PathId,
    body: SubscriptionUpdate,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    _: AdminDep,
) -> SubscriptionPublic:
    row = await store.update(
        session,
        box,
        subscription_id,
        body,
        allow_private=settings.allow_private_upstreams,
        resolver=resolver,
    )
    return SubscriptionPublic.model_validate(row)


@router.delete("/{subscription_id}", status_code=204, response_class=Response)
async def delete_subscription(subscription_id: PathId, session: SessionDep, _: AdminDep) -> None:
    await store.delete(session, subscription_id)


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryPublic])
async def list_deliveries(
    subscription_id: PathId,
    session: SessionDep,
    _: AdminDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    status: Annotated[
        str | None, Query(pattern=r"^(pending|delivered|failed)$", description="Only these.")
    ] = None,
) -> Page[DeliveryPublic]:
    """The delivery log: each event with its status, attempts and last response code."""
    rows, next_cursor = await store.deliveries_page(
        session, subscription_id, limit=limit, cursor=cursor, status=status
    )
    return Page(items=[DeliveryPublic.model_validate(r) for r in rows], next_cursor=next_cursor)
