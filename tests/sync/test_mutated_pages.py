"""Hypothesis mutations of upstream pages: a run fails with a clear error or stores good items.

GitHub, through the whole sync engine on the real database: a page of issues in the wire
format is broken in one to three places and served for every request of a full run. The run
either succeeds, and then every stored item is well formed and comes from a record of the page,
or it fails with a message naming the stream and the record, and the broken page stored nothing.
Jira, through the connector: a search page broken the same way either yields well-formed items
or raises a `ConnectorError` naming what was wrong.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from sqlalchemy import select
from sqlmodel import col

from connectors.base import ConnectorError
from connectors.jira.client import SEARCH_JQL_PATH
from connectors.testing import FakeTime
from schemas.enums import RunStatus, SyncMode
from schemas.tables import WorkItem
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.sync.runner import SyncRunner

from ..connectors.jira.jira_support import MYSELF, SITE, make_issue
from ..connectors.jira.test_jira_http_policy import connector as jira_connector
from ..mutations import assert_well_formed, mutated
from .conftest import create_github_source
from .fakes import BASE, REPO, START, TOKEN, issue

EXAMPLES = 120
GITHUB_PAGE = [
    issue(n, START + timedelta(minutes=n), labels=[{"name": "sp: 3"}]) for n in range(1, 9)
]
JIRA_START = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
JIRA_PAGE = {
    "issues": [make_issue(n, JIRA_START + timedelta(minutes=n)) for n in range(1, 6)],
    "isLast": True,
}
SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _serve(page: Any) -> httpx.Response:
    return httpx.Response(
        200,
        content=json.dumps(page).encode(),
        headers={
            "content-type": "application/json",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4000",
            "x-ratelimit-reset": str(int((START + timedelta(days=400)).timestamp())),
        },
    )


async def _github_case(
    db: Database,
    runner: SyncRunner,
    box: SecretBox,
    router: respx.MockRouter,
    page: Any,
    done: list[str],
    names: itertools.count[int],
    seen: dict[str, int],
) -> None:
    source_id = await create_github_source(db, box, f"gh-{next(names)}")
    router.get(f"{BASE}/repos/{REPO}/issues").mock(return_value=_serve(page))

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    seen[run.status] = seen.get(run.status, 0) + 1
    async with db.session() as session:
        stmt = select(WorkItem).where(col(WorkItem.source_id) == source_id)
        items = list((await session.execute(stmt)).scalars())
    assert run.status in (RunStatus.succeeded, RunStatus.failed), (done, run.status)
    if run.status == RunStatus.failed:
        assert run.error and REPO in run.error, (done, run.error)
        assert "Traceback" not in run.error and TOKEN not in run.error
        assert items == [], (done, run.error)
        return
    numbers = (
        {r.get("number") for r in page if isinstance(r, dict)} if isinstance(page, list) else set()
    )
    for item in items:
        assert_well_formed(item)
        assert item.key.startswith(f"{REPO}#") and int(item.key.rsplit("#")[1]) in numbers, done


def test_mutated_github_pages_fail_the_run_or_store_good_items(
    db: Database, settings: Settings, secret_box: SecretBox
) -> None:
    loop = asyncio.new_event_loop()
    local = Database(settings.database_url, busy_timeout_ms=10000)
    fake_time = FakeTime()
    runner = SyncRunner(local, settings, secret_box, sleep=fake_time.sleep)
    names = itertools.count()
    seen: dict[str, int] = {}
    try:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:

            @given(case=mutated(GITHUB_PAGE))
            @SETTINGS
            def run(case: tuple[Any, list[str]]) -> None:
                page, done = case
                loop.run_until_complete(
                    _github_case(local, runner, secret_box, router, page, done, names, seen)
                )

            run()
    finally:
        loop.run_until_complete(runner.aclose())
        loop.run_until_complete(local.dispose())
        loop.close()
    assert sum(seen.values()) >= EXAMPLES
    print(f"mutated GitHub pages: {EXAMPLES} examples, runs {seen}")


@pytest.fixture
def jira_examples() -> dict[str, int]:
    return {}


@given(case=mutated(JIRA_PAGE))
@SETTINGS
def test_mutated_jira_search_pages_raise_clearly_or_map_good_items(
    case: tuple[Any, list[str]],
) -> None:
    page, done = case
    asyncio.run(_jira_case(page, done))


async def _jira_case(page: Any, done: list[str]) -> None:
    fake_time = FakeTime()
    with respx.mock(base_url=SITE, assert_all_mocked=True, assert_all_called=False) as router:
        router.get("/rest/api/3/myself").respond(json=MYSELF)
        router.post(SEARCH_JQL_PATH).mock(return_value=httpx.Response(200, json=page))
        connector = jira_connector(fake_time)
        try:
            pages = [p async for p in connector.read({})]
        except ConnectorError as exc:
            assert str(exc).strip() and "Traceback" not in str(exc), done
            return
        finally:
            await connector.aclose()
    keys = {i.get("key") for i in page.get("issues") or [] if isinstance(i, dict)}
    for result in pages:
        for item in result.items:
            assert_well_formed(item)
            assert item.key in keys, done
