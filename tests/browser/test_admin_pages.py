"""In Chromium, on each backend, as an admin: a rule's live preview equals what saving links,
"Sync now" shows its run succeed, a failed webhook delivery is replayed, a form without its CSRF
token is refused, and the subscription and digest pages."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import expect

from schemas.enums import Role
from tests.webhooks.support import encode, github_headers

from .conftest import LAPTOP, PHONE, Screens, sign_in
from .live import WEBHOOK_SECRET, LiveService


async def _feed_head(live: LiveService) -> int:
    """The change feed's current end (read to the end, a page at a time)."""
    cursor = 0
    async with live.api() as api:
        while True:
            page = (await api.get("/api/v1/changes", params={"after": cursor, "limit": 500})).json()
            if not page["items"]:
                return int(page["next_cursor"])
            cursor = page["next_cursor"]


async def test_rule_preview_counts_equal_what_saving_links(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.admin)
    await page.goto("/admin/rules")
    await screens.shot(page, "rules")
    await page.get_by_role("link", name="New rule").click()
    await page.get_by_label("Name").fill("Finished API work → Web checkout")
    await page.get_by_label("Link matching items to").select_option(
        label="Initiative: Web checkout"
    )
    await page.get_by_label("Priority").fill("5")
    await page.get_by_label("Project or repository").fill("acme/api")
    await page.get_by_label("Status category").select_option("done")
    # The live preview (no button pressed) counts what saving would change.
    linked = page.locator("[data-preview-linked]")
    await expect(linked).to_be_visible()
    await expect(page.locator("#preview")).not_to_have_attribute("aria-busy", "true")
    previewed = int(await linked.inner_text())
    unlinked = int(await page.locator("[data-preview-unlinked]").inner_text())
    assert previewed > 0 and unlinked > 0  # done acme/api work moves from Platform reliability
    await screens.shot(page, "rule-preview")
    await page.set_viewport_size(PHONE)
    await screens.shot(page, "rule-preview-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the rule form scrolls sideways on a phone ({width} px)"
    await page.set_viewport_size(LAPTOP)

    head = await _feed_head(live)
    await page.get_by_role("button", name="Save rule").click()
    notice = page.locator("[data-saved-linked]")
    await expect(notice).to_be_visible()
    assert int(await notice.get_attribute("data-saved-linked") or -1) == previewed
    assert int(await notice.get_attribute("data-saved-unlinked") or -1) == unlinked
    rule_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    async with live.api() as api:
        params = {"after": head, "types": "link.*", "limit": 500}
        changes = (await api.get("/api/v1/changes", params=params)).json()
    mine = [c for c in changes["items"] if c["cause"] == f"rule:{rule_id}@1"]
    assert sum(c["type"] == "link.added" for c in mine) == previewed
    assert sum(c["type"] == "link.removed" for c in mine) == unlinked
    await screens.shot(page, "rule-saved")


async def test_sync_now_shows_the_run_succeeded(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.admin)
    await page.goto("/admin/sources")
    await screens.shot(page, "sources")
    await page.get_by_role("link", name="jira", exact=True).click()
    await page.get_by_label("Mode").select_option("incremental")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page).to_have_url(re.compile(r"/admin/runs/\d+$"))
    # The run page refreshes itself until the run ends.
    await expect(page.get_by_text("The run succeeded.")).to_be_visible(timeout=30_000)
    await screens.shot(page, "run")
    run_id = int(page.url.rsplit("/", 1)[1])
    async with live.api() as api:
        run = (await api.get(f"/api/v1/admin/runs/{run_id}")).json()
    assert run["status"] == "succeeded" and run["trigger"] == "web"
    await page.get_by_role("link", name="Back to jira").click()
    await expect(page.get_by_role("link", name=str(run_id), exact=True)).to_be_visible()
    await screens.shot(page, "source")
    await page.set_viewport_size(PHONE)
    await screens.shot(page, "source-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
    await page.set_viewport_size(LAPTOP)
    await page.get_by_role("link", name="Edit").click()
    await expect(page.get_by_label("API token")).to_have_value("")  # secrets never come back
    await screens.shot(page, "source-edit")


async def _failed_delivery(live: LiveService) -> dict[str, Any]:
    """A signed GitHub delivery whose payload the worker cannot apply."""
    source_id = live.source_ids["github"]
    body = encode({"action": "opened", "issue": {"number": 1}, "repository": {"full_name": "x"}})
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        posted = await client.post(
            f"/webhooks/github/{source_id}",
            content=body,
            headers=github_headers(body, "issues", secret=WEBHOOK_SECRET),
        )
    assert posted.status_code == 202, posted.text
    delivery_id = posted.json()["id"]
    async with live.api() as api:
        for _ in range(100):
            row = (await api.get(f"/api/v1/admin/webhook-deliveries/{delivery_id}")).json()
            if row["status"] == "failed":
                return dict(row)
            await asyncio.sleep(0.1)
    raise AssertionError(f"the delivery did not fail: {row}")


async def test_replay_a_failed_webhook_delivery(
    context: Any, live: LiveService, screens: Screens
) -> None:
    before = await _failed_delivery(live)
    page = await sign_in(context, live, Role.admin)
    await page.goto("/admin/webhooks")
    await page.get_by_label("Status").select_option("failed")  # the filter applies on change
    await expect(page).to_have_url(re.compile(r"status=failed"))
    await screens.shot(page, "webhooks")
    await page.get_by_role("link", name=f"#{before['id']}", exact=True).click()
    await expect(page.get_by_role("cell", name="[redacted]").first).to_be_visible()
    await page.get_by_role("button", name="Replay").click()
    await expect(page.get_by_text("Replayed:")).to_be_visible()
    await screens.shot(page, "webhook")
    async with live.api() as api:
        for _ in range(100):
            after = (await api.get(f"/api/v1/admin/webhook-deliveries/{before['id']}")).json()
            # Attempts restarted from 0 and the worker tried once more at once, long before
            # the failed row's own backoff was due.
            if after["status"] == "failed" and after["next_attempt_at"] > before["next_attempt_at"]:
                break
            await asyncio.sleep(0.1)
    assert after["attempts"] == 1 and after["status"] == "failed", after


async def test_a_form_post_without_the_csrf_token_is_refused(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.admin)
    source_id = live.source_ids["github"]
    async with live.api() as api:
        runs_before = (await api.get(f"/api/v1/admin/sources/{source_id}/runs")).json()["items"]
    await page.goto(f"/admin/sources/{source_id}")
    await page.locator(".sync-form input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(page.get_by_text("security token")).to_be_visible()
    await screens.shot(page, "csrf-403")
    async with live.api() as api:
        runs_after = (await api.get(f"/api/v1/admin/sources/{source_id}/runs")).json()["items"]
    assert len(runs_after) == len(runs_before)


async def test_subscription_and_a_digest_as_it_would_be_delivered(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.admin)
    await page.goto("/admin/subscriptions")
    await page.get_by_label("URL").fill(f"{live.base_url}/digest-hook")
    await page.get_by_label("Event types").fill("digest.ready")
    await page.get_by_role("button", name="Add subscription").click()
    await expect(page.locator(".secret-once")).to_contain_text("whsec_")
    await page.get_by_label("Cron (UTC)").fill("0 9 * * MON")
    await page.get_by_label("Deliver to").select_option(index=1)
    await page.get_by_role("button", name="Add schedule").click()
    await expect(page.locator("[data-digest-text]")).to_contain_text("Portfolio")
    await page.get_by_role("link", name="The last seven days instead").click()
    await expect(
        page.get_by_role("heading", name="A digest of the last seven days")
    ).to_be_visible()
    await screens.shot(page, "digest")
