"""Admin pages for outbound subscriptions and digest schedules, with a digest shown exactly as
its `digest.ready` delivery would carry it.

Writes go through `service.subscriptions.store` and `service.digests.schedules`, the functions
of the admin API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.feed import (
    DeliveryPublic,
    DigestScheduleCreate,
    DigestSchedulePublic,
    DigestScheduleUpdate,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionUpdate,
)
from schemas.types import utcnow
from service.api.deps import PathId, ResolverDep, SecretBoxDep, SessionDep, SettingsDep
from service.digests import schedules
from service.digests.builder import build_digest
from service.digests.markdown import render as render_markdown
from service.errors import ServiceError
from service.subscriptions import store
from service.web import admin_queries
from service.web.admin_pages import render_admin
from service.web.deps import AdminPage, CsrfForm, redirect
from service.web.forms import errors_by_field, values_of

router = APIRouter(prefix="/admin")

SUBSCRIPTION_DEFAULTS = {"enabled": "on"}
SCHEDULE_DEFAULTS = {"scope": "portfolio", "cron": "0 9 * * MON", "enabled": "on"}


class Invalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise Invalid(errors_by_field([dict(e) for e in exc.errors()])) from None


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def subscription_body(form: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "types": [t for t in re.split(r"[\s,]+", form.get("types", "")) if t],
        "initiative_id": _id(form.get("initiative_id", "")),
        "objective_id": _id(form.get("objective_id", "")),
        "enabled": form.get("enabled") == "on",
    }
    if secret := form.get("secret", "").strip():
        body["secret"] = secret
    return body


async def _choices(session: AsyncSession) -> dict[str, Any]:
    targets = await admin_queries.target_choices(session)
    scopes = await admin_queries.scope_choices(session)
    return {
        "initiative_options": [
            (c.value.split(":")[1], c.text.removeprefix("Initiative: "))
            for c in targets
            if c.value.startswith("initiative:")
        ],
        "objective_options": [
            (c.value.split(":")[1], c.text.removeprefix("Objective: "))
            for c in scopes
            if c.value.startswith("objective:")
        ],
        "scope_options": [(c.value, c.text) for c in scopes],
        "subscription_options": [
            (c.value, c.text) for c in await admin_queries.subscription_choices(session)
        ],
    }


async def _list_page(
    request: Request,
    session: AsyncSession,
    *,
    sub_values: Mapping[str, str] = SUBSCRIPTION_DEFAULTS,
    sub_errors: dict[str, str] | None = None,
    schedule_values: Mapping[str, str] = SCHEDULE_DEFAULTS,
    schedule_errors: dict[str, str] | None = None,
    created: tuple[SubscriptionPublic, str] | None = None,
    status_code: int = 200,
) -> Response:
    subs, _ = await store.list_page(session, limit=200, cursor=None)
    rows, _ = await schedules.list_page(session, limit=200, cursor=None)
    context = {
        "subscriptions": [SubscriptionPublic.model_validate(s) for s in subs],
        "schedules": [DigestSchedulePublic.model_validate(r) for r in rows],
        "scope_titles": {c.value: c.text for c in await admin_queries.scope_choices(session)},
        "sub_values": sub_values,
        "sub_errors": sub_errors or {},
        "schedule_values": schedule_values,
        "schedule_errors": schedule_errors or {},
        "created": created,
        **await _choices(session),
    }
    return render_admin(request, "admin/subscriptions.html", context, status_code=status_code)


@router.get("/subscriptions")
async def subscriptions_page(request: Request, user: AdminPage, session: SessionDep) -> Response:
    return await _list_page(request, session)


@router.post("/subscriptions")
async def create_subscription(
    request: Request,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> Response:
    typed = values_of(form)
    try:
        data = _validated(SubscriptionCreate, subscription_body(typed))
        row, secret = await store.create(
            session, box, data, allow_private=settings.allow_private_upstreams, resolver=resolver
        )
    except (Invalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, Invalid) else _service_errors(exc)
        shown = {k: v for k, v in typed.items() if k != "secret"}
        return await _list_page(
            request, session, sub_values=shown, sub_errors=errors, status_code=422
        )
    # The signing secret is shown on this one response, never again.
    return await _list_page(
        request, session, created=(SubscriptionPublic.model_validate(row), secret)
    )


def _service_errors(exc: ServiceError) -> dict[str, str]:
    return errors_by_field(exc.errors) if exc.errors else {"__all__": exc.detail}


async def _subscription_page(
    request: Request,
    session: AsyncSession,
    subscription_id: int,
    *,
    values: Mapping[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    row = SubscriptionPublic.model_validate(await store.get(session, subscription_id))
    deliveries, _ = await store.deliveries_page(session, subscription_id, limit=50, cursor=None)
    if values is None:
        values = {
            "url": row.url,
            "types": ", ".join(row.types),
            "initiative_id": str(row.initiative_id or ""),
            "objective_id": str(row.objective_id or ""),
            "enabled": "on" if row.enabled else "",
        }
    context = {
        "subscription": row,
        "deliveries": [DeliveryPublic.model_validate(d) for d in deliveries][::-1],
        "values": values,
        "errors": errors or {},
        "saved": "saved" in request.query_params,
        **await _choices(session),
    }
    return render_admin(request, "admin/subscription.html", context, status_code=status_code)


@router.get("/subscriptions/{subscription_id}")
async def subscription_page(
    request: Request, subscription_id: PathId, user: AdminPage, session: SessionDep
) -> Response:
    return await _subscription_page(request, session, subscription_id)


@router.post("/subscriptions/{subscription_id}")
async def update_subscription(
    request: Request,
    subscription_id: PathId,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> Response:
    typed = values_of(form)
    try:
        data = _validated(SubscriptionUpdate, subscription_body(typed))
        await store.update(
            session,
            box,
            subscription_id,
            data,
            allow_private=settings.allow_private_upstreams,
            resolver=resolver,
        )
    except (Invalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, Invalid) else _service_errors(exc)
        shown = {k: v for k, v in typed.items() if k != "secret"}
        return await _subscription_page(
            request, session, subscription_id, values=shown, errors=errors, status_code=422
        )
    return redirect(f"/admin/subscriptions/{subscription_id}?saved=1")


@router.post("/subscriptions/{subscription_id}/delete")
async def delete_subscription(
    request: Request, subscription_id: PathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    await store.delete(session, subscription_id)
    return redirect("/admin/subscriptions")


def schedule_body(form: Mapping[str, str]) -> dict[str, Any]:
    return {
        "scope": form.get("scope", "").strip(),
        "cron": " ".join(form.get("cron", "").split()),
        "subscription_id": _id(form.get("subscription_id", "")),
        "enabled": form.get("enabled") == "on",
    }


@router.post("/digest-schedules")
async def create_schedule(
    request: Request, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    typed = values_of(form)
    try:
        data = _validated(DigestScheduleCreate, schedule_body(typed))
        row = await schedules.create(session, data)
    except (Invalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, Invalid) else _service_errors(exc)
        return await _list_page(
            request, session, schedule_values=typed, schedule_errors=errors, status_code=422
        )
    return redirect(f"/admin/digest-schedules/{row.id}")


async def _schedule_page(
    request: Request,
    session: AsyncSession,
    schedule_id: int,
    *,
    values: Mapping[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    row = await schedules.get(session, schedule_id)
    public = DigestSchedulePublic.model_validate(row)
    # The next delivery covers the time since the previous run, as `run_due` builds it; the
    # last week shows what a digest of an ordinary week looks like.
    now = utcnow()
    week = request.query_params.get("window") == "week"
    since = now - timedelta(days=7) if week else row.last_run_at or row.created_at
    digest = await build_digest(session, row.scope, since, now)
    payload = {
        "type": schedules.DIGEST_EVENT,
        "timestamp": now.isoformat(),
        "data": digest.model_dump(mode="json"),
        "text": render_markdown(digest),
    }
    if values is None:
        values = {
            "scope": public.scope,
            "cron": public.cron,
            "subscription_id": str(public.subscription_id),
            "enabled": "on" if public.enabled else "",
        }
    context = {
        "schedule": public,
        "payload": payload,
        "digest": digest,
        "week": week,
        "values": values,
        "errors": errors or {},
        "saved": "saved" in request.query_params,
        **await _choices(session),
    }
    return render_admin(request, "admin/digest_schedule.html", context, status_code=status_code)


@router.get("/digest-schedules/{schedule_id}")
async def schedule_page(
    request: Request, schedule_id: PathId, user: AdminPage, session: SessionDep
) -> Response:
    return await _schedule_page(request, session, schedule_id)


@router.post("/digest-schedules/{schedule_id}")
async def update_schedule(
    request: Request, schedule_id: PathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    typed = values_of(form)
    try:
        data = _validated(DigestScheduleUpdate, schedule_body(typed))
        await schedules.update(session, schedule_id, data)
    except (Invalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, Invalid) else _service_errors(exc)
        return await _schedule_page(
            request, session, schedule_id, values=typed, errors=errors, status_code=422
        )
    return redirect(f"/admin/digest-schedules/{schedule_id}?saved=1")


@router.post("/digest-schedules/{schedule_id}/delete")
async def delete_schedule(
    request: Request, schedule_id: PathId, user: AdminPage, form: CsrfForm, session: SessionDep
) -> Response:
    await schedules.delete(session, schedule_id)
    return redirect("/admin/subscriptions")
