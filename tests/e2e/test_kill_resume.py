"""End to end: `kill -9` of a `portfolio-sync sync` process mid-run, then a rerun.

Two real subprocesses (one per upstream) run a full sync against the test's database (a SQLite
file or a throwaway PostgreSQL database) while the simulator answers slowly; each is killed with
SIGKILL after a few committed pages. Once the dead holder's short lease expires, a full rerun
continues the killed run's generation from its checkpoints: the killed run ends `abandoned`, the
store equals the truth, every item was created once, nothing stored was listed again, and at
most one page more was fetched than by a clean full run (the page read ahead at the kill).

The clean runs go to a twin simulator (same seed, same data, no latency) while the subprocesses
start, so the slow part of the test is only the part that needs to be slow.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import SyncRun
from service.simulator.config import SimulatorConfig
from service.simulator.server import running_simulator
from service.store.db import Database

from .helpers import (
    FINISHED,
    assert_equal,
    create_sources,
    get_run,
    rate_limit_violations,
    runs_of,
    sim_stats,
    sync,
)

# Several pages per stream: 145, 126 and 129 issues and PRs per repository (2 pages each), 1,000
# Jira issues (10 pages, killed after page 4).
CONFIG = SimulatorConfig(seed=5, github_issues=400, jira_issues=1000)
PAGE_ENDPOINTS = {
    "github": ("GET /github/repos/{owner}/{repo}/issues",),
    "jira": ("POST /jira/rest/api/3/search/jql", "GET /jira/rest/api/3/search/jql"),
}
# GitHub: killed in the second repository, after the first one finished; Jira: mid-search.
KILL_AFTER_PAGES = {"github": 3, "jira": 4}
LATENCY_MS = 100
CLI = Path(sys.executable).with_name("portfolio-sync")


def page_fetches(stats: dict[str, Any], upstream: str) -> int:
    """Successful page requests (200s) of an upstream's item listings and searches."""
    return sum(
        stats["requests"].get(endpoint, {}).get("200", 0) for endpoint in PAGE_ENDPOINTS[upstream]
    )


def start_sync(
    source: str, database_url: str, secret_key: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORTFOLIO_SYNC_DATABASE_URL": database_url,
        "PORTFOLIO_SYNC_SECRET_KEY": secret_key,
        "PORTFOLIO_SYNC_ALLOW_PRIVATE_UPSTREAMS": "true",
        # The dead holder's lease must lapse quickly for the rerun; a live one renews it.
        "PORTFOLIO_SYNC_LEASE_TTL_SECONDS": "1",
        "PORTFOLIO_SYNC_LOG_JSON": "true",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CLI), "sync", "--source", source, "--mode", "full"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def latest_run(db: Database, source_id: int) -> SyncRun | None:
    async with db.session(readonly=True) as session:
        latest = select(func.max(col(SyncRun.id))).where(col(SyncRun.source_id) == source_id)
        run_id = (await session.execute(latest)).scalar()
        return None if run_id is None else await session.get(SyncRun, run_id)


async def kill_after_pages(
    db: Database, proc: subprocess.Popen[bytes], source_id: int, pages: int, log: Path
) -> int:
    """SIGKILL `proc` once its run has committed `pages` pages; returns the run id."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = await latest_run(db, source_id)
        if run is not None and run.pages >= pages:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            assert run.status == "running", (run, log.read_text())  # noqa: ASYNC240
            assert run.id is not None
            return run.id
        if proc.poll() is not None:
            raise AssertionError(f"sync exited ({proc.returncode}): {log.read_text()}")  # noqa: ASYNC240
        await asyncio.sleep(0.02)
    raise AssertionError(f"no progress: {log.read_text()}")  # noqa: ASYNC240


async def sync_when_lease_lapses(
    api: httpx.AsyncClient, source_id: int, mode: str
) -> dict[str, Any]:
    """The dead holder's lease refuses a new run (409) until it expires."""
    for _ in range(100):
        response = await api.post(f"/api/v1/admin/sources/{source_id}/sync", json={"mode": mode})
        if response.status_code == 202:
            run_id = response.json()["run_id"]
            for _ in range(600):
                run = await get_run(api, run_id)
                if run["status"] in FINISHED:
                    assert run["status"] == "succeeded", run
                    return run
                await asyncio.sleep(0.05)
            raise AssertionError("rerun did not finish")
        assert response.status_code == 409, response.text
        await asyncio.sleep(0.1)
    raise AssertionError("the dead holder's lease never expired")


