"""A live service for the browser: uvicorn on a free loopback port in its own thread and loop.

The app gets its own database (a SQLite file or a throwaway PostgreSQL database), the
simulator's two sources synced, the demo's example portfolio and one API key per role, so
the pages show what `make demo` shows.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn

from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.demo import _seed_portfolio
from service.security import SecretBox, generate_secret_key
from service.store import api_keys, sign_in_tokens
from service.store.db import Database
from service.store.migrate import upgrade_async
from service.webhooks.worker import start_inbox_worker
from tests.e2e.helpers import create_sources, sync

WEBHOOK_SECRET = "browser-webhook-secret"


@dataclass
class LiveService:
    backend: str
    base_url: str
    sim_base: str
    database_url: str
    keys: dict[Role, tuple[int, str]]
    source_ids: dict[str, int] = field(default_factory=dict)

    def key(self, role: Role) -> str:
        return self.keys[role][1]

    async def sign_in_link(self, role: Role) -> str:
        """A one-time sign-in path for the role's key, made as `make demo` makes its link."""
        db = Database(self.database_url)
        try:
            async with db.session() as session:
                token = await sign_in_tokens.create(session, self.keys[role][0])
        finally:
            await db.dispose()
        return f"/sign-in/token/{token}"

    def api(self, role: Role = Role.admin) -> httpx.AsyncClient:
        """A bearer-authenticated JSON API client of the live service."""
        headers = {"Authorization": f"Bearer {self.key(role)}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def _serve_in_thread(
    settings: Settings, box: SecretBox
) -> tuple[str, uvicorn.Server, threading.Thread]:
    # The inbox worker runs (webhook replays are applied), the poll scheduler does not: the
    # tests start every sync themselves.
    app = create_app(settings, secret_box=box, background=start_inbox_worker)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-service", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}", server, thread


async def _keys(url: str) -> dict[Role, tuple[int, str]]:
    db = Database(url)
    try:
        keys = {}
        async with db.session() as session:
            for role in Role:
                row, key = await api_keys.create(session, f"browser-{role.value}", role)
                assert row.id is not None
                keys[role] = (row.id, key)
        return keys
    finally:
        await db.dispose()


@asynccontextmanager
async def live_service(
    backend: str, database_url: str, sim_base: str
) -> AsyncIterator[LiveService]:
    """Migrate, serve, create and fully sync both sources, seed the portfolio."""
    await upgrade_async(database_url)
    settings = Settings(
        database_url=database_url,
        allow_private_upstreams=True,  # the simulator listens on loopback
        scheduler_enabled=False,
        log_json=True,
        log_level="WARNING",
        worker_poll_seconds=0.2,
    )
    box = SecretBox([generate_secret_key()])
    base_url, server, thread = await asyncio.to_thread(_serve_in_thread, settings, box)
    try:
        live = LiveService(backend, base_url, sim_base, database_url, await _keys(database_url))
        async with live.api() as api:
            # The demo's order: the portfolio and its rules first, then the first sync.
            await _seed_portfolio(api)
            live.source_ids = await create_sources(api, sim_base)
            for source_id in live.source_ids.values():
                await sync(api, source_id, "full")
            github = f"/api/v1/admin/sources/{live.source_ids['github']}"
            response = await api.patch(github, json={"webhook_secret": WEBHOOK_SECRET})
            assert response.status_code == 200, response.text
        yield live
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 20)
