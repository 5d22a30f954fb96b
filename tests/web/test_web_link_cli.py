"""`portfolio-sync web-link`: a one-time sign-in link for an existing key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from service.config import Settings, get_settings


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'link.db'}"
    monkeypatch.setenv("PORTFOLIO_SYNC_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_web_link_opens_the_app_once(sqlite_url: str) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["apikey", "create", "--role", "editor", "--name", "ed"]).exit_code == 0
    )
    result = runner.invoke(cli, ["web-link", "ed", "--base-url", "http://testserver/"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("http://testserver/sign-in/token/") and "psk_" not in url
    assert runner.invoke(cli, ["web-link", "nobody"]).exit_code == 1

    asyncio.run(_signs_in_once(sqlite_url, url.removeprefix("http://testserver")))


async def _signs_in_once(database_url: str, path: str) -> None:
    application = create_app(Settings(database_url=database_url))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get(path)).status_code == 303
        page = await client.get("/")
        assert page.status_code == 200 and "(editor)" in page.text
        assert (await client.get(path)).status_code == 400
    await application.state.db.dispose()
