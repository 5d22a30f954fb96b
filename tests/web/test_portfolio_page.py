"""The portfolio page: the API's numbers on every node, filters, empty states."""

from __future__ import annotations

from typing import Any

import httpx

from schemas.enums import Role
from service.store.db import Database
from tests.web.conftest import Seeded
from tests.web.support import data_nodes, signed_in_as


def _api_nodes(tree: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """What the page must state per node, computed from the API's JSON."""
    found: dict[tuple[str, str], dict[str, str]] = {}

    def add(node: dict[str, Any]) -> None:
        counts, points = node["explanation"]["counts"], node["explanation"]["points"]
        found[(node["node_type"], str(node["node_id"]))] = {
            "progress": "" if node["progress"] is None else repr(node["progress"]),
            "health": node["health"] or "",
            "done": str(counts.get("done", 0)),
            "total": str(sum(counts.values()) - counts.get("cancelled", 0)),
            "done-points": f"{points.get('done', 0.0):g}",
            "total-points": f"{sum(points.values()) - points.get('cancelled', 0.0):g}",
        }
        for child in (
            node.get("key_results", [])
            + node.get("objectives", [])
            + node.get("initiatives", [])
            + (node.get("epics") or [])
        ):
            add(child)

    for objective in tree["objectives"]:
        add(objective)
    for initiative in tree["unaligned_initiatives"]:
        add(initiative)
    return found


def _page_nodes(html: str) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (n["node-type"], n["node-id"]): {
            k: v for k, v in n.items() if k not in ("node-type", "node-id")
        }
        for n in data_nodes(html, "node-type")
    }


async def test_numbers_equal_the_api(
    client: httpx.AsyncClient, db: Database, seeded: Seeded, reader_headers: dict[str, str]
) -> None:
    api = await client.get(
        "/api/v1/portfolio", params={"include_epics": "true"}, headers=reader_headers
    )
    assert api.status_code == 200
    expected = _api_nodes(api.json())
    await signed_in_as(client, db, Role.reader)
    page = await client.get("/")
    assert page.status_code == 200
    shown = _page_nodes(page.text)
    assert shown == expected
    # The seeded work is really counted (not an empty tree compared with an empty tree).
    app_v2 = shown[("initiative", str(seeded.initiatives["app_v2"]))]
    assert (app_v2["done"], app_v2["total"]) == ("1", "3")
    assert ("epic", str(seeded.items["MOB-1"])) in shown
    assert "Unaligned idea" in page.text and "team-platform" in page.text


async def test_filters_by_health_owner_and_objective(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    by_owner = _page_nodes((await client.get("/", params={"owner": "team-platform"})).text)
    initiatives = {i for t, i in by_owner if t == "initiative"}
    assert initiatives == {str(seeded.initiatives["reliability"])}
    assert ("objective", str(seeded.objectives["platform"])) in by_owner
    assert ("objective", str(seeded.objectives["mobile"])) not in by_owner

    by_objective = _page_nodes(
        (await client.get("/", params={"objective_id": seeded.objectives["mobile"]})).text
    )
    assert {i for t, i in by_objective if t == "objective"} == {str(seeded.objectives["mobile"])}
    assert ("initiative", str(seeded.initiatives["loose"])) not in by_objective

    everything = _page_nodes((await client.get("/")).text)
    health = everything[("initiative", str(seeded.initiatives["app_v2"]))]["health"]
    assert health  # it has dates, so it has a health
    by_health = _page_nodes((await client.get("/", params={"health": health})).text)
    assert all(v["health"] == health for (t, _i), v in by_health.items() if t == "initiative")
    assert ("initiative", str(seeded.initiatives["app_v2"])) in by_health
    assert ("initiative", str(seeded.initiatives["reliability"])) not in by_health


async def test_epics_can_be_hidden_and_shown(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    epic = ("epic", str(seeded.items["MOB-1"]))
    hidden = _page_nodes((await client.get("/", params={"epics": "hidden"})).text)
    shown = _page_nodes((await client.get("/", params={"epics": "shown"})).text)
    assert epic not in hidden and epic in shown
    assert {k: v for k, v in shown.items() if k[0] != "epic"} == hidden


async def test_bad_filter_shows_the_error_by_its_field(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    page = await client.get("/", params={"health": "great", "objective_id": "999999"})
    assert page.status_code == 422
    assert 'id="e-health"' in page.text
    assert "text/html" in page.headers["content-type"]


async def test_empty_states_point_to_sources_and_rules(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in_as(client, db, Role.admin)
    page = await client.get("/")
    assert page.status_code == 200
    assert 'href="/admin/sources"' in page.text and "No sources yet" in page.text
    assert 'href="/admin/rules"' in page.text and "No mapping rules yet" in page.text
