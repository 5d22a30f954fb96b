"""Shared steps of the end-to-end tests: sources through the admin API, runs, store vs. truth."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

FIELDS = ("kind", "title", "status_category", "parent_key", "labels", "estimate")
FINISHED = ("succeeded", "failed", "abandoned")


def source_bodies(sim_base: str, suffix: str = "") -> list[dict[str, Any]]:
    """A GitHub source (org repos + Projects v2) and a Jira source on the simulator."""
    return [
        {
            "kind": "github",
            "name": f"gh{suffix}",
            "base_url": f"{sim_base}/github",
            "credentials": {"token": "t"},
            "scope": {
                "org": "acme",
                "projects": [{"owner": "acme", "owner_type": "organization", "number": 1}],
            },
        },
        {
            "kind": "jira",
            "name": f"jira{suffix}",
            "base_url": f"{sim_base}/jira",
            "credentials": {"email": "e@example.com", "api_token": "t"},
            "scope": {"projects": ["PLAT", "MOB", "OPS"]},
        },
    ]


async def create_sources(api: httpx.AsyncClient, sim_base: str, suffix: str = "") -> dict[str, int]:
    """Source ids by upstream (`github`, `jira`)."""
    ids = {}
    for body in source_bodies(sim_base, suffix):
        response = await api.post("/api/v1/admin/sources", json=body)
        assert response.status_code == 201, response.text
        ids[body["kind"]] = response.json()["id"]
    return ids


async def sync(api: httpx.AsyncClient, source_id: int, mode: str) -> dict[str, Any]:
    """Start a run through the admin API and wait for it; it must succeed."""
    response = await api.post(f"/api/v1/admin/sources/{source_id}/sync", json={"mode": mode})
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    for _ in range(600):
        run = await get_run(api, run_id)
        if run["status"] in FINISHED:
            assert run["status"] == "succeeded", run
            return run
        await asyncio.sleep(0.05)
    raise AssertionError("run did not finish")


async def get_run(api: httpx.AsyncClient, run_id: int) -> dict[str, Any]:
    response = await api.get(f"/api/v1/admin/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def runs_of(api: httpx.AsyncClient, source_id: int) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/admin/sources/{source_id}/runs", params={"limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def store(api: httpx.AsyncClient, source_id: int) -> dict[str, dict[str, Any]]:
    """The live work items of a source, by key, in the truth's canonical form."""
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


async def truth(sim: httpx.AsyncClient, upstream: str) -> dict[str, dict[str, Any]]:
    rows = (await sim.get("/_sim/truth")).json()
    return {
        row["key"]: {f: row[f] for f in FIELDS} | {"labels": sorted(row["labels"])}
        for row in rows
        if row["source"] == upstream and not row["deleted"]
    }


async def assert_equal(api: httpx.AsyncClient, sim: httpx.AsyncClient, ids: dict[str, int]) -> None:
    """Every given source's store equals the simulator's truth for its upstream."""
    for upstream, source_id in ids.items():
        stored, expected = await store(api, source_id), await truth(sim, upstream)
        assert stored.keys() == expected.keys(), (
            upstream,
            sorted(stored.keys() - expected.keys())[:5],
            sorted(expected.keys() - stored.keys())[:5],
        )
        wrong = [
            (
                key,
                {
                    f: (stored[key][f], expected[key][f])
                    for f in FIELDS
                    if stored[key][f] != expected[key][f]
                },
            )
            for key in sorted(expected)
            if stored[key] != expected[key]
        ]
        assert not wrong, f"{upstream}: {len(wrong)} differ, e.g. {wrong[:3]}"


async def sim_stats(sim: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await sim.get("/_sim/stats")).json())


def rate_limit_violations(stats: dict[str, Any]) -> int:
    return int(stats.get("rate_limit_violations", 0))
