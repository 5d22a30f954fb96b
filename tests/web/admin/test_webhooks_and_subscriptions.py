"""Admin inbox, subscription and digest pages: filter, redacted headers, replay, secrets shown
once, schedule errors, a digest as it would be delivered."""

from __future__ import annotations

import re

import httpx

from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import drain_once
from tests.web.admin.conftest import post_form
from tests.webhooks.support import SECRET, add_source, deliveries, post_github

BROKEN = {"action": "opened", "issue": {"number": 1}, "repository": {"full_name": "x/y"}}


async def _failed_delivery(db: Database, secret_box: SecretBox, admin: httpx.AsyncClient) -> int:
    source_id = await add_source(db, secret_box)
    assert (await post_github(admin, source_id, BROKEN, "issues")).status_code == 202
    assert await drain_once(db) == 1
    [row] = await deliveries(db)
    assert row.status == "failed" and row.id is not None
    return row.id


async def test_inbox_filters_by_status_and_shows_redacted_headers(
    admin: httpx.AsyncClient, db: Database, secret_box: SecretBox
) -> None:
    delivery_id = await _failed_delivery(db, secret_box, admin)
    failed = await admin.get("/admin/webhooks", params={"status": "failed", "source_id": ""})
    assert failed.status_code == 200 and f'href="/admin/webhooks/{delivery_id}"' in failed.text
    processed = await admin.get("/admin/webhooks", params={"status": "processed"})
    assert f'href="/admin/webhooks/{delivery_id}"' not in processed.text
    detail = await admin.get(f"/admin/webhooks/{delivery_id}")
    assert "x-hub-signature-256" in detail.text.lower() and "[redacted]" in detail.text
    assert "sha256=" not in detail.text and SECRET not in detail.text


async def test_replay_resets_attempts_and_the_worker_applies_it_again(
    admin: httpx.AsyncClient, db: Database, secret_box: SecretBox
) -> None:
    delivery_id = await _failed_delivery(db, secret_box, admin)
    page = f"/admin/webhooks/{delivery_id}"
    refused = await admin.post(f"{page}/replay")
    assert refused.status_code == 403
    assert [(r.status, r.attempts) for r in await deliveries(db)] == [("failed", 1)]

    replayed = await post_form(admin, page, {}, f"{page}/replay")
    assert replayed.status_code == 303
    [row] = await deliveries(db)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, None)
    shown = await admin.get(replayed.headers["location"])
    assert "Replayed" in shown.text and 'data-attempts="0"' in shown.text
    assert await drain_once(db) == 1  # due at once, unlike the failed row's backoff
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == ("failed", 1)


async def test_subscription_secret_is_shown_once_and_a_schedule_renders_its_digest(
    admin: httpx.AsyncClient, db: Database
) -> None:
    created = await post_form(
        admin,
        "/admin/subscriptions",
        {"url": "https://api.github.com/hook", "types": "digest.ready, link.*", "enabled": "on"},
    )
    assert created.status_code == 200, created.text
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", created.text)
    assert secret is not None
    listing = await admin.get("/admin/subscriptions")
    assert secret.group(0) not in listing.text and "digest.ready, link.*" in listing.text
    sub_id = re.search(r'href="/admin/subscriptions/(\d+)"', listing.text)
    assert sub_id is not None
    assert secret.group(0) not in (await admin.get(f"/admin/subscriptions/{sub_id[1]}")).text

    bad = await post_form(
        admin,
        "/admin/subscriptions",
        {"scope": "portfolio", "cron": "61 * * * *", "subscription_id": sub_id[1]},
        "/admin/digest-schedules",
    )
    assert bad.status_code == 422 and 'id="e-cron"' in bad.text and 'value="61 * * * *"' in bad.text
    made = await post_form(
        admin,
        "/admin/subscriptions",
        {
            "scope": "portfolio",
            "cron": "0 9 * * MON",
            "subscription_id": sub_id[1],
            "enabled": "on",
        },
        "/admin/digest-schedules",
    )
    assert made.status_code == 303
    page = await admin.get(made.headers["location"])
    assert page.status_code == 200
    assert "data-digest-text" in page.text and "&#34;type&#34;: &#34;digest.ready&#34;" in page.text


async def test_private_subscription_url_is_refused_beside_the_field(
    admin: httpx.AsyncClient,
) -> None:
    response = await post_form(
        admin, "/admin/subscriptions", {"url": "https://internal.example/hook"}
    )
    assert response.status_code == 422 and 'id="e-url"' in response.text


async def test_a_reader_gets_the_403_page_on_inbox_and_subscriptions(
    reader: httpx.AsyncClient,
) -> None:
    for path in ("/admin/webhooks", "/admin/subscriptions"):
        response = await reader.get(path)
        assert response.status_code == 403 and "needs the admin role" in response.text
