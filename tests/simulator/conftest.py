from collections.abc import AsyncIterator

import httpx
import pytest

from service.simulator import SimulatorConfig, create_app
from service.simulator.middleware import SimulatorMiddleware

BASE = "http://sim.test"
JIRA_AUTH = ("bot@example.com", "api-token")


@pytest.fixture
def config() -> SimulatorConfig:
    return SimulatorConfig(seed=7, github_issues=150, jira_issues=200)


@pytest.fixture
def app(config: SimulatorConfig) -> SimulatorMiddleware:
    return create_app(config)


@pytest.fixture
async def client(app: SimulatorMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


@pytest.fixture
async def jira(app: SimulatorMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=JIRA_AUTH) as c:
        yield c
