import asyncio
from pathlib import Path

import pytest
import respx
from typer.testing import CliRunner

from schemas.api.sources import SourceCreate
from service.cli import app
from service.config import Settings, get_settings
from service.security import load_secret_box
from service.sources import store as sources
from service.store.db import Database
from service.store.migrate import upgrade

from .fakes import BASE, REPO, TOKEN, FakeGitHub


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PORTFOLIO_SYNC_DATABASE_URL", url)
    monkeypatch.setenv("PORTFOLIO_SYNC_LOG_JSON", "true")
    get_settings.cache_clear()
    upgrade(url)
    settings = Settings(database_url=url)

    async def seed() -> None:
        db = Database(url)
        box = load_secret_box(settings)
        async with db.session() as session:
            for name, repo in (("gh", REPO), ("gone", "octo/gone")):
                body = SourceCreate.model_validate(
                    {
                        "kind": "github",
                        "name": name,
                        "base_url": BASE,
                        "credentials": {"token": TOKEN},
                        "scope": {"repos": [repo]},
                    }
                )
                await sources.create(session, box, body, cause="test")
        await db.dispose()

    asyncio.run(seed())
    yield url
    get_settings.cache_clear()


def test_sync_command_shows_progress_and_a_summary(cli_db: str) -> None:
    github = FakeGitHub(150)
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=github)
        result = CliRunner().invoke(app, ["sync", "--source", "gh", "--mode", "full"])

    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout
    assert "150" in result.stdout  # items created
    assert TOKEN not in result.output


def test_sync_command_fails_loudly_with_the_upstream_error(cli_db: str) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(f"{BASE}/repos/octo/gone/issues").respond(404, json={"message": "Not Found"})
        result = CliRunner().invoke(app, ["sync", "--source", "2"])

    assert result.exit_code == 1
    assert "failed" in result.output and "HTTP 404" in result.output
    assert TOKEN not in result.output


def test_sync_command_rejects_an_unknown_source(cli_db: str) -> None:
    result = CliRunner().invoke(app, ["sync", "--source", "nope"])
    assert result.exit_code == 1
    assert "no source 'nope'" in result.output
