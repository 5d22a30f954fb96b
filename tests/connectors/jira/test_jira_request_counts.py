"""Request budgets: a full sync, an incremental sync and the delete sweep."""

import math
from datetime import UTC, datetime, timedelta

from connectors.jira.client import SEARCH_JQL_PATH
from connectors.jira.connector import JiraConnector

from .jira_support import CREDENTIALS, MYSELF, SITE, FakeSearch, light_issue, load

N = 1234
K = 150
START = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)


def connector(settings):
    return JiraConnector(SITE, CREDENTIALS, {"projects": ["KAN"]}, settings)


async def sync(conn, state):
    pages = [page async for page in conn.read(state)]
    return pages, {"search": pages[-1].state}


async def test_full_incremental_and_sweep_request_counts(jira_mock):
    myself = jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    fields = jira_mock.get("/rest/api/3/field").respond(json=load("field.company-managed.json"))
    # One issue per minute, so the 2-minute overlap re-reads exactly the last three.
    issues = [light_issue(n, START + timedelta(minutes=n)) for n in range(N)]
    server = FakeSearch(issues)
    search = jira_mock.post(SEARCH_JQL_PATH).mock(side_effect=server)
    conn = connector({})

    pages, state = await sync(conn, {})
    assert sum(len(page.items) for page in pages) == N
    assert (myself.call_count, fields.call_count, search.call_count) == (1, 1, math.ceil(N / 100))
    assert conn.stats.requests == 2 + math.ceil(N / 100)  # 15 for N = 1234

    later = START + timedelta(days=1)
    for n in range(K):
        issues[n] = light_issue(n, later + timedelta(minutes=n))
    before = conn.stats.requests
    pages, state = await sync(conn, state)
    read = [item.key for page in pages for item in page.items]
    assert len(read) == K + 3 and read[:3] == [f"KAN-{N - 3}", f"KAN-{N - 2}", f"KAN-{N - 1}"]
    # /myself and /field are cached per connector: only search requests.
    assert conn.stats.requests - before == math.ceil(K / 100) == 2

    # A new run (new connector) with the discovered field ids stored in the settings.
    stored = (await conn.discover())["settings"]
    fresh = connector(stored)
    pages, _ = await sync(fresh, state)
    assert sum(len(page.items) for page in pages) == 3  # the overlap re-reads the newest
    assert fresh.stats.requests == 1 + 1
    assert fields.call_count == 1

    before = fresh.stats.requests
    assert len(await fresh.live_external_ids()) == N
    assert fresh.stats.requests - before == math.ceil(N / 5000) == 1
