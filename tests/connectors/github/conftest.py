from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import respx

from connectors.github.connector import GitHubConnector
from connectors.http import RetryPolicy
from connectors.testing import FakeTime

from .fakes import BASE


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def router() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def make_connector(fake_time: FakeTime) -> Callable[..., GitHubConnector]:
    def make(scope=None, settings=None, **kwargs) -> GitHubConnector:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
        return GitHubConnector(
            kwargs.pop("base_url", BASE),
            {"token": "ghp_secret_token"},
            scope or {"repos": ["octo/repo"]},
            settings or {},
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            **kwargs,
        )

    return make
