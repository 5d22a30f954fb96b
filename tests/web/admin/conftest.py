"""Fixtures of the admin page tests: the app with a fake DNS resolver, an admin's client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from fastapi import FastAPI

from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.sync.runner import SyncRunner
from tests.sources.conftest import fake_resolver
from tests.web.support import csrf_of, make_key, sign_in


@pytest.fixture
async def admin_app(
    db: Database, settings: Settings, secret_box: SecretBox
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db, secret_box=secret_box)
    application.state.upstream_resolver = fake_resolver
    yield application
    runner: SyncRunner | None = getattr(application.state, "sync_runner", None)
    if runner is not None:
        await runner.aclose()


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def admin(admin_app: FastAPI, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in as an admin (cookies kept)."""
    async with await _client(admin_app) as client:
        _id, key = await make_key(db, Role.admin, "web-admin")
        await sign_in(client, key)
        yield client


@pytest.fixture
async def reader(admin_app: FastAPI, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(admin_app) as client:
        _id, key = await make_key(db, Role.reader, "web-reader")
        await sign_in(client, key)
        yield client


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    # The ASGI test client is not mocked: only upstream hosts are.
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as router:
        router.route(host="testserver").pass_through()
        yield router


async def post_form(
    client: httpx.AsyncClient, page: str, data: dict[str, str], action: str | None = None
) -> httpx.Response:
    """Open `page`, then post `data` with its CSRF token to `action` (default: the page)."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(action or page, data={**data, "csrf_token": csrf_of(opened.text)})
