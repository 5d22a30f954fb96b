"""`portfolio-sync demo`: simulator + service + a seeded portfolio, with no credentials needed.

Everything goes through the public HTTP API, exactly as a real deployment is driven: sources are
created by the admin API, syncs are requested and watched through the runs API, and the tree is
read from `/api/v1/portfolio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from schemas.enums import Role
from service.config import Settings
from service.simulator.config import SimulatorConfig
from service.store import api_keys, sign_in_tokens
from service.store.db import Database

console = Console()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _admin_key(settings: Settings) -> str:
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            _row, key = await api_keys.create(session, f"demo-admin-{int(time.time())}", Role.admin)
        return key
    finally:
        await db.dispose()


async def _sign_in_url(settings: Settings, base: str, key: str) -> str:
    """A one-time link that opens the web app signed in as the demo's admin key."""
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            principal = await api_keys.authenticate(session, key)
            assert principal is not None
            token = await sign_in_tokens.create(session, principal.key_id)
        return f"{base}/sign-in/token/{token}"
    finally:
        await db.dispose()


def _sources(sim: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "github",
            "name": "github-acme",
            "base_url": f"{sim}/github",
            "credentials": {"token": "demo-token"},
            "scope": {
                "org": "acme",
                "projects": [{"owner": "acme", "owner_type": "organization", "number": 1}],
            },
            "poll_interval_seconds": 60,
            "webhook_secret": "demo-github-secret",
        },
        {
            "kind": "jira",
            "name": "jira-acme",
            "base_url": f"{sim}/jira",
            "credentials": {"email": "demo@example.com", "api_token": "demo-token"},
            "scope": {"projects": ["PLAT", "MOB", "OPS"]},
            "poll_interval_seconds": 60,
            "webhook_secret": "demo-jira-secret",
        },
    ]


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"POST {path} → {response.status_code}: {response.text}")
    data: dict[str, Any] = response.json()
    return data


async def _seed_portfolio(client: httpx.AsyncClient) -> None:
    today = date.today()
    start, target = str(today - timedelta(days=120)), str(today + timedelta(days=90))
    mobile = await _post(client, "/api/v1/objectives", {"title": "Win on mobile", "owner": "cpo"})
    platform = await _post(
        client, "/api/v1/objectives", {"title": "Scale the platform", "owner": "cto"}
    )
    crash = await _post(
        client,
        "/api/v1/key-results",
        {
            "objective_id": mobile["id"],
            "title": "Crash-free sessions",
            "start": 97.0,
            "target": 99.5,
            "current": 98.6,
            "unit": "%",
            "progress_source": "manual",
        },
    )
    roadmap = await _post(
        client,
        "/api/v1/key-results",
        {
            "objective_id": mobile["id"],
            "title": "Ship the mobile roadmap",
            "progress_source": "linked_work",
            "start_date": start,
            "target_date": target,
        },
    )
    delivery = await _post(
        client,
        "/api/v1/key-results",
        {
            "objective_id": platform["id"],
            "title": "Deliver the platform plan",
            "progress_source": "linked_work",
            "start_date": start,
            "target_date": target,
        },
    )
    plans = [
        ("Mobile app v2", [roadmap["id"], crash["id"]], ["acme/mobile", "MOB"]),
        ("Platform reliability", [delivery["id"]], ["acme/api", "PLAT"]),
        ("Web checkout", [delivery["id"]], ["acme/web"]),
        ("Ops automation", [delivery["id"]], ["OPS"]),
    ]
    for title, key_results, projects in plans:
        initiative = await _post(
            client,
            "/api/v1/initiatives",
            {
                "title": title,
                "status": "active",
                "owner": "product-ops",
                "start_date": start,
                "target_date": target,
                "key_result_ids": key_results,
            },
        )
        for priority, project in enumerate(projects, start=10):
            await _post(
                client,
                "/api/v1/admin/mapping-rules",
                {
                    "name": f"{project} → {title}",
                    "priority": priority,
                    "conditions": {"project": project},
                    "target": {"initiative_id": initiative["id"]},
                },
            )


