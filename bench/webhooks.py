"""Benchmark: webhook acknowledgement latency and inbox drain rate, on SQLite and PostgreSQL.

Starts the real app (uvicorn, loopback, free port) and the inbox worker in a second process
(as `serve` plus `worker` run in production), posts signed GitHub deliveries open-loop at 50,
200 and 500 req/s (each a new issue, so every one is a real upsert), and reports
acknowledgement latency p50/p99. Then it inserts a backlog straight into the inbox and times
the worker draining it. Prints JSON and writes `bench/results/webhooks.json`.

    .venv/bin/python -m bench.webhooks [--seconds 4] [--backlog 2000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlmodel import col

from schemas.tables import Source, WebhookDelivery
from schemas.types import utcnow
from service.app import create_app
from service.config import get_settings
from service.security import SecretBox, generate_secret_key
from service.store.db import Database
from service.store.migrate import upgrade_async
from service.webhooks.worker import start_inbox_worker

RATES = (50, 200, 500)
SECRET = "bench-webhook-secret"
PG_ADMIN_DSN = os.environ.get(
    "PORTFOLIO_SYNC_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
FIXTURE = Path(__file__).parent.parent / "tests/fixtures/github/webhooks/issues.opened.json"
RESULTS = Path(__file__).parent / "results" / "webhooks.json"


def server_app() -> FastAPI:
    """What uvicorn serves: the receiver, plus the inbox worker when it runs in-process.

    SQLite is the single-node setup, where `serve` runs the worker in its own process; on
    PostgreSQL the worker runs beside it as `portfolio-sync worker` (below).
    """
    if os.environ.get("BENCH_WORKER") == "inprocess":
        return create_app(get_settings(), background=_inbox_only)
    return create_app(get_settings())


async def _inbox_only(app: FastAPI) -> Callable[[], Awaitable[None]]:
    return await start_inbox_worker(app)


async def _worker_process() -> None:
    """The inbox worker alone, as `portfolio-sync worker` runs it beside `serve`."""
    app = create_app(get_settings())
    stop = await start_inbox_worker(app)
    try:
        await asyncio.Event().wait()
    finally:
        await stop()


def _payload(n: int, base: dict[str, Any]) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    payload["issue"].update(id=50_000_000 + n, node_id=f"I_bench_{n}", number=n + 1)
    return payload


def _delivery(n: int, base: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(_payload(n, base), separators=(",", ":")).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _seed(url: str, box: SecretBox) -> int:
    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session:
            source = Source(
                kind="github",
                name="bench",
                base_url="https://api.github.com",
                webhook_secret_encrypted=box.encrypt(SECRET),
                scope={"repos": ["Codertocat/Hello-World"]},
            )
            session.add(source)
            await session.flush()
            assert source.id is not None
            return source.id
    finally:
        await db.dispose()


async def _unfinished(db: Database) -> int:
    async with db.session() as session:
        stmt = select(func.count()).where(col(WebhookDelivery.status) == "pending")
        return int(await session.scalar(stmt) or 0)


async def _wait_drained(db: Database, limit_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if await _unfinished(db) == 0:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def _load(
    client: httpx.AsyncClient, path: str, rate: int, seconds: float, first: int
) -> dict[str, Any]:
    base = json.loads(FIXTURE.read_text())
    total = int(rate * seconds)
    requests = [_delivery(first + i, base) for i in range(total)]
    latencies: list[float] = []
    late: list[float] = []
    statuses: dict[str, int] = {}
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        sent = time.perf_counter()
        late.append(sent - due)
        body, headers = requests[i]
        try:
            response = await client.post(path, content=body, headers=headers)
            key = str(response.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        latencies.append(time.perf_counter() - sent)
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = time.perf_counter() - start
    return {
        "rate": rate,
        "requests": total,
        "achieved_rate": round(total / elapsed, 1),
        "statuses": statuses,
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "generator_p99_lag_ms": round(_percentile(late, 0.99) * 1000, 2),
    }


async def _drain_rate(db: Database, source_id: int, backlog: int) -> dict[str, Any]:
    base = json.loads(FIXTURE.read_text())
    now = utcnow()
    rows = [
        {
            "source_id": source_id,
            "delivery_id": f"backlog:{n}",
            "event": "issues",
            "action": "opened",
            "status": "pending",
            "signature_valid": True,
            "headers": {},
            "payload": _payload(1_000_000 + n, base),
            "attempts": 0,
            "received_at": now,
        }
        for n in range(backlog)
    ]
    async with db.session() as session:
        await session.execute(insert(WebhookDelivery), rows)
    seconds = await _wait_drained(db, limit_s=600)
    return {"rows": backlog, "seconds": round(seconds, 2), "rows_per_s": round(backlog / seconds)}


async def _run_backend(name: str, url: str, seconds: float, backlog: int) -> dict[str, Any]:
    key = generate_secret_key()
    source_id = await _seed(url, SecretBox([key]))
    port = _free_port()
    env = {
        **os.environ,
        "PORTFOLIO_SYNC_DATABASE_URL": url,
        "PORTFOLIO_SYNC_SECRET_KEY": key,
        "PORTFOLIO_SYNC_WORKER_POLL_SECONDS": "0.2",
        "PORTFOLIO_SYNC_LOG_LEVEL": "WARNING",
        "BENCH_WORKER": "inprocess" if name == "sqlite" else "process",
    }
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "--factory", "bench.webhooks:server_app"),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        "--no-access-log",
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    processes = [server]
    if env["BENCH_WORKER"] == "process":
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.webhooks",
                "--worker-only",
                env=env,
                cwd=Path(__file__).parent.parent,
            )
        )
    db = Database(url)
    result: dict[str, Any] = {"backend": name, "worker": env["BENCH_WORKER"]}
    try:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            for _ in range(200):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            path = f"/webhooks/github/{source_id}"
            # Warm-up (not measured): open the client's connections and let the server's
            # first requests (imports, caches, the source look-up) happen outside the figures.
            base = json.loads(FIXTURE.read_text())
            warm = [_delivery(10_000_000 + n, base) for n in range(64)]
            await asyncio.gather(*(client.post(path, content=b, headers=h) for b, h in warm))
            await _wait_drained(db, limit_s=60)
            sent = 0
            for rate in RATES:
                phase = await _load(client, path, rate, seconds, sent)
                sent += phase["requests"]
                phase["drain_after_s"] = round(await _wait_drained(db, limit_s=300), 2)
                result[f"ack_{rate}_rps"] = phase
        result["drain"] = await _drain_rate(db, source_id, backlog)
    finally:
        for process in processes:
            process.terminate()
            await process.wait()
        await db.dispose()
    return result


async def _postgres(seconds: float, backlog: int) -> dict[str, Any]:
    name = f"ps_bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        return await _run_backend("postgresql", f"{base}/{name}", seconds, backlog)
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(seconds: float, backlog: int, skip_postgres: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"seconds_per_rate": seconds, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await _run_backend(
            "sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", seconds, backlog
        )
    if not skip_postgres:
        results["postgresql"] = await _postgres(seconds, backlog)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--worker-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_only:
        asyncio.run(_worker_process())
        sys.exit(0)
    output = asyncio.run(main(args.seconds, args.backlog, args.skip_postgres))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output, indent=2))
