"""End to end under injected upstream faults: 5xx, Jira 429 bursts, GitHub secondary-limit 403s,
connection resets, truncated bodies and a tiny GitHub budget. Every run completes, the store
equals the truth, and the simulator saw no request inside a Retry-After window or while the
budget was known to be empty.

Waits are virtual: the engine sleeps through `VirtualTime` and the simulator judges its windows
and budgets on the same time line, so the test is fast and a client that sends too early is
still caught.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.security import SecretBox
from service.simulator import server
from service.simulator.app import create_app as create_simulator
from service.simulator.config import SimulatorConfig
from service.store.db import Database
from service.sync.runner import SyncRunner

from .conftest import SIM_CONFIG
from .helpers import (
    VirtualTime,
    assert_equal,
    create_sources,
    judged_by,
    rate_limit_violations,
    sim_stats,
    sync,
)

RETRY_AFTER = 5
FAULTS: dict[str, Any] = {
    "error_rate": 0.1,
    "error_statuses": [500, 502, 503],
    "reset_rate": 0.08,
    "truncate_rate": 0.08,
    "jira_429": 3,
    "github_secondary": 2,
    "retry_after": RETRY_AFTER,
    "seed": 14,
}


@pytest.fixture
def virtual_time() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
async def virtual_sim(
    virtual_time: VirtualTime, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    def build(config: SimulatorConfig | None = None) -> Any:
        return judged_by(create_simulator(config), virtual_time)

    monkeypatch.setattr(server, "create_app", build)
    async with (
        server.running_simulator(SIM_CONFIG) as base_url,
        httpx.AsyncClient(base_url=base_url) as c,
    ):
        yield c


async def test_faults_runs_complete_and_match_the_truth(
    api: httpx.AsyncClient,
    virtual_sim: httpx.AsyncClient,
    virtual_time: VirtualTime,
    db: Database,
    service_settings: Settings,
    box: SecretBox,
) -> None:
    sim = virtual_sim
    api.app.state.sync_runner = SyncRunner(  # type: ignore[attr-defined]
        db, service_settings, box, clock=virtual_time.clock, sleep=virtual_time.sleep
    )
    ids = await create_sources(api, str(sim.base_url).rstrip("/"))
    # A budget far below one run's needs: the connector must wait for the reset, not drain it.
    await sim.post("/_sim/ratelimit", json={"limit": 4, "window": 60})
    response = await sim.post("/_sim/faults", json=FAULTS)
    assert response.status_code == 200, response.text

    runs = {upstream: await sync(api, source_id, "full") for upstream, source_id in ids.items()}
    await assert_equal(api, sim, ids)
    stats = await sim_stats(sim)
    assert rate_limit_violations(stats) == 0, stats["rate_limit_violations_by_upstream"]
    # Every kind of fault really happened, and the runs recovered from them.
    injected = stats["faults_injected"]
    assert set(injected) == {"server_error", "reset", "truncate", "jira_429", "github_secondary"}
    assert injected["jira_429"] == 3 and injected["github_secondary"] == 2
    assert all(run["retries"] > 0 for run in runs.values()), runs
    # Each rate-limited answer was waited out: 2 secondary-limit 403s and at least one budget
    # reset on GitHub, 3 Jira 429s, each for at least its Retry-After.
    assert runs["github"]["rate_limit_wait_seconds"] >= 2 * RETRY_AFTER + 30
    assert runs["jira"]["rate_limit_wait_seconds"] >= 3 * RETRY_AFTER
    waited = sum(run["rate_limit_wait_seconds"] for run in runs.values())
    assert virtual_time.skipped >= waited

    # Changes, then incremental and reconcile runs under a fresh round of the same faults.
    await sim.post(
        "/_sim/mutate",
        json={
            "github": {"update": 30, "create": 5, "delete": 3},
            "jira": {"update": 30, "create": 5, "delete": 4, "move": 2},
        },
    )
    await sim.post("/_sim/stats/reset")
    await sim.post("/_sim/faults", json=FAULTS | {"seed": 12})
    for source_id in ids.values():
        await sync(api, source_id, "incremental")
        await sync(api, source_id, "reconcile")
    await assert_equal(api, sim, ids)
    stats = await sim_stats(sim)
    assert sum(stats["faults_injected"].values()) >= 5
    assert rate_limit_violations(stats) == 0, stats["rate_limit_violations_by_upstream"]