async def _sync_all(
    client: httpx.AsyncClient, source_ids: dict[str, int]
) -> dict[str, dict[str, Any]]:
    runs = {}
    for name, source_id in source_ids.items():
        body = await _post(client, f"/api/v1/admin/sources/{source_id}/sync", {"mode": "full"})
        runs[name] = body["run_id"]
    finished: dict[str, dict[str, Any]] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        TextColumn(
            "{task.fields[status]} · pages {task.fields[pages]} · items "
            "{task.fields[items]} · requests {task.fields[requests]} · "
            "rate-limit wait {task.fields[wait]}s"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {
            name: progress.add_task(
                name, total=None, status="queued", pages=0, items=0, requests=0, wait=0
            )
            for name in runs
        }
        while len(finished) < len(runs):
            for name, run_id in runs.items():
                if name in finished:
                    continue
                run = (await client.get(f"/api/v1/admin/runs/{run_id}")).json()
                items = run["items_created"] + run["items_updated"] + run["items_unchanged"]
                progress.update(
                    tasks[name],
                    status=run["status"],
                    pages=run["pages"],
                    items=items,
                    requests=run["requests"],
                    wait=round(run["rate_limit_wait_seconds"], 1),
                )
                if run["status"] in ("succeeded", "failed", "abandoned"):
                    progress.update(tasks[name], total=1, completed=1)
                    finished[name] = run
            await asyncio.sleep(0.3)
    return finished


def _print_tree(portfolio: dict[str, Any]) -> None:
    def label(node: dict[str, Any]) -> str:
        progress = node.get("progress")
        pct = "  n/a" if progress is None else f"{progress * 100:5.1f}%"
        health = escape(f"[{node.get('health') or '-'}]")
        return f"{pct}  {health:<13} {escape(node['title'])}"

    tree = Tree("[bold]Portfolio")
    for objective in portfolio.get("objectives", []):
        o = tree.add(f"[bold cyan]{label(objective)}")
        for kr in objective.get("key_results", []):
            k = o.add(f"[magenta]{label(kr)}")
            for initiative in kr.get("initiatives", []):
                counts = initiative.get("explanation", {}).get("counts", {})
                k.add(f"{label(initiative)}  " + " ".join(f"{c}={n}" for c, n in counts.items()))
    console.print(tree)


async def run_demo(
    *, github_issues: int, jira_issues: int, seed: int, exit_after_sync: bool, db_path: Path
) -> int:
    # Imported here so that every other `portfolio-sync` command starts without them.
    import uvicorn

    from service.runtime import build_app
    from service.simulator.server import run_in_thread

    host = "127.0.0.1"
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        await asyncio.to_thread(Path(f"{db_path}{suffix}").unlink, missing_ok=True)
    console.print(
        f"[bold]Starting the upstream simulator[/] ({github_issues} GitHub + "
        f"{jira_issues} Jira issues, seed {seed}) …"
    )
    sim_base, stop_sim = await asyncio.to_thread(
        run_in_thread,
        SimulatorConfig(seed=seed, github_issues=github_issues, jira_issues=jira_issues),
    )
    port = _free_port(host)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        allow_private_upstreams=True,  # the simulator listens on loopback: demo only
        host=host,
        port=port,
        log_level="WARNING",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(settings, migrate=True),
            host=host,
            port=port,
            log_config=None,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        key = await _admin_key(settings)
        base = f"http://{host}:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            source_ids = {}
            for body in _sources(sim_base):
                source_ids[body["name"]] = (await _post(client, "/api/v1/admin/sources", body))[
                    "id"
                ]
            await _seed_portfolio(client)
            console.print("[bold]Full sync[/] of both sources …")
            runs = await _sync_all(client, source_ids)
            table = Table(
                "source",
                "status",
                "pages",
                "requests",
                "created",
                "unchanged",
                "deleted",
                "seconds",
                "error",
            )
            for name, run in runs.items():
                table.add_row(
                    name,
                    run["status"],
                    str(run["pages"]),
                    str(run["requests"]),
                    str(run["items_created"]),
                    str(run["items_unchanged"]),
                    str(run["items_deleted"]),
                    _seconds(run),
                    run.get("error") or "",
                )
            console.print(table)
            portfolio = (await client.get("/api/v1/portfolio")).json()
            _print_tree(portfolio)
        console.print(f"\nDone in {time.perf_counter() - started:.1f} s.")
        console.print(f"API docs:   {base}/docs")
        console.print(f"Portfolio:  {base}/api/v1/portfolio")
        console.print(f"Admin API key (shown once): {key}")
        minutes = int(sign_in_tokens.SIGN_IN_TOKEN_TTL.total_seconds() // 60)
        console.print(
            f"[bold]Web app[/] (signs you in as admin; one use, valid {minutes} minutes):\n"
            f"  {await _sign_in_url(settings, base, key)}",
            soft_wrap=True,
        )
        if any(run["status"] != "succeeded" for run in runs.values()):
            return 1
        if not exit_after_sync:
            console.print("Serving and polling every 60 s; Ctrl-C to stop.")
            await serving
        return 0
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        await asyncio.to_thread(stop_sim)


def _seconds(run: dict[str, Any]) -> str:
    from datetime import datetime

    if not run.get("started_at") or not run.get("finished_at"):
        return ""
    delta = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    return f"{delta.total_seconds():.1f}"


def demo(
    github_issues: int = typer.Option(2000, help="GitHub issues and pull requests to simulate."),
    jira_issues: int = typer.Option(2000, help="Jira issues to simulate."),
    seed: int = typer.Option(1, help="Dataset seed."),
    exit_after_sync: bool = typer.Option(False, help="Exit after the first sync (scriptable)."),
    db_path: Path = typer.Option(Path("portfolio-sync-demo.db"), help="SQLite file (recreated)."),
) -> None:
    """Simulated Jira + GitHub, the service on SQLite, an example portfolio, a full sync."""
    code = asyncio.run(
        run_demo(
            github_issues=github_issues,
            jira_issues=jira_issues,
            seed=seed,
            exit_after_sync=exit_after_sync,
            db_path=db_path,
        )
    )
    raise typer.Exit(code)
