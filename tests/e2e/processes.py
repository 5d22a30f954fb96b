"""Real `portfolio-sync` processes for the fault tests: started on loopback, stopped by pid.

Every process is started by the test, recorded by its pid, and killed only by that pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from schemas.tables import Source
from service.security import SecretBox
from service.store.db import Database

CLI = Path(sys.executable).with_name("portfolio-sync")
# Nothing listens on the discard port: a poll of a source pointed here fails at once, locally.
CLOSED_UPSTREAM = "http://127.0.0.1:9/github"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, secret_key: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PORTFOLIO_SYNC_DATABASE_URL": database_url,
        "PORTFOLIO_SYNC_SECRET_KEY": secret_key,
        "PORTFOLIO_SYNC_ALLOW_PRIVATE_UPSTREAMS": "true",
        "PORTFOLIO_SYNC_LOG_JSON": "true",
        "PORTFOLIO_SYNC_LOG_LEVEL": "WARNING",
        "PORTFOLIO_SYNC_WORKER_POLL_SECONDS": "0.2",
    }
    env.update({f"PORTFOLIO_SYNC_{k.upper()}": v for k, v in extra.items()})
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(CLI), *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def start_serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)


async def wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited ({proc.returncode}): {log.read_text()[-3000:]}")  # noqa: ASYNC240
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve did not become ready: {log.read_text()[-3000:]}")  # noqa: ASYNC240


async def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL this process (by its pid) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.wait)


async def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid, then SIGKILL if it has not exited within ten seconds."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
    except TimeoutError:
        await kill_9(proc)


async def add_webhook_source(
    db: Database, box: SecretBox, secret: str, *, repos: list[str], name: str = "hooks"
) -> int:
    """A GitHub source that accepts signed deliveries; its polls go nowhere (closed port)."""
    async with db.session() as session:
        source = Source(
            kind="github",
            name=name,
            base_url=CLOSED_UPSTREAM,
            webhook_secret_encrypted=box.encrypt(secret),
            scope={"repos": repos},
            poll_interval_seconds=3600,
        )
        session.add(source)
        await session.flush()
        assert source.id is not None
        return source.id
