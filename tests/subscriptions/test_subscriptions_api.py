"""Admin API for subscriptions: SSRF guard on `url`, write-only secret, delivery log."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from service.security import SecretBox
from service.store.db import Database
from service.subscriptions.delivery import deliver_due
from tests.feed.helpers import change
from tests.subscriptions.helpers import URL, Upstream

BASE = "/api/v1/admin/subscriptions"


async def _resolver(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "intranet.example.com": ["10.1.2.3"]}.get(
        host, ["fd00::1"]
    )


@pytest.fixture
def guarded(app: FastAPI) -> FastAPI:
    app.state.upstream_resolver = _resolver
    return app


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://intranet.example.com/hook", "private"),
        ("https://v6.example.com/hook", "unique-local"),
        ("https://[::]/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
    ],
)
async def test_ssrf_guard_refuses_internal_urls(
    guarded: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    url: str,
    reason: str,
) -> None:
    response = await client.post(BASE, json={"url": url}, headers=admin_headers)
    assert response.status_code == 422
    problem = response.json()
    assert reason in problem["detail"] and problem["errors"][0]["loc"] == ["body", "url"]


async def test_secret_is_generated_shown_once_and_stored_encrypted(
    guarded: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    reader_headers: dict[str, str],
    db: Database,
) -> None:
    created = await client.post(
        BASE, json={"url": URL, "types": ["work_item.*"]}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    fetched = (await client.get(f"{BASE}/{body['id']}", headers=admin_headers)).json()
    listed = (await client.get(BASE, headers=admin_headers)).json()["items"]
    assert "secret" not in fetched and all("secret" not in s for s in listed)
    assert body["secret"] not in str(fetched)
    async with db.engine.connect() as conn:
        stored = (await conn.exec_driver_sql("SELECT secret_encrypted FROM subscription")).scalar()
    assert stored and body["secret"] not in stored
    assert (await client.get(BASE, headers=reader_headers)).status_code == 403


async def test_given_secret_must_be_standard_webhooks_form(
    guarded: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    bad = await client.post(BASE, json={"url": URL, "secret": "hunter2"}, headers=admin_headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "secret"]
    good_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    good = await client.post(BASE, json={"url": URL, "secret": good_secret}, headers=admin_headers)
    assert good.status_code == 201 and good.json()["secret"] == good_secret


async def test_delivery_log_and_reenable(
    guarded: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    db: Database,
    secret_box: SecretBox,
) -> None:
    sub = (await client.post(BASE, json={"url": URL}, headers=admin_headers)).json()
    await change(db, "objective.updated", "objective", 1)
    upstream = Upstream(502)
    async with upstream.client() as http:
        await deliver_due(db, secret_box, http, now=datetime(2026, 3, 2, tzinfo=UTC))
    log = (await client.get(f"{BASE}/{sub['id']}/deliveries", headers=admin_headers)).json()
    (entry,) = log["items"]
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert entry["last_status_code"] == 502 and entry["event_type"] == "objective.updated"
    assert entry["webhook_id"] == upstream.requests[0].headers["webhook-id"]
    failed = await client.get(f"{BASE}/{sub['id']}/deliveries?status=failed", headers=admin_headers)
    assert failed.json()["items"] == []
    patched = await client.patch(
        f"{BASE}/{sub['id']}", json={"enabled": False}, headers=admin_headers
    )
    assert patched.json()["enabled"] is False
    again = await client.patch(f"{BASE}/{sub['id']}", json={"enabled": True}, headers=admin_headers)
    assert again.json()["enabled"] is True and again.json()["failing_since"] is None
    assert (await client.delete(f"{BASE}/{sub['id']}", headers=admin_headers)).status_code == 204
    gone = await client.get(f"{BASE}/{sub['id']}/deliveries", headers=admin_headers)
    assert gone.status_code == 404
