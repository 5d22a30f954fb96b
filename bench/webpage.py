"""Benchmark: the portfolio page `/` with 1,000 initiatives and 100,000 work items.

Seeds the store as `bench.portfolio` does (a SQLite file and a throwaway PostgreSQL database),
signs a browser session for a reader, then times full page renders through the ASGI app
(server time: routing, queries, rollups, template). Reports p50/p99 (nearest rank) and the
page's weight, as sent and gzip-compressed. Prints JSON and writes `bench/results/webpage.json`.

    .venv/bin/python -m bench.webpage [--requests 100] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.portfolio import PG_ADMIN_DSN, _timed, seed
from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.security import SecretBox, generate_secret_key
from service.store import api_keys
from service.store.db import Database
from service.store.migrate import upgrade_async
from service.web.sessions import COOKIE_NAME, SessionSigner

RESULTS = Path(__file__).parent / "results" / "webpage.json"
TARGET_P99_MS = 300
PAGE = "/"


async def measure(url: str, requests: int) -> dict[str, Any]:
    await upgrade_async(url)
    db = Database(url)
    started = time.perf_counter()
    await seed(db)
    seeded = time.perf_counter() - started
    async with db.session() as session:
        row, _key = await api_keys.create(session, "bench-web", Role.reader)
        key_id = row.id
    box = SecretBox([generate_secret_key()])
    app = create_app(
        Settings(database_url=url, scheduler_enabled=False, log_json=True),
        database=db,
        secret_box=box,
    )
    # The cookie the sign-in page would set for this key.
    signer = SessionSigner(box)
    cookies = {COOKIE_NAME: signer.dump(signer.new(key_id))}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies=cookies
    ) as client:
        first = time.perf_counter()
        response = await client.get(PAGE)
        first_ms = (time.perf_counter() - first) * 1000
        response.raise_for_status()
        if "text/html" not in response.headers.get("content-type", ""):
            raise RuntimeError(f"{PAGE} is not a page: {response.headers.get('content-type')}")
        body = response.content
        timed = await _timed(client, {}, [PAGE] * requests)
    await db.dispose()
    return {
        "items": 100_000,
        "initiatives": 1000,
        "requests": requests,
        "seed_seconds": round(seeded, 2),
        "first_request_ms": round(first_ms, 1),
        **timed["figures"],
        "gc_full_collections": timed["gc_full"],
        "page_kb": round(len(body) / 1024, 1),
        "page_gzip_kb": round(len(gzip.compress(body)) / 1024, 1),
        "initiative_rows": body.count(b'href="/initiatives/'),
    }


async def _postgres(requests: int) -> dict[str, Any]:
    name = f"ps_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        return await measure(f"{base}/{name}", requests)
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(requests: int, skip_postgres: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"target_p99_ms": TARGET_P99_MS, "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{tmp}/bench.db", requests)
    if not skip_postgres:
        results["postgres"] = await _postgres(requests)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(main(args.requests, args.skip_postgres))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
