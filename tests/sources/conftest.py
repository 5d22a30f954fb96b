import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from fastapi import FastAPI

from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.sync.runner import SyncRunner

NAMES = {
    "api.github.com": ["140.82.112.6"],
    "acme.atlassian.net": ["104.192.142.1", "2401:1d80:3000::1"],
    "internal.example": ["10.20.30.40"],
    "mixed.example": ["140.82.112.6", "127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "v6local.example": ["fd00::1"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return NAMES[host]


@pytest.fixture
async def app(db: Database, settings: Settings, secret_box: SecretBox) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db, secret_box=secret_box)
    application.state.upstream_resolver = fake_resolver
    yield application
    runner: SyncRunner | None = getattr(application.state, "sync_runner", None)
    if runner is not None:
        await runner.aclose()


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    # The ASGI test client is not mocked: only upstream hosts are.
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
        router.route(host="testserver").pass_through()
        yield router


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
