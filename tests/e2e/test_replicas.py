"""Replicas on one PostgreSQL database: 3 `serve` and 2 `worker` processes, 20 sources.

Every process runs the poll scheduler (a tick every `TICK` seconds) against the same database;
the sources poll the simulator every `INTERVAL` seconds while the upstream mutates, and signed
webhook deliveries go round-robin to the three servers. Afterwards, from the database alone:

- per source, no two runs overlapped in time (the lease, not APScheduler, decides who syncs);
- no due poll was missed by more than one interval (gaps between a source's runs < 2 intervals);
- every acknowledged delivery was applied exactly once (processed, the cause of one change);
- once the upstream stops changing and every source has polled again, the store equals the truth.

Only PostgreSQL: replicas sharing one SQLite file is not a supported deployment.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change, SyncRun, WebhookDelivery
from schemas.types import utcnow
from service.security import SecretBox
from service.simulator.config import SimulatorConfig
from service.simulator.server import running_simulator
from service.store.db import Database

from ..webhooks.support import SECRET, encode, github_headers, issue_variant, load_github
from .helpers import assert_equal, source_bodies
from .processes import add_webhook_source, free_port, service_env, start, stop, wait_ready

SERVERS, WORKERS, SOURCES = 3, 2, 20
TICK = 0.25  # seconds between scheduler ticks, per process
INTERVAL = 10  # a source's poll interval (the smallest the API allows)
LOAD_SECONDS = 50.0
DELIVERIES_PER_SECOND = 10
CONFIG = SimulatorConfig(seed=17, github_issues=60, jira_issues=60)
_TICKS = re.compile(r'"scheduler_ticks": (\d+)')
_BASE = load_github("issues.opened.json")


def delivery(n: int) -> tuple[bytes, dict[str, str]]:
    body = encode(issue_variant(_BASE, n=n, title=f"replica {n}"))
    return body, github_headers(body, "issues", delivery=f"replica-{n}", secret=SECRET)


async def create_polled_sources(api: httpx.AsyncClient, sim_base: str) -> dict[int, str]:
    """SOURCES sources, half GitHub and half Jira, each over its whole upstream."""
    kinds: dict[int, str] = {}
    bodies = source_bodies(sim_base)
    for n in range(SOURCES):
        body = {**bodies[n % 2], "name": f"replica-{n}", "poll_interval_seconds": INTERVAL}
        response = await api.post("/api/v1/admin/sources", json=body)
        assert response.status_code == 201, response.text
        kinds[response.json()["id"]] = body["kind"]
    return kinds


async def send_round_robin(
    ports: list[int], source_id: int, stop_at: float, outcomes: dict[int, str]
) -> None:
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) for port in ports]
    try:
        n = 0
        started = time.monotonic()
        while time.monotonic() < stop_at:
            await asyncio.sleep(max(0.0, started + n / DELIVERIES_PER_SECOND - time.monotonic()))
            body, headers = delivery(n)
            try:
                response = await clients[n % len(clients)].post(
                    f"/webhooks/github/{source_id}", content=body, headers=headers
                )
                outcomes[n] = str(response.status_code)
            except httpx.TransportError as exc:
                outcomes[n] = type(exc).__name__
            n += 1
    finally:
        for client in clients:
            await client.aclose()


async def mutate_upstream(sim: httpx.AsyncClient, stop_at: float) -> int:
    """Update and create items on both upstreams every second; returns how many batches."""
    batches = 0
    while time.monotonic() < stop_at:
        response = await sim.post(
            "/_sim/mutate",
            json={"github": {"update": 3, "create": 1}, "jira": {"update": 3, "create": 1}},
        )
        assert response.status_code == 200, response.text
        batches += 1
        await asyncio.sleep(1.0)
    return batches


async def runs_by_source(db: Database) -> dict[int, list[SyncRun]]:
    async with db.session(readonly=True) as session:
        rows = (await session.execute(select(SyncRun).order_by(col(SyncRun.id)))).scalars()
        grouped: dict[int, list[SyncRun]] = {}
        for run in rows:
            grouped.setdefault(run.source_id, []).append(run)
    return grouped


async def wait_for_polls_after(db: Database, sources: list[int], moment: Any) -> None:
    """Until every source has a successful run that started after `moment`."""
    deadline = time.monotonic() + 4 * INTERVAL + 30
    while time.monotonic() < deadline:
        grouped = await runs_by_source(db)
        if all(
            any(
                r.status == "succeeded" and r.started_at and r.started_at > moment
                for r in grouped.get(s, [])
            )
            for s in sources
        ):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("not every source polled again after the upstream stopped changing")


async def test_replicas_share_one_database_without_overlap_or_missed_polls(
    api: httpx.AsyncClient,
    db: Database,
    database_url: str,
    secret_key: str,
    box: SecretBox,
    tmp_path: Path,
) -> None:
    if not db.is_postgres:
        pytest.skip("replicas share one PostgreSQL database; SQLite is a single-process store")
    async with running_simulator(CONFIG) as sim_base, httpx.AsyncClient(base_url=sim_base) as sim:
        kinds = await create_polled_sources(api, sim_base.rstrip("/"))
        hook_source = await add_webhook_source(db, box, SECRET, repos=["Codertocat/Hello-World"])
        env = service_env(
            database_url,
            secret_key,
            scheduler_tick_seconds=str(TICK),
            log_level="INFO",
            log_json="true",
            lease_ttl_seconds="30",
        )
        ports = [free_port() for _ in range(SERVERS)]
        logs = [tmp_path / f"serve-{i}.log" for i in range(SERVERS)]
        logs += [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
        procs = [
            start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
            for port, log in zip(ports, logs, strict=False)
        ]
        procs += [start(["worker"], env, log) for log in logs[SERVERS:]]
        outcomes: dict[int, str] = {}
        try:
            for port, proc, log in zip(ports, procs, logs, strict=False):
                await wait_ready(f"http://127.0.0.1:{port}", proc, log)
            stop_at = time.monotonic() + LOAD_SECONDS
            batches, _ = await asyncio.gather(
                mutate_upstream(sim, stop_at),
                send_round_robin(ports, hook_source, stop_at, outcomes),
            )
            await wait_for_polls_after(db, list(kinds), utcnow())
            grouped = await runs_by_source(db)
            await asyncio.sleep(1.0)  # the inbox workers finish what they acknowledged
        finally:
            for proc in procs:
                await stop(proc)
        # Each process logs how often its scheduler ticked when it stops.
        ticks = [sum(int(n) for n in _TICKS.findall(log.read_text())) for log in logs]

        # Every process ticked; together well over 200 scheduler ticks.
        assert all(count > 0 for count in ticks), ticks
        assert sum(ticks) >= 200, ticks
        # Per source: runs never overlapped, and none started more than one interval late.
        total_runs = 0
        worst_gap = 0.0
        for source_id in kinds:
            # Runs still going when the processes were stopped are left out.
            runs = [r for r in grouped[source_id] if r.finished_at is not None]
            total_runs += len(runs)
            assert all(r.status == "succeeded" for r in runs), [(r.id, r.error) for r in runs]
            for before, after in itertools.pairwise(runs):
                assert before.finished_at is not None and after.started_at is not None
                assert after.started_at >= before.finished_at, (source_id, before.id, after.id)
                gap = (after.created_at - before.created_at).total_seconds()
                worst_gap = max(worst_gap, gap)
                assert gap < 2 * INTERVAL, (source_id, before.id, after.id, gap)
            assert len(runs) >= LOAD_SECONDS // (2 * INTERVAL), (source_id, len(runs))
        # Every acknowledged delivery was applied exactly once.
        answered = Counter(outcomes.values())
        assert not [o for o in answered if not o.startswith("2")], answered
        deadline = time.monotonic() + 30
        while True:
            async with db.session(readonly=True) as session:
                deliveries = (await session.execute(select(WebhookDelivery))).scalars().all()
                causes = Counter((await session.execute(select(col(Change.cause)))).scalars())
            ours = [d for d in deliveries if d.source_id == hook_source]
            if all(d.status == "processed" for d in ours) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert len(ours) == len(outcomes)
        for delivery_row in ours:
            assert delivery_row.status == "processed", (
                delivery_row.delivery_id,
                delivery_row.error,
            )
            assert causes[f"webhook:{delivery_row.delivery_id}"] == 1, delivery_row.delivery_id
        # The store equals the upstream's truth for every source.
        for source_id, kind in kinds.items():
            await assert_equal(api, sim, {kind: source_id})
        print(
            f"replicas: {SERVERS} serve + {WORKERS} worker, {SOURCES} sources, "
            f"{sum(ticks)} scheduler ticks ({ticks}), {total_runs} runs, worst gap between a "
            f"source's runs {worst_gap:.1f} s (interval {INTERVAL} s), {batches} mutation "
            f"batches, {len(outcomes)} deliveries acknowledged ({dict(answered)}), all applied once"
        )
