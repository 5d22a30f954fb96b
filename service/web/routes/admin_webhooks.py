"""Admin pages for the webhook inbox: newest first, filtered by status, source and event; a
delivery's detail with its (already redacted) headers and payload; replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from schemas.api.webhooks import WebhookDeliveryDetail, WebhookDeliverySummary
from schemas.enums import DeliveryStatus
from service.api.deps import BigPathId, SessionDep
from service.web import admin_queries
from service.web.admin_pages import render_admin
from service.web.deps import AdminPage, CsrfForm, redirect
from service.webhooks import inbox, worker

router = APIRouter(prefix="/admin/webhooks")


def _choice(value: str | None) -> DeliveryStatus | None:
    try:
        return DeliveryStatus(value) if value else None
    except ValueError:
        return None


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@router.get("")
async def inbox_page(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    # Plain text: the filter form sends "" for "any", which is no filter, not an error.
    status: Annotated[str | None, Query(max_length=20)] = None,
    source_id: Annotated[str | None, Query(max_length=20)] = None,
    event: Annotated[str | None, Query(max_length=100)] = None,
    before: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    wanted = _choice(status)
    source = _number(source_id)
    rows, older = await admin_queries.deliveries_newest_first(
        session, status=wanted, source_id=source, event=event or None, before=_number(before)
    )
    filters = {
        "status": wanted.value if wanted else "",
        "source_id": str(source or ""),
        "event": event or "",
    }
    names = await admin_queries.source_names(session)
    return render_admin(
        request,
        "admin/webhooks.html",
        {
            "deliveries": [WebhookDeliverySummary.model_validate(r) for r in rows],
            "older": older,
            "filters": filters,
            "query": "&".join(f"{k}={v}" for k, v in filters.items() if v),
            "sources": names,
            "source_options": [(str(i), n) for i, n in names.items()],
            "counts": await admin_queries.delivery_counts(session),
            "statuses": [(s.value, s.value) for s in DeliveryStatus],
        },
    )


@router.get("/{delivery_id}")
async def delivery_page(
    request: Request, delivery_id: BigPathId, user: AdminPage, session: SessionDep
) -> Response:
    row = WebhookDeliveryDetail.model_validate(await inbox.get(session, delivery_id))
    names = await admin_queries.source_names(session)
    return render_admin(
        request,
        "admin/webhook.html",
        {
            "delivery": row,
            "source_name": names.get(row.source_id, f"source {row.source_id}"),
            "replayed": "replayed" in request.query_params,
        },
    )


@router.post("/{delivery_id}/replay")
async def replay(
    request: Request, delivery_id: BigPathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    """As `POST …/webhook-deliveries/{id}/replay`: pending again, attempts reset to 0."""
    await inbox.replay(session, delivery_id)
    worker.wake(request.app)
    return redirect(f"/admin/webhooks/{delivery_id}?replayed=1")
