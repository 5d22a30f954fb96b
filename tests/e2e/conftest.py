"""Fixtures: the simulator on a free loopback port, and the service app through an ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.runtime import sync_runner
from service.security import SecretBox, generate_secret_key
from service.simulator.config import SimulatorConfig
from service.simulator.server import running_simulator
from service.store.db import Database

SIM_CONFIG = SimulatorConfig(seed=7, github_issues=260, jira_issues=240)


@pytest.fixture(scope="session")
def secret_key() -> str:
    """Known to the test, so a `portfolio-sync` subprocess can decrypt the same credentials."""
    return generate_secret_key()


@pytest.fixture(scope="session")
def box(secret_key: str) -> SecretBox:
    return SecretBox([secret_key])


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_simulator(SIM_CONFIG) as base_url,
        httpx.AsyncClient(base_url=base_url) as c,
    ):
        yield c


@pytest.fixture
def service_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, allow_private_upstreams=True, scheduler_enabled=False
    )


@pytest.fixture
async def api(
    db: Database, service_settings: Settings, box: SecretBox, admin_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin API; `api.app` is the app (set `app.state.sync_runner` to inject a runner)."""
    app = create_app(service_settings, database=db, secret_box=box)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service", headers=admin_headers, timeout=60
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
        await sync_runner(app).aclose()
