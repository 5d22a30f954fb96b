"""Admin view of the inbox, metrics, and the 503 when the database is gone."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from schemas.types import utcnow
from service.api.observability import REGISTRY
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import drain_once

from .support import add_source, deliveries, encode, github_headers, load_github, post_github

BASE = "/api/v1/admin/webhook-deliveries"


async def test_admin_lists_filters_and_pages_deliveries(
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
    admin_headers: dict[str, str],
) -> None:
    github = await add_source(db, secret_box)
    other = await add_source(db, secret_box)
    await post_github(client, github, load_github("issues.opened.json"), "issues")
    await post_github(client, github, load_github("label.created.json"), "label")
    await post_github(client, other, load_github("pull_request.opened.json"), "pull_request")
    await drain_once(db)

    async def ids(**params: object) -> list[int]:
        response = await client.get(BASE, params=params, headers=admin_headers)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]

    everything = await ids()
    assert len(everything) == 3
    assert await ids(source_id=other) == [everything[2]]
    assert await ids(status="ignored") == [everything[1]]
    assert await ids(event="issues") == [everything[0]]
    assert await ids(status="processed", source_id=github) == [everything[0]]

    first = (await client.get(BASE, params={"limit": 2}, headers=admin_headers)).json()
    rest = await client.get(
        BASE, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin_headers
    )
    assert [d["id"] for d in first["items"] + rest.json()["items"]] == everything
    assert rest.json()["next_cursor"] is None
    assert "payload" not in first["items"][0]


async def test_admin_detail_redacts_and_replay_resets(
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
    admin_headers: dict[str, str],
    reader_headers: dict[str, str],
) -> None:
    source_id = await add_source(db, secret_box)
    payload = load_github("issues.opened.json")
    ack = (await post_github(client, source_id, payload, "issues")).json()
    await drain_once(db)

    detail = await client.get(f"{BASE}/{ack['id']}", headers=admin_headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["payload"] == payload
    assert body["headers"]["x-hub-signature-256"] == "[redacted]"
    assert body["status"] == "processed" and body["attempts"] == 1
    assert body["processed_at"] is not None and body["received_at"] is not None

    replayed = await client.post(f"{BASE}/{ack['id']}/replay", headers=admin_headers)
    assert replayed.status_code == 200
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 0)
    assert await drain_once(db) == 1
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == ("processed", 1)

    assert (await client.get(f"{BASE}/999999", headers=admin_headers)).status_code == 404
    assert (await client.post(f"{BASE}/999999/replay", headers=admin_headers)).status_code == 404
    assert (await client.get(BASE, headers=reader_headers)).status_code == 403
    assert (await client.get(BASE)).status_code == 401


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_deliveries_failures_and_apply(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    src = str(source_id)
    names = {
        "failures": ("portfolio_sync_webhook_verification_failures_total", {"reason": "signature"}),
        "pending": (
            "portfolio_sync_webhook_deliveries_total",
            {"event": "issues", "status": "pending"},
        ),
        "processed": (
            "portfolio_sync_webhook_deliveries_total",
            {"event": "issues", "status": "processed"},
        ),
        "applied": ("portfolio_sync_webhook_apply_duration_seconds_count", {}),
        "latency": ("portfolio_sync_webhook_delivery_latency_seconds_count", {}),
    }

    def snapshot() -> dict[str, float]:
        return {
            key: sample(name, **({"source": src, **labels} if labels else {}))
            for key, (name, labels) in names.items()
        }

    before = snapshot()
    body = encode(load_github("issues.opened.json"))
    bad = {**github_headers(body, "issues"), "X-Hub-Signature-256": "sha256=00"}
    await client.post(f"/webhooks/github/{source_id}", content=body, headers=bad)
    await post_github(client, source_id, load_github("issues.opened.json"), "issues")
    await drain_once(db)

    after = snapshot()
    assert {k: after[k] - before[k] for k in names} == {k: 1.0 for k in names}
    assert sample("portfolio_sync_webhook_inbox_lag_seconds") == 0.0
    text = (await client.get("/metrics")).text
    assert "portfolio_sync_webhook_deliveries_total{" in text


async def test_inbox_lag_reports_the_oldest_pending_age(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    broken = {"action": "opened", "issue": {}}
    await post_github(client, source_id, broken, "issues")
    await post_github(client, source_id, load_github("issues.opened.json"), "issues")
    later = utcnow() + timedelta(minutes=10)
    # Only the first row is claimed (limit 1): the second is still pending, ~10 minutes old.
    await drain_once(db, limit=1, clock=lambda: later)
    assert 590 < sample("portfolio_sync_webhook_inbox_lag_seconds") < 610


@pytest.fixture
async def unreachable_client(
    database_url: str, settings: Settings, secret_box: SecretBox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/nothing.db"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
    broken = Database(url)
    app = create_app(
        settings.model_copy(update={"database_url": url}), database=broken, secret_box=secret_box
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await broken.dispose()


@pytest.mark.parametrize("route", ["github", "jira"])
async def test_unreachable_database_is_503_with_retry_after(
    route: str, db: Database, unreachable_client: httpx.AsyncClient
) -> None:
    body = encode(load_github("issues.opened.json"))
    response = await unreachable_client.post(
        f"/webhooks/{route}/1", content=body, headers=github_headers(body, "issues")
    )
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await deliveries(db) == []


async def test_locked_sqlite_database_is_503_not_500(
    db: Database, settings: Settings, secret_box: SecretBox, app: FastAPI
) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite write lock")
    source_id = await add_source(db, secret_box)
    impatient = Database(db.url, busy_timeout_ms=50)
    locked_app = create_app(settings, database=impatient, secret_box=secret_box)
    holder = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        transport = httpx.ASGITransport(app=locked_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await post_github(
                client, source_id, load_github("issues.opened.json"), "issues"
            )
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await impatient.dispose()
    assert await deliveries(db) == []
