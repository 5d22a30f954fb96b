"""End to end: the service syncs the project's upstream simulator over real loopback HTTP.

The store must equal the simulator's truth after a full sync, after mutations and an incremental
sync, and after deletes and a reconcile; idle GitHub polls cost only 304s.
"""

from __future__ import annotations

import math

import httpx

from .helpers import (
    assert_equal,
    create_sources,
    rate_limit_violations,
    sim_stats,
    sync,
)


async def test_full_incremental_idle_and_reconcile_match_the_truth(
    api: httpx.AsyncClient, sim: httpx.AsyncClient
) -> None:
    ids = await create_sources(api, str(sim.base_url).rstrip("/"))
    for source_id in ids.values():
        await sync(api, source_id, "full")
    await assert_equal(api, sim, ids)

    # Idle: nothing changed upstream, so GitHub answers from its ETags and nothing is written.
    # The first poll after a multi-page run re-reads each repository's boundary item once.
    await sync(api, ids["github"], "incremental")
    await sim.post("/_sim/stats/reset")
    idle = await sync(api, ids["github"], "incremental")
    assert idle["items_created"] == idle["items_updated"] == 0
    stats = await sim_stats(sim)
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
    gh = await sync(api, ids["github"], "incremental")
    jira = await sync(api, ids["jira"], "incremental")
    await assert_equal(api, sim, ids)
    # At most ceil(k/100) + 1 list requests per repository / Jira scope.
    assert gh["requests"] <= 3 * (math.ceil((k + 5) / 100) + 1)
    assert jira["requests"] <= math.ceil((k + 7) / 100) + 1 + 1  # + the /myself look-up

    await sim.post("/_sim/mutate", json={"github": {"delete": 4}, "jira": {"delete": 6}})
    for upstream, source_id in ids.items():
        run = await sync(api, source_id, "reconcile")
        assert run["items_deleted"] == (4 if upstream == "github" else 6)
    await assert_equal(api, sim, ids)
    assert rate_limit_violations(await sim_stats(sim)) == 0
