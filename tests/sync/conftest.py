from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import respx

from connectors.testing import FakeTime
from schemas.api.sources import SourceCreate
from service.config import Settings
from service.security import SecretBox
from service.sources import store as sources
from service.store.db import Database
from service.sync.runner import SyncRunner

from .fakes import BASE, REPO, TOKEN, FakeGitHub, FakeGraphQL


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub(250)


@pytest.fixture
def graphql(github: FakeGitHub) -> FakeGraphQL:
    return FakeGraphQL(github)


@pytest.fixture
def upstream(github: FakeGitHub, graphql: FakeGraphQL) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=github)
        router.post(f"{BASE}/graphql").mock(side_effect=graphql)
        yield router


async def create_github_source(
    db: Database, secret_box: SecretBox, name: str = "gh", **overrides: Any
) -> int:
    body = SourceCreate.model_validate(
        {
            "kind": "github",
            "name": name,
            "base_url": BASE,
            "credentials": {"token": TOKEN},
            "scope": {"repos": [REPO]},
            **overrides,
        }
    )
    async with db.session() as session:
        source = await sources.create(session, secret_box, body, cause="test")
        assert source.id is not None
        return source.id


@pytest.fixture
def make_github_source(db: Database, secret_box: SecretBox) -> Callable[..., Any]:
    async def make(name: str = "gh", **overrides: Any) -> int:
        return await create_github_source(db, secret_box, name, **overrides)

    return make


@pytest.fixture
async def source_id(make_github_source: Callable[..., Any]) -> int:
    return int(await make_github_source())


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def runner(
    db: Database, settings: Settings, secret_box: SecretBox, fake_time: FakeTime
) -> AsyncIterator[SyncRunner]:
    runner = SyncRunner(db, settings, secret_box, sleep=fake_time.sleep)
    yield runner
    await runner.aclose()
