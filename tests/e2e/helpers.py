"""Shared steps of the end-to-end tests: sources through the admin API, runs, store vs. truth."""

from __future__ import annotations

import asyncio
import time as _time
from datetime import UTC, datetime
from typing import Any

import httpx

from service.simulator.middleware import SimulatorMiddleware
from service.simulator.ratelimit import Budget, RetryWindows

FIELDS = ("kind", "title", "status_category", "parent_key", "labels", "estimate")
FINISHED = ("succeeded", "failed", "abandoned")


def source_bodies(sim_base: str, suffix: str = "") -> list[dict[str, Any]]:
    """A GitHub source (org repos + Projects v2) and a Jira source on the simulator."""
    return [
        {
            "kind": "github",
            "name": f"gh{suffix}",
            "base_url": f"{sim_base}/github",
            "credentials": {"token": "ghp_e2eSimulatorToken0123456789"},
            "scope": {
                "org": "acme",
                "projects": [{"owner": "acme", "owner_type": "organization", "number": 1}],
            },
        },
        {
            "kind": "jira",
            "name": f"jira{suffix}",
            "base_url": f"{sim_base}/jira",
            "credentials": {"email": "sync@example.com", "api_token": "jira-e2e-token-0123456789"},
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


class VirtualTime:
    """Wall-clock time plus every wait skipped by `sleep`.

    The engine sleeps through it (rate-limit waits and retry backoffs return at once) and the
    simulator judges its Retry-After windows and budgets by `time`, so a client that does not
    wait long enough still sends inside the window and is counted as a violation.
    """

    def __init__(self) -> None:
        self.skipped = 0.0
        self.waits: list[float] = []

    def time(self) -> float:
        return _time.time() + self.skipped

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.skipped += max(seconds, 0.0)
        await asyncio.sleep(0)


def judged_by(app: SimulatorMiddleware, time: VirtualTime) -> SimulatorMiddleware:
    """The simulator `app` with its Retry-After windows and GitHub budgets on `time`."""
    state = app.state
    config = state.config
    state.windows = RetryWindows(now=time.time)
    state.core = Budget("core", config.rate_limit, config.rate_limit_window, now=time.time)
    state.graphql = Budget("graphql", config.rate_limit, config.rate_limit_window, now=time.time)
    return app