async def clean_baseline(
    api: httpx.AsyncClient, twin: httpx.AsyncClient
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """A clean full run per upstream: its run and its page fetches."""
    ids = await create_sources(api, str(twin.base_url).rstrip("/"), suffix="-clean")
    runs: dict[str, dict[str, Any]] = {}
    fetches: dict[str, int] = {}
    for upstream, source_id in ids.items():
        await twin.post("/_sim/stats/reset")
        runs[upstream] = await sync(api, source_id, "full")
        fetches[upstream] = page_fetches(await sim_stats(twin), upstream)
    await assert_equal(api, twin, ids)
    return runs, fetches


async def test_kill_9_mid_run_then_rerun_matches_the_truth(
    api: httpx.AsyncClient,
    db: Database,
    database_url: str,
    secret_key: str,
    tmp_path: Path,
) -> None:
    async with AsyncExitStack() as stack:
        sims = []
        for _ in range(2):
            base_url = await stack.enter_async_context(running_simulator(CONFIG))
            sims.append(await stack.enter_async_context(httpx.AsyncClient(base_url=base_url)))
        sim, twin = sims
        ids = await create_sources(api, str(sim.base_url).rstrip("/"))
        await sim.post("/_sim/faults", json={"latency_ms": LATENCY_MS})
        names = {"github": "gh", "jira": "jira"}
        logs = {upstream: tmp_path / f"{upstream}.log" for upstream in ids}
        procs = {u: start_sync(names[u], database_url, secret_key, logs[u]) for u in ids}
        try:
            (clean, clean_fetches), *killed_ids = await asyncio.gather(
                clean_baseline(api, twin),
                *(
                    kill_after_pages(db, procs[u], ids[u], KILL_AFTER_PAGES[u], logs[u])
                    for u in ids
                ),
            )
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        killed = dict(zip(ids, killed_ids, strict=True))
        await sim.post("/_sim/faults/clear")

        reruns = {u: await sync_when_lease_lapses(api, ids[u], "full") for u in ids}
        await assert_equal(api, sim, ids)
        stats = await sim_stats(sim)
        assert rate_limit_violations(stats) == 0
        for upstream, source_id in ids.items():
            dead = await get_run(api, killed[upstream])
            assert dead["status"] == "abandoned", dead
            assert dead["pages"] >= KILL_AFTER_PAGES[upstream] and dead["items_created"] > 0
            rerun = reruns[upstream]
            # Every item was created exactly once across the two runs, as in the clean run ...
            created = dead["items_created"] + rerun["items_created"]
            assert created == clean[upstream]["items_created"], (dead, rerun)
            # ... the rerun continued the killed run's listing: same generation, nothing stored
            # was listed again, and nothing was swept (the killed run's marks carried over) ...
            assert rerun["generation"] == killed[upstream], rerun
            assert rerun["items_unchanged"] == 0 and rerun["items_deleted"] == 0, (dead, rerun)
            # ... and only pages in flight at the kill were fetched twice: at a random instant
            # one page is being stored and the next one read ahead (right after a commit, only
            # the one read ahead: see tests/sync/test_engine.py).
            fetched = page_fetches(stats, upstream)
            assert fetched <= clean_fetches[upstream] + 2, (upstream, fetched, clean_fetches)
            print(
                f"{upstream}: clean full {clean_fetches[upstream]} list pages, killed + resumed "
                f"{fetched} list pages"
            )
            statuses = [r["status"] for r in await runs_of(api, source_id)]
            assert statuses == ["abandoned", "succeeded"]
