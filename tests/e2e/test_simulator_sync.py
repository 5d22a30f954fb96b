"""End to end: the service syncs the project's upstream simulator over real loopback HTTP.

The store must equal the simulator's truth after a full sync, after mutations and an incremental
sync, and after deletes and a reconcile; idle GitHub polls cost only 304s.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.runtime import sync_runner
from service.security import SecretBox
from service.simulator.config import SimulatorConfig
from service.simulator.server import running_simulator
from service.store.db import Database

FIELDS = ("kind", "title", "status_category", "parent_key", "labels", "estimate")


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    config = SimulatorConfig(seed=7, github_issues=260, jira_issues=240)
    async with running_simulator(config) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        yield c


@pytest.fixture
async def api(db: Database, database_url: str, secret_box: SecretBox, admin_headers):  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=database_url, allow_private_upstreams=True, scheduler_enabled=False
    )
    app = create_app(settings, database=db, secret_box=secret_box)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service", headers=admin_headers, timeout=60
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await sync_runner(app).aclose()


async def _create_sources(api: httpx.AsyncClient, sim_base: str) -> dict[str, int]:
    bodies = [
        {
            "kind": "github",
            "name": "gh",
            "base_url": f"{sim_base}/github",
            "credentials": {"token": "t"},
            "scope": {
                "org": "acme",
                "projects": [{"owner": "acme", "owner_type": "organization", "number": 1}],
            },
        },
        {
            "kind": "jira",
            "name": "jira",
            "base_url": f"{sim_base}/jira",
            "credentials": {"email": "e@example.com", "api_token": "t"},
            "scope": {"projects": ["PLAT", "MOB", "OPS"]},
        },
    ]
    ids = {}
    for body in bodies:
        response = await api.post("/api/v1/admin/sources", json=body)
        assert response.status_code == 201, response.text
        ids[body["kind"]] = response.json()["id"]
    return ids


async def _sync(api: httpx.AsyncClient, source_id: int, mode: str) -> dict[str, Any]:
    response = await api.post(f"/api/v1/admin/sources/{source_id}/sync", json={"mode": mode})
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    for _ in range(600):
        run = (await api.get(f"/api/v1/admin/runs/{run_id}")).json()
        if run["status"] in ("succeeded", "failed", "abandoned"):
            assert run["status"] == "succeeded", run
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError("run did not finish")


async def _store(api: httpx.AsyncClient, source_id: int) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"source_id": source_id, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/work-items", params=params)).json()
        for item in page["items"]:
            items[item["key"]] = {f: item[f] for f in FIELDS} | {"labels": sorted(item["labels"])}
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _truth(sim: httpx.AsyncClient, upstream: str) -> dict[str, dict[str, Any]]:
    rows = (await sim.get("/_sim/truth")).json()
    return {
        row["key"]: {f: row[f] for f in FIELDS} | {"labels": sorted(row["labels"])}
        for row in rows
        if row["source"] == upstream and not row["deleted"]
    }


async def _assert_equal(
    api: httpx.AsyncClient, sim: httpx.AsyncClient, ids: dict[str, int]
) -> None:
    for upstream, source_id in ids.items():
        store, truth = await _store(api, source_id), await _truth(sim, upstream)
        assert store.keys() == truth.keys(), (
            upstream,
            sorted(store.keys() - truth.keys())[:5],
            sorted(truth.keys() - store.keys())[:5],
        )
        wrong = [
            (
                key,
                {
                    f: (store[key][f], truth[key][f])
                    for f in FIELDS
                    if store[key][f] != truth[key][f]
                },
            )
            for key in sorted(truth)
            if store[key] != truth[key]
        ]
        assert not wrong, f"{upstream}: {len(wrong)} differ, e.g. {wrong[:3]}"


async def _requests(sim: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await sim.get("/_sim/stats")).json())


async def test_full_incremental_idle_and_reconcile_match_the_truth(
    api: httpx.AsyncClient, sim: httpx.AsyncClient
) -> None:
    ids = await _create_sources(api, str(sim.base_url).rstrip("/"))
    for source_id in ids.values():
        await _sync(api, source_id, "full")
    await _assert_equal(api, sim, ids)

    # Idle: nothing changed upstream, so GitHub answers from its ETags and nothing is written.
    # The first poll after a multi-page run re-reads each repository's boundary item once.
    await _sync(api, ids["github"], "incremental")
    await sim.post("/_sim/stats/reset")
    idle = await _sync(api, ids["github"], "incremental")
    assert idle["items_created"] == idle["items_updated"] == 0
    stats = await _requests(sim)
    issue_lists = {ep: c for ep, c in stats["requests"].items() if ep.endswith("/issues")}
    assert issue_lists and all(set(c) == {"304"} for c in issue_lists.values()), issue_lists
    assert stats["not_modified"] == 3  # one free conditional request per repository

    k = 40
    changed = (
        await sim.post(
            "/_sim/mutate",
            json={
                "github": {"update": k, "create": 5},
                "jira": {"update": k, "create": 5, "move": 2},
            },
        )
    ).json()
    assert len(changed["github"]["updated"]) == k and len(changed["jira"]["moved"]) == 2
    gh = await _sync(api, ids["github"], "incremental")
    jira = await _sync(api, ids["jira"], "incremental")
    await _assert_equal(api, sim, ids)
    # At most ceil(k/100) + 1 list requests per repository / Jira scope.
    assert gh["requests"] <= 3 * (math.ceil((k + 5) / 100) + 1)
    assert jira["requests"] <= math.ceil((k + 7) / 100) + 1 + 1  # + the /myself look-up

    await sim.post("/_sim/mutate", json={"github": {"delete": 4}, "jira": {"delete": 6}})
    for upstream, source_id in ids.items():
        run = await _sync(api, source_id, "reconcile")
        assert run["items_deleted"] == (4 if upstream == "github" else 6)
    await _assert_equal(api, sim, ids)
    assert rate_limit_violations(await _requests(sim)) == 0


def rate_limit_violations(stats: dict[str, Any]) -> int:
    return int(stats.get("rate_limit_violations", 0))
