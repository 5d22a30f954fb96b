"""Admin view of the webhook inbox: list, inspect, replay."""

from fastapi import APIRouter, Request

from schemas.api.common import Page
from schemas.api.webhooks import WebhookDeliveryDetail, WebhookDeliverySummary
from schemas.enums import DeliveryStatus
from service.api.deps import (
    AdminDep,
    BigPathId,
    CursorDep,
    LimitDep,
    SessionDep,
    filter_id,
    filter_text,
)
from service.api.problems import PROBLEM_RESPONSES
from service.webhooks import inbox, worker

router = APIRouter(
    prefix="/api/v1/admin/webhook-deliveries",
    tags=["admin: webhook deliveries"],
    responses=PROBLEM_RESPONSES,
)


@router.get("", response_model=Page[WebhookDeliverySummary])
async def list_webhook_deliveries(
    session: SessionDep,
    _: AdminDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    source_id: int | None = filter_id("Only deliveries to this source."),
    status: DeliveryStatus | None = None,
    event: str | None = filter_text("Event name, e.g. `issues` or `jira:issue_updated`.", 100),
) -> Page[WebhookDeliverySummary]:
    rows, next_cursor = await inbox.list_page(
        session, source_id=source_id, status=status, event=event, limit=limit, cursor=cursor
    )
    return Page(
        items=[WebhookDeliverySummary.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/{delivery_id}", response_model=WebhookDeliveryDetail)
async def get_webhook_delivery(
    delivery_id: BigPathId, session: SessionDep, _: AdminDep
) -> WebhookDeliveryDetail:
    """One delivery with its headers (signatures and secrets redacted) and payload."""
    return WebhookDeliveryDetail.model_validate(await inbox.get(session, delivery_id))


@router.post("/{delivery_id}/replay", response_model=WebhookDeliveryDetail)
async def replay_webhook_delivery(
    delivery_id: BigPathId, session: SessionDep, _: AdminDep, request: Request
) -> WebhookDeliveryDetail:
    """Back to `pending` with attempts reset to 0; the worker applies it again shortly."""
    row = WebhookDeliveryDetail.model_validate(await inbox.replay(session, delivery_id))
    # Without waiting for the commit: a worker that looks too early finds it at its next poll.
    worker.wake(request.app)
    return row
