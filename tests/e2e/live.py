"""A live stack for webhook end-to-end tests: the simulator in its thread, and the service served
by uvicorn on a loopback port in the test's own loop, so the simulator can deliver to it.

Time is virtual (`VirtualTime`): the sync engine, the simulator's GitHub App (token expiry, JWT
claims) and its budgets follow one time line that a test moves forward without sleeping.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.simulator import server
from service.simulator.app import create_app as create_simulator
from service.simulator.config import SimulatorConfig
from service.simulator.middleware import SimulatorMiddleware
from service.store.db import Database
from service.sync.runner import SyncRunner
from service.webhooks.worker import start_inbox_worker

from .helpers import VirtualTime, judged_by


@dataclass
class Stack:
    api: httpx.AsyncClient
    sim: httpx.AsyncClient
    sim_app: SimulatorMiddleware
    app: FastAPI
    time: VirtualTime

    @property
    def sim_base(self) -> str:
        return str(self.sim.base_url).rstrip("/")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serving(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    config = uvicorn.Config(app, http="h11", lifespan="off", log_level="warning", access_log=False)
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve(sockets=[sock]))
    while not instance.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        instance.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def live_stack(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    database_url: str,
    box: SecretBox,
    headers: dict[str, str],
    config: SimulatorConfig,
    **settings: Any,
) -> AsyncIterator[Stack]:
    time = VirtualTime()
    built: list[SimulatorMiddleware] = []

    def build(sim_config: SimulatorConfig | None = None) -> Any:
        app = judged_by(create_simulator(sim_config), time)
        app.state.app.now = time.time
        built.append(app)
        return app

    monkeypatch.setattr(server, "create_app", build)
    sock = free_socket()
    port = sock.getsockname()[1]
    service_settings = Settings(
        database_url=database_url,
        allow_private_upstreams=True,
        scheduler_enabled=False,
        public_url=f"http://127.0.0.1:{port}",
        **settings,
    )
    app = create_app(service_settings, database=db, secret_box=box)
    runner = SyncRunner(db, service_settings, box, clock=time.clock, sleep=time.sleep)
    app.state.sync_runner = runner
    async with (
        server.running_simulator(config) as sim_base,
        httpx.AsyncClient(base_url=sim_base, timeout=60) as sim,
        serving(app, sock),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://service",
            headers=headers,
            timeout=60,
        ) as api,
    ):
        stop_worker = await start_inbox_worker(app)
        try:
            yield Stack(api=api, sim=sim, sim_app=built[0], app=app, time=time)
        finally:
            await stop_worker()
            await runner.aclose()
