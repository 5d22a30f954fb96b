"""Feed length, deliveries by status and subscription lag on /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from service.security import SecretBox
from service.store.db import Database
from service.subscriptions import metrics
from service.subscriptions.delivery import deliver_due
from tests.feed.helpers import change
from tests.subscriptions.helpers import Upstream, subscribe


def _value(text: str, name: str) -> float:
    line = next(
        line
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_report_feed_length_deliveries_and_lag(
    client: httpx.AsyncClient, db: Database, secret_box: SecretBox
) -> None:
    sub_id, _ = await subscribe(db, secret_box)
    for n in range(3):
        await change(db, "objective.updated", "objective", n)
    before = metrics.DELIVERIES.labels("retrying")._value.get()
    now = datetime(2026, 3, 2, tzinfo=UTC)
    async with Upstream(500).client() as http:
        await deliver_due(db, secret_box, http, now=now)
    assert metrics.DELIVERIES.labels("retrying")._value.get() == before + 3
    async with db.session() as session:
        await metrics.refresh(session, now + timedelta(minutes=2))
    text = (await client.get("/metrics")).text
    assert _value(text, "portfolio_sync_change_feed_length") == 3
    assert f'portfolio_sync_subscription_lag_seconds{{subscription_id="{sub_id}"}} 120.0' in text
    assert f'portfolio_sync_subscription_lag_changes{{subscription_id="{sub_id}"}} 0.0' in text
    assert 'portfolio_sync_subscription_deliveries_total{status="retrying"}' in text
