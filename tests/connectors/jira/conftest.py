"""Fixtures for the Jira connector tests; helpers live in jira_support."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import respx

from connectors.testing import FakeTime

from .jira_support import LEGACY_410, SITE, load


@pytest.fixture
def load_fixture() -> Callable[[str], Any]:
    return load


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def jira_mock() -> Iterator[respx.MockRouter]:
    """Unused routes and unmocked requests fail the test; the removed search must stay unused."""
    with respx.mock(base_url=SITE, assert_all_called=True, assert_all_mocked=True) as router:
        legacy = router.route(path="/rest/api/3/search", name="legacy-search").respond(
            410, json=LEGACY_410
        )
        yield router
        assert not legacy.called, "the removed /rest/api/3/search endpoint was called"
        router.routes.pop("legacy-search")
