"""Sync throughput against the upstream simulator, with a floor.

Runs the simulator in a subprocess on loopback, the service in this process (so the peak RSS
reported is the service's own), on SQLite and on a throwaway PostgreSQL database. The floor is
the same pages fetched, parsed with `json.loads` and bulk-inserted with a plain `executemany`.

The first sync of each source is a `full` run: its own listing is its delete sweep, so its
request count is the whole cost of reading and sweeping the scope. A second full run (nothing
changed upstream) shows the cost of a full sync of a synced store, and a `reconcile` run the id
sweep incremental runs use (GraphQL for GitHub, id-only search pages for Jira). With `--profile`
the first sync runs under cProfile and the service's CPU per stored page is reported by step
(`bench/profile.py`).

    python -m bench.sync [--items N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from bench.profile import cpu_only, profiled
from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.runtime import sync_runner
from service.security import SecretBox, generate_secret_key
from service.store import api_keys
from service.store.db import Database
from service.store.migrate import upgrade_async

PG_ADMIN = os.environ.get(
    "PORTFOLIO_SYNC_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


UNAVAILABLE: list[int] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                if (await client.get(f"{url}/_sim/stats")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("simulator did not start")


async def _run(api: httpx.AsyncClient, source_id: int, mode: str) -> dict[str, Any]:
    run_id = (
        await api.post(f"/api/v1/admin/sources/{source_id}/sync", json={"mode": mode})
    ).json()["run_id"]
    while True:
        response = await api.get(f"/api/v1/admin/runs/{run_id}")
        if response.status_code == 503:  # SQLite busy while the sync writes: poll again
            UNAVAILABLE.append(1)
            await asyncio.sleep(0.2)
            continue
        run = response.json()
        if run["status"] not in ("queued", "running"):
            return dict(run)
        await asyncio.sleep(0.1)


async def _timed_run(api: httpx.AsyncClient, source_id: int, mode: str) -> dict[str, Any]:
    started = time.perf_counter()
    run = await _run(api, source_id, mode)
    return {
        "status": run["status"],
        "seconds": round(time.perf_counter() - started, 2),
        "requests": run["requests"],
        "unchanged": run["items_unchanged"],
        "deleted": run["items_deleted"],
    }


def _request_budget(kind: str, items: int) -> int:
    """The target for one full sync of a scope, its delete sweep included: ceil(N/100) pages
    plus the org's repository listing (GitHub, one page per repository beyond the division) or
    `/myself` and `/field` (Jira)."""
    return math.ceil(items / 100) + (3 if kind == "github" else 2)


PROJECTS = ("acme/web", "acme/api", "acme/mobile", "PLAT", "MOB", "OPS")
LABELS = ("bug", "enhancement", "frontend", "backend", "customer", "security", "ux", "infra")


async def _seed_portfolio(api: httpx.AsyncClient) -> int:
    """A portfolio that the synced work moves: initiatives by project and by label, each under
    a key result that rolls up linked work; mapping rules link the items as they arrive."""

    async def post(path: str, body: dict[str, Any]) -> int:
        response = await api.post(path, json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    objective = await post("/api/v1/objectives", {"title": "Deliver"})
    rules = 0
    for group, values, condition in (
        ("Projects", PROJECTS, "project"),
        ("Themes", LABELS, "labels_any"),
    ):
        kr = await post(
            "/api/v1/key-results",
            {"objective_id": objective, "title": group, "progress_source": "linked_work"},
        )
        for value in values:
            initiative = await post(
                "/api/v1/initiatives",
                {
                    "title": f"{group}: {value}",
                    "key_result_ids": [kr],
                    "start_date": "2026-01-01",
                    "target_date": "2027-06-30",
                },
            )
            await post(
                "/api/v1/admin/mapping-rules",
                {
                    "name": f"{condition} {value}",
                    "conditions": {condition: [value] if condition == "labels_any" else value},
                    "target": {"initiative_id": initiative},
                },
            )
            rules += 1
    return rules


def _settle_stats() -> dict[str, Any] | None:
    """Rollup recompute on write, per upsert page, split by whether a node moved."""
    try:
        from service.portfolio.progress import STATS
    except ImportError:  # a build from before progress moved on write
        return None
    out = {
        "pages_no_node_moved": STATS.calls_idle,
        "ms_per_page_no_node_moved": (
            round(STATS.seconds_idle * 1000 / STATS.calls_idle, 2) if STATS.calls_idle else None
        ),
        "pages_nodes_moved": STATS.calls_moved,
        "ms_per_page_nodes_moved": (
            round(STATS.seconds_moved * 1000 / STATS.calls_moved, 2) if STATS.calls_moved else None
        ),
        "nodes_moved": STATS.nodes_moved,
    }
    STATS.__init__()  # type: ignore[misc]
    return out


@contextlib.contextmanager
def counted_statements(db: Database) -> Iterator[list[str]]:
    """Every statement sent while the block runs (the status polls' reads included)."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listener)


def _statement_kinds(statements: list[str], pages: int) -> dict[str, float]:
    """Statements per page by verb and table, most frequent first (where the round trips go)."""
    counts: dict[str, int] = {}
    for statement in statements:
        words = statement.split()
        verb = words[0].upper() if words else "?"
        table = "?"
        for marker in ("INTO", "UPDATE", "FROM"):
            if marker in words[:12]:
                table = words[words.index(marker) + 1].strip('"(')
                break
        key = f"{verb} {table}"
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:15]
    return {key: round(count / max(pages, 1), 2) for key, count in ranked}


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


