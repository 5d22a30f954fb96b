"""Run the simulator on a real loopback socket (end-to-end tests, the demo, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn

from service.simulator.app import create_app
from service.simulator.config import SimulatorConfig


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _server(config: SimulatorConfig) -> uvicorn.Server:
    # h11 and the stdlib event loop everywhere: the connection-reset fault works on asyncio's
    # own transports, so fault behaviour must not depend on uvloop being installed.
    settings = uvicorn.Config(
        create_app(config),
        http="h11",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(settings)


def run_in_thread(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> tuple[str, Callable[[], None]]:
    """Start on `host:port` (0 = a free port) in a daemon thread.

    Returns the base URL (`http://127.0.0.1:PORT`; GitHub is under `/github`, Jira under
    `/jira`) and a callable that stops the server and waits for the thread.
    """
    sock = _bind(host, port)
    server = _server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    bound_host, bound_port = sock.getsockname()[:2]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout)
        sock.close()

    return f"http://{bound_host}:{bound_port}", stop


@asynccontextmanager
async def running_simulator(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """The same as `run_in_thread`, as an async context manager yielding the base URL.

    The server gets its own thread and event loop, so a client in the caller's loop cannot
    starve it (or be starved by its dataset generation).
    """
    base_url, stop = await asyncio.to_thread(run_in_thread, config, host, port)
    try:
        yield base_url
    finally:
        await asyncio.to_thread(stop)
