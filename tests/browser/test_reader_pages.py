"""In Chromium, on each backend: sign in, the portfolio's numbers, an initiative's chart and items,
and what a reader may not do."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from schemas.enums import Role

from .conftest import PHONE, Screens, sign_in
from .live import LiveService

NODE_TYPES = ("objective", "key_result", "initiative")


def _shown(progress: float | None) -> str:
    return "n/a" if progress is None else f"{progress * 100:.1f}%"


def _expected(tree: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """What the page must show per node, from `GET /api/v1/portfolio`."""
    found: dict[tuple[str, str], dict[str, str]] = {}

    def add(node: dict[str, Any]) -> None:
        counts = node["explanation"]["counts"]
        total = sum(counts.values()) - counts.get("cancelled", 0)
        found[(node["node_type"], str(node["node_id"]))] = {
            "pct": _shown(node["progress"]),
            "done": f"{counts.get('done', 0)} / {total}",
        }
        for child in node.get("key_results", []) + node.get("objectives", []):
            add(child)
        for child in node.get("initiatives", []):
            add(child)

    for objective in tree["objectives"]:
        add(objective)
    for initiative in tree.get("unaligned_initiatives", []):
        add(initiative)
    return found


# Per node on the page: its own percentage and its own "Done a / b items" (not its children's).
_READ_NODES = """() => [...document.querySelectorAll('[data-node-type]')].map(n => {
  const pct = n.querySelector(':scope > .node-head .pct');
  const done = [...n.querySelectorAll(':scope > .node-meta div')]
    .map(d => d.innerText).find(t => t.startsWith('Done'));
  return {type: n.dataset.nodeType, id: n.dataset.nodeId,
          pct: pct ? pct.innerText.trim() : null,
          done: done ? done.replace(/^Done\\s*/, '').replace(/\\s*items$/, '').trim() : null};
})"""


async def test_sign_in_with_a_key_and_with_a_one_time_link(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await context.new_page()
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    await screens.shot(page, "sign-in")
    await page.get_by_label("API key").fill(live.key(Role.reader))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
    await expect(page.locator(".sign-out .who")).to_contain_text("browser-reader")
    # A reader has no admin navigation.
    await expect(page.get_by_role("link", name="Sources")).to_have_count(0)

    link = await live.sign_in_link(Role.admin)
    other = await context.browser.new_context(base_url=live.base_url)
    try:
        admin = await other.new_page()
        await admin.goto(link)
        await expect(admin.get_by_role("link", name="Sources")).to_be_visible()
        await expect(admin.locator(".sign-out .who")).to_contain_text("browser-admin")
        # The link works once.
        again = await other.new_page()
        response = await again.goto(link)
        assert response is not None and response.status == 400
    finally:
        await other.close()


async def test_portfolio_numbers_equal_the_api(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.reader)
    async with live.api(Role.reader) as api:
        tree = (await api.get("/api/v1/portfolio")).json()
    expected = _expected(tree)
    assert expected, "the seeded portfolio is empty"
    await page.goto("/")
    shown = {
        (n["type"], n["id"]): {"pct": n["pct"], "done": n["done"]}
        for n in await page.evaluate(_READ_NODES)
        if n["type"] in NODE_TYPES
    }
    assert shown.keys() == expected.keys()
    for key, numbers in expected.items():
        assert shown[key]["pct"] == numbers["pct"], key
        # Objectives and manual key results show progress only; initiatives always count work.
        if shown[key]["done"] is not None or key[0] == "initiative":
            assert shown[key]["done"] == numbers["done"], key
    assert any(n["done"] != "0 / 0" for n in expected.values())  # real synced work
    await screens.shot(page, "portfolio")
    await page.set_viewport_size(PHONE)
    await screens.shot(page, "portfolio-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"


async def test_an_initiative_shows_its_burn_up_chart_and_items(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.reader)
    await page.goto("/")
    await page.locator(".node-initiative a.node-title").first.click()
    await expect(page).to_have_url(re.compile(r"/initiatives/\d+$"))
    chart = page.locator(".chart svg")
    await expect(chart).to_be_visible()
    assert await chart.locator("text").count() > 2  # labelled axes and dates
    items = page.locator("tr[data-item-id]")
    assert await items.count() > 0
    first_key = items.first.locator("a").first
    assert (await first_key.get_attribute("href") or "").startswith("http")  # upstream URL
    await screens.shot(page, "initiative")


async def test_a_reader_gets_the_403_page_on_admin_pages(
    context: Any, live: LiveService, screens: Screens
) -> None:
    page = await sign_in(context, live, Role.reader)
    for path in ("/admin/sources", "/admin/rules/new", "/admin/webhooks"):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await screens.shot(page, "reader-403")