async def _floor(sim: str, url: str, repos: list[str]) -> float:
    """Fetch the same GitHub pages, json.loads them, executemany into a bare table."""
    start = time.perf_counter()
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE IF EXISTS floor_items")
        await conn.exec_driver_sql(
            "CREATE TABLE floor_items (id TEXT PRIMARY KEY, key TEXT, title TEXT, body TEXT)"
        )
    async with httpx.AsyncClient() as client:
        for repo in repos:
            next_url: str | None = (
                f"{sim}/github/repos/{repo}/issues?state=all&sort=updated&direction=asc&per_page=100"
            )
            while next_url:
                response = await client.get(next_url)
                rows = [
                    (i["node_id"], f"{repo}#{i['number']}", i["title"], json.dumps(i))
                    for i in json.loads(response.content)
                ]
                async with db.engine.begin() as conn:
                    raw = await conn.get_raw_connection()
                    driver = raw.driver_connection
                    if db.is_postgres:
                        await driver.executemany(  # type: ignore[union-attr]
                            "INSERT INTO floor_items VALUES ($1, $2, $3, $4)", rows
                        )
                    else:
                        await driver.executemany(  # type: ignore[union-attr]
                            "INSERT INTO floor_items VALUES (?, ?, ?, ?)", rows
                        )
                next_url = response.links.get("next", {}).get("url")
    await db.dispose()
    return time.perf_counter() - start


