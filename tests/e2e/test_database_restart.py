"""PostgreSQL restarted (`pg_ctlcluster … restart`) under webhook load.

A real `portfolio-sync serve` (receiver plus inbox worker) takes a stream of signed deliveries
while the database server is restarted underneath it. While the database is away the receiver
answers 503 with `Retry-After` (never a 500, never a 2xx for a delivery it could not commit);
once it is back, every acknowledged delivery is applied exactly once, and the ones the sender
got a 503 for are accepted and applied once when it retries them.

The restart stops every session on the server, so the test runs only where it is the server's
sole user: with `PORTFOLIO_SYNC_TEST_PG_RESTART=1` (`.ci/run` sets it on CI), as root, on the
PostgreSQL backend. Elsewhere it skips and says why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change, WebhookDelivery
from service.security import SecretBox
from service.store.db import Database

from ..webhooks.support import SECRET
from .helpers import assert_equal, create_sources
from .processes import add_webhook_source, free_port, service_env, start_serve, stop, wait_ready
from .test_kill_resume import latest_run, start_sync, sync_when_lease_lapses
from .test_kill_under_load import delivery, retry_unanswered, wait_applied

pytestmark = pytest.mark.pg_restart
RATE = 50  # deliveries a second while the server restarts
HOOK_ID = "292430182"


def restart_command() -> list[str]:
    if os.environ.get("PORTFOLIO_SYNC_TEST_PG_RESTART") != "1":
        pytest.skip("restarts the shared PostgreSQL server: set PORTFOLIO_SYNC_TEST_PG_RESTART=1")
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("the PostgreSQL server cannot be restarted here (pg_ctlcluster as root)")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", "fast", version, "main", "restart"]


async def send_through_restart(
    base_url: str, source_id: int, restart: list[str], outcomes: dict[int, tuple[str, str]]
) -> float:
    """Deliveries at RATE a second for a second, through the restart, and a second after it;
    records (status, Retry-After) per delivery; returns how long the restart took."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:

        async def one(n: int) -> None:
            body, headers = delivery(n)
            try:
                response = await client.post(
                    f"/webhooks/github/{source_id}", content=body, headers=headers
                )
                outcomes[n] = (str(response.status_code), response.headers.get("retry-after", ""))
            except httpx.TransportError as exc:
                outcomes[n] = (type(exc).__name__, "")

        tasks: list[asyncio.Task[None]] = []
        restarting = asyncio.create_task(asyncio.to_thread(_run, restart))
        started = time.monotonic()
        n = 0
        while not restarting.done() or time.monotonic() - started < 1.0:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            await asyncio.sleep(1 / RATE)
        took = await restarting
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            tasks.append(asyncio.create_task(one(n)))
            n += 1
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*tasks)
        return took


def _run(command: list[str]) -> float:
    time.sleep(1.0)  # the load runs a moment before the server goes away
    return _run_now(command)


async def test_postgres_restart_under_webhook_load_loses_no_acknowledged_delivery(
    db: Database, database_url: str, secret_key: str, box: SecretBox, tmp_path: Path
) -> None:
    if not db.is_postgres:
        pytest.skip("a PostgreSQL server restart")
    restart = restart_command()
    source_id = await add_webhook_source(db, box, SECRET, repos=["Codertocat/Hello-World"])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    serve = start_serve(port, service_env(database_url, secret_key), log)
    outcomes: dict[int, tuple[str, str]] = {}
    try:
        await wait_ready(base_url, serve, log)
        took = await send_through_restart(base_url, source_id, restart, outcomes)
        # The test's own pool lost its connections too: pre-ping replaces them.
        answered = Counter(status for status, _ in outcomes.values())
        acknowledged = {n for n, (status, _) in outcomes.items() if status in ("200", "202")}
        retried = await retry_unanswered(
            base_url, source_id, {n: status for n, (status, _) in outcomes.items()}
        )
        await wait_applied(db, len(outcomes))
        assert serve.poll() is None, log.read_text()
    finally:
        await stop(serve)

    total = len(outcomes)
    assert not [s for s in answered if s.startswith("5") and s != "503"], answered
    assert answered["503"] > 0, ("the restart was never seen by the receiver", answered)
    assert all(after.isdigit() for status, after in outcomes.values() if status == "503")
    async with db.session(readonly=True) as session:
        rows = {
            r.delivery_id: r for r in (await session.execute(select(WebhookDelivery))).scalars()
        }
        causes = Counter((await session.execute(select(col(Change.cause)))).scalars().all())
    assert len(rows) == total
    for n in range(total):
        row = rows[f"{HOOK_ID}:load-{n}"]
        assert row.status == "processed", (n, row.status, row.error)
        assert causes[f"webhook:{HOOK_ID}:load-{n}"] == 1, (n, outcomes[n])
    print(
        f"PostgreSQL restart under load: restart took {took:.1f} s; {total} deliveries at "
        f"{RATE}/s; answers {dict(answered)}; {len(acknowledged)} acknowledged and all applied "
        f"once; unanswered retried {dict(retried)}"
    )


async def test_postgres_restart_mid_sync_fails_clearly_then_converges(
    api: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    db: Database,
    database_url: str,
    secret_key: str,
    tmp_path: Path,
) -> None:
    if not db.is_postgres:
        pytest.skip("a PostgreSQL server restart")
    restart = restart_command()
    ids = await create_sources(api, str(sim.base_url).rstrip("/"))
    await sim.post("/_sim/faults", json={"latency_ms": 150})
    log = tmp_path / "sync.log"
    proc = start_sync("jira", database_url, secret_key, log)
    try:
        while (run := await latest_run(db, ids["jira"])) is None or run.pages < 1:
            assert proc.poll() is None, log.read_text()
            await asyncio.sleep(0.05)
        took = await asyncio.to_thread(_run_now, restart)
        code = await asyncio.wait_for(asyncio.to_thread(proc.wait), 120)
    finally:
        if proc.poll() is None:
            await stop(proc)
    await sim.post("/_sim/faults/clear")
    run = await latest_run(db, ids["jira"])
    assert run is not None and run.status in ("failed", "succeeded", "abandoned"), run
    if run.status != "succeeded":
        # Failed runs say what happened; the process exits non-zero.
        assert code != 0 and run.error and "Traceback" not in run.error, (run, log.read_text())
    rerun = await sync_when_lease_lapses(api, ids["jira"], "incremental")
    await assert_equal(api, sim, {"jira": ids["jira"]})
    print(
        f"PostgreSQL restart mid-sync: restart took {took:.1f} s; the run in flight ended "
        f"{run.status} ({run.error or 'no error'}); the next run {rerun['status']} and the store "
        "equals the truth"
    )


def _run_now(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return time.monotonic() - started
