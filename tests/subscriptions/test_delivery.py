"""Outbound deliveries: Standard Webhooks signatures, retries with backoff, auto-disable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Subscription, SubscriptionDelivery
from service.feed.queries import head_id
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions.delivery import RETRY_SCHEDULE, deliver_due
from tests.feed.helpers import change, portfolio
from tests.subscriptions.helpers import Upstream, subscribe

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def verify_standard_webhook(secret: str, request: httpx.Request) -> dict:
    """Written from the spec (standardwebhooks.com), independently of the service's signer."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    body = request.content.decode()
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    ).decode()
    presented = [s.split(",", 1) for s in request.headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in presented)
    return json.loads(body)


async def _deliveries(db: Database, subscription_id: int) -> list[SubscriptionDelivery]:
    async with db.session() as session:
        rows = await session.execute(
            select(SubscriptionDelivery)
            .where(col(SubscriptionDelivery.subscription_id) == subscription_id)
            .order_by(col(SubscriptionDelivery.id))
        )
        return list(rows.scalars())


async def _subscription(db: Database, subscription_id: int) -> Subscription:
    async with db.session() as session:
        row = await session.get(Subscription, subscription_id)
    assert row is not None
    return row


async def test_delivery_is_signed_per_standard_webhooks(
    db: Database, secret_box: SecretBox
) -> None:
    await change(db, "objective.created", "objective", 1)  # before the subscription: not sent
    sub_id, secret = await subscribe(db, secret_box)
    await change(
        db, "objective.updated", "objective", 1, before={"owner": None}, after={"owner": "ana"}
    )
    upstream = Upstream(204)
    async with upstream.client() as client:
        report = await deliver_due(db, secret_box, client, now=T0)
    assert (report.queued, report.delivered) == (1, 1)
    (request,) = upstream.requests
    body = verify_standard_webhook(secret, request)
    assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert request.headers["webhook-id"].startswith("msg_")
    assert body["type"] == "objective.updated"
    assert body["data"]["after"] == {"owner": "ana"} and body["data"]["cause"] == "api:test"
    assert set(body) == {"type", "timestamp", "data"}
    (delivery,) = await _deliveries(db, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    # Tampering breaks the signature.
    forged = httpx.Request("POST", request.url, headers=request.headers, content=b'{"type":"x"}')
    with pytest.raises(AssertionError):
        verify_standard_webhook(secret, forged)


async def test_failures_retry_on_schedule_with_the_same_webhook_id(
    db: Database, secret_box: SecretBox
) -> None:
    sub_id, _secret = await subscribe(db, secret_box)
    await change(db, "objective.updated", "objective", 1)
    upstream = Upstream(500)
    now = T0
    async with upstream.client() as client:
        await deliver_due(db, secret_box, client, now=now)
        for delay in RETRY_SCHEDULE:
            # Just before the retry is due, nothing is sent.
            await deliver_due(db, secret_box, client, now=now + delay - timedelta(seconds=1))
            assert len(upstream.requests) == 1 + RETRY_SCHEDULE.index(delay)
            now += delay
            await deliver_due(db, secret_box, client, now=now)
        await deliver_due(db, secret_box, client, now=now + timedelta(days=1))
    assert len(upstream.requests) == 1 + len(RETRY_SCHEDULE)
    assert len({r.headers["webhook-id"] for r in upstream.requests}) == 1
    assert len({r.content for r in upstream.requests}) == 1
    (delivery,) = await _deliveries(db, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 7, 500)
    assert delivery.next_attempt_at is None
    subscription = await _subscription(db, sub_id)
    assert subscription.enabled and subscription.failing_since == T0


async def test_a_timeout_is_retried_and_a_later_success_ends_the_failure_streak(
    db: Database, secret_box: SecretBox
) -> None:
    sub_id, _secret = await subscribe(db, secret_box)
    await change(db, "objective.updated", "objective", 1)
    upstream = Upstream(200)
    upstream.fail = lambda request: httpx.ReadTimeout("slow", request=request)
    async with upstream.client() as client:
        first = await deliver_due(db, secret_box, client, now=T0)
        assert first.retrying == 1
        assert (await _subscription(db, sub_id)).failing_since == T0
        upstream.fail = None
        second = await deliver_due(db, secret_box, client, now=T0 + timedelta(seconds=5))
    assert second.delivered == 1
    (delivery,) = await _deliveries(db, sub_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert delivery.last_error is None
    assert (await _subscription(db, sub_id)).failing_since is None


async def test_five_days_of_failures_disable_the_subscription(
    db: Database, secret_box: SecretBox
) -> None:
    sub_id, _secret = await subscribe(db, secret_box)
    upstream = Upstream(503)
    async with upstream.client() as client:
        await change(db, "objective.updated", "objective", 1)
        await deliver_due(db, secret_box, client, now=T0)
        await change(db, "objective.updated", "objective", 2)
        await deliver_due(db, secret_box, client, now=T0 + timedelta(days=4, hours=23))
        assert (await _subscription(db, sub_id)).enabled
        await change(db, "objective.updated", "objective", 3)
        report = await deliver_due(db, secret_box, client, now=T0 + timedelta(days=5))
        assert report.disabled == [sub_id]
        sent = len(upstream.requests)
        # Disabled: nothing more is queued or sent, however much time passes.
        await change(db, "objective.updated", "objective", 4)
        await deliver_due(db, secret_box, client, now=T0 + timedelta(days=6))
    assert len(upstream.requests) == sent
    subscription = await _subscription(db, sub_id)
    assert not subscription.enabled
    assert subscription.disabled_reason is not None
    assert "failed since 2026-03-02T09:00:00+00:00" in subscription.disabled_reason
    assert "HTTP 503" in subscription.disabled_reason


async def test_subscription_filters_by_type_and_initiative(
    db: Database, secret_box: SecretBox
) -> None:
    ids = await portfolio(db)
    sub_id, secret = await subscribe(
        db, secret_box, types=["initiative.*", "progress.changed"], initiative_id=ids["initiative"]
    )
    await change(db, "initiative.updated", "initiative", ids["initiative"])
    await change(db, "initiative.updated", "initiative", ids["other"])
    await change(db, "objective.updated", "objective", ids["objective"])
    await change(db, "progress.changed", "initiative", ids["initiative"])
    upstream = Upstream(200)
    async with upstream.client() as client:
        await deliver_due(db, secret_box, client, now=T0)
    bodies = [verify_standard_webhook(secret, r) for r in upstream.requests]
    assert [(b["type"], b["data"]["entity_id"]) for b in bodies] == [
        ("initiative.updated", ids["initiative"]),
        ("progress.changed", ids["initiative"]),
    ]
    async with db.session() as session:
        assert (await _subscription(db, sub_id)).last_change_id == await head_id(session)