async def bench_backend(
    backend: str, items: int, sim: str, with_portfolio: bool = True, profile: bool = False
) -> dict[str, Any]:
    tmp = tempfile.mkdtemp()
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    else:
        pg_name = f"ps_bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{pg_name}"
    try:
        await upgrade_async(url)
        db = Database(url)
        async with db.session() as session:
            _row, key = await api_keys.create(session, "bench", Role.admin)
        settings = Settings(database_url=url, allow_private_upstreams=True, scheduler_enabled=False)
        app = create_app(settings, database=db, secret_box=SecretBox([generate_secret_key()]))
        result: dict[str, Any] = {"backend": backend}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://service",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as api:
            if with_portfolio:
                result["mapping_rules"] = await _seed_portfolio(api)
            _settle_stats()  # count the syncs only
            sources = {
                "github": {
                    "kind": "github",
                    "name": "gh",
                    "base_url": f"{sim}/github",
                    "credentials": {"token": "t"},
                    "scope": {"org": "acme"},
                },
                "jira": {
                    "kind": "jira",
                    "name": "jira",
                    "base_url": f"{sim}/jira",
                    "credentials": {"email": "b@example.com", "api_token": "t"},
                    "scope": {"projects": ["PLAT", "MOB", "OPS"]},
                },
            }
            for kind, body in sources.items():
                source_id = (await api.post("/api/v1/admin/sources", json=body)).json()["id"]
                with (
                    profiled() if profile else cpu_only() as cpu,
                    counted_statements(db) as statements,
                ):
                    started = time.perf_counter()
                    first = await _run(api, source_id, "full")
                    elapsed = time.perf_counter() - started
                stored = first["items_created"] + first["items_updated"] + first["items_unchanged"]
                entry: dict[str, Any] = {
                    "status": first["status"],
                    "items": stored,
                    "seconds": round(elapsed, 2),
                    "items_per_second": round(stored / elapsed) if elapsed else None,
                    "requests": first["requests"],
                    "pages": first["pages"],
                    "request_budget": _request_budget(kind, items),
                }
                # Process CPU per stored page (the simulator runs in another process).
                entry["profile" if profile else "cpu"] = cpu.per_page(first["pages"])
                entry["statements_per_page"] = round(len(statements) / max(first["pages"], 1), 1)
                entry["statements_by_kind"] = _statement_kinds(statements, first["pages"])
                entry["full_again"] = await _timed_run(api, source_id, "full")
                entry["reconcile"] = await _timed_run(api, source_id, "reconcile")
                # GitHub: the budgets by resource show the sweep spent GraphQL, not core.
                entry["reconcile"]["budgets"] = (
                    (await api.get(f"/api/v1/admin/sources/{source_id}")).json().get("rate_limit")
                )
                incremental = []
                for k in (0, 1, 500):
                    if k:
                        await httpx.AsyncClient().post(
                            f"{sim}/_sim/mutate", json={kind: {"update": k}}
                        )
                    run = await _run(api, source_id, "incremental")
                    incremental.append({"k": k, "requests": run["requests"]})
                entry["incremental"] = incremental
                entry["rollups_on_write"] = _settle_stats()
                result[kind] = entry
            floor = await _floor(sim, url, ["acme/web", "acme/api", "acme/mobile"])
            result["github"]["floor_seconds"] = round(floor, 2)
            result["github"]["ratio_to_floor"] = round(result["github"]["seconds"] / floor, 2)
            latencies = []
            for _ in range(30):
                t0 = time.perf_counter()
                await api.get("/api/v1/work-items", params={"limit": 100})
                latencies.append((time.perf_counter() - t0) * 1000)
            latencies.sort()
            result["list_latency_ms"] = {
                "p50": round(latencies[len(latencies) // 2], 1),
                "p99": round(latencies[-1], 1),
            }
        await sync_runner(app).aclose()
        await db.dispose()
        result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        result["status_polls_answered_503"] = len(UNAVAILABLE)
        UNAVAILABLE.clear()
        return result
    finally:
        if pg_name:
            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()


async def main(
    items: int, backends: list[str], with_portfolio: bool = True, profile: bool = False
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "items_per_upstream": items,
        "portfolio": with_portfolio,
        "machine": _machine(),
        "runs": [],
    }
    for backend in backends:
        port = _free_port()
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
            [
                str(Path(sys.executable).parent / "portfolio-sync"),
                "simulator",
                "--port",
                str(port),
                "--github-issues",
                str(items),
                "--jira-issues",
                str(items),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            sim = f"http://127.0.0.1:{port}"
            await _wait_up(sim)
            results["runs"].append(
                await bench_backend(backend, items, sim, with_portfolio, profile)
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--no-portfolio", action="store_true", help="sync into an empty portfolio (no rules)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="CPU per page by step for the first sync"
    )
    parser.add_argument("--out", default="bench/results/sync.json")
    args = parser.parse_args()
    output = asyncio.run(
        main(args.items, args.backends.split(","), not args.no_portfolio, args.profile)
    )
    print(json.dumps(output, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(output, indent=2) + "\n")
