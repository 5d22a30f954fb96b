import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.github.streams import issues_query

from .fakes import BASE, FakeIssuesServer, load, nock_response

REPO = "octokit-fixture-org/tmp-scenario-paginate-issues-20220719043836917-izyoe"


async def read_all(connector, state):
    return [page async for page in connector.read(state)]


async def test_follows_recorded_link_headers_across_five_pages(router, make_connector):
    gets = [e for e in load("paginate-issues.raw-fixture.json") if e["method"] == "get"]
    router.get(f"{BASE}/repos/{REPO}/issues", params=issues_query(None)).mock(
        return_value=nock_response(gets[0])
    )
    for entry in gets[1:]:
        # The Link URLs point at /repositories/<id>/...: they must be requested exactly as given.
        router.get(f"https://api.github.com{entry['path']}").mock(return_value=nock_response(entry))
    connector = make_connector({"repos": [REPO]})

    pages = await read_all(connector, {})

    assert [len(p.items) for p in pages] == [3, 3, 3, 3, 1]
    numbers = [item.key.rsplit("#", 1)[1] for p in pages for item in p.items]
    assert numbers == [str(n) for n in range(13, 0, -1)]
    assert all(p.stream == f"issues:{REPO}" for p in pages)
    assert pages[-1].state == {"since": "2022-07-19T04:39:16Z"}
    assert connector.stats.requests == 5
    assert connector.stats.pages == 5
    assert connector.stats.rate_limit["core"].remaining == 4918
    assert connector.stats.rate_limit["core"].reset_at == datetime.fromtimestamp(1658208999, UTC)


async def test_sends_github_headers_and_bearer_token(router, make_connector):
    route = router.get(f"{BASE}/repos/octo/repo/issues").mock(
        return_value=httpx.Response(200, json=[])
    )
    connector = make_connector()

    await read_all(connector, {})

    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer ghp_secret_token"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["user-agent"].startswith("portfolio-sync/")
    assert dict(sent.url.params) == {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": "100",
    }
    assert "ghp_secret_token" not in repr(connector)


async def test_paths_are_relative_to_a_simulator_base_url(router, make_connector):
    base = "http://127.0.0.1:8765/github"
    router.get(f"{base}/repos/octo/repo/issues").mock(return_value=httpx.Response(200, json=[]))
    pages = await read_all(make_connector(base_url=base), {})
    assert len(pages) == 1


async def test_not_modified_yields_empty_page_and_keeps_state(router, make_connector):
    state = {
        "since": "2024-04-01T00:00:00Z",
        "etag": '"abc"',
        "etag_query": (
            "state=all&sort=updated&direction=asc&per_page=100&since=2024-04-01T00%3A00%3A00Z"
        ),
    }
    route = router.get(f"{BASE}/repos/octo/repo/issues", headers={"if-none-match": '"abc"'}).mock(
        return_value=httpx.Response(304)
    )
    connector = make_connector()

    pages = await read_all(connector, {"issues:octo/repo": state})

    assert route.call_count == 1
    assert len(pages) == 1
    assert pages[0].not_modified and pages[0].items == []
    assert pages[0].state == state
    assert connector.stats.not_modified == 1


async def test_etag_of_another_query_is_not_sent(router, make_connector):
    state = {"since": "2024-04-02T00:00:00Z", "etag": '"old"', "etag_query": "since=other"}
    route = router.get(f"{BASE}/repos/octo/repo/issues").mock(
        return_value=httpx.Response(200, json=[])
    )
    await read_all(make_connector(), {"issues:octo/repo": state})
    assert "if-none-match" not in route.calls.last.request.headers


async def test_checkpoint_after_each_page_resumes_from_largest_updated_at(router, make_connector):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    server = FakeIssuesServer("octo/repo", 250, start)
    router.get(url__startswith=f"{BASE}/repos/octo/repo/issues").mock(side_effect=server)
    connector = make_connector()

    pages = []
    async for page in connector.read({}):
        pages.append(page)
        break  # a crash after the first page was committed

    resumed = await read_all(make_connector(), {"issues:octo/repo": pages[0].state})

    assert pages[0].state == {"since": "2024-01-01T01:40:00Z"}  # issue 100's updated_at
    re_read = [i.key for p in resumed for i in p.items]
    assert re_read[0] == "octo/repo#100"  # the inclusive boundary, read twice
    assert len(re_read) == 151


@pytest.mark.parametrize(("total", "changed"), [(250, 30), (1000, 5), (80, 20), (250, 150)])
async def test_request_counts_full_incremental_and_idle(router, make_connector, total, changed):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    server = FakeIssuesServer("octo/repo", total, start)
    router.get(url__startswith=f"{BASE}/repos/octo/repo/issues").mock(side_effect=server)
    state: dict[str, dict] = {}

    async def sync() -> tuple[int, int, list]:
        connector = make_connector()
        pages = await read_all(connector, state)
        for page in pages:
            state[page.stream] = page.state
        return connector.stats.requests, sum(len(p.items) for p in pages), pages

    full_requests, full_items, _ = await sync()
    assert (full_requests, full_items) == (math.ceil(total / 100), total)

    server.touch(range(1, changed + 1), start + timedelta(days=30))
    incremental_requests, incremental_items, _ = await sync()
    assert incremental_requests == math.ceil(changed / 100)
    # A single-page full sync keeps its query (and ETag), so it re-reads that page; otherwise
    # the changed issues plus the inclusive boundary item are read.
    assert incremental_items == (total if total <= 100 else changed + 1)

    if changed > 100:
        # After a multi-page run no ETag is known for the new `since`: one 200 re-reads the
        # boundary item and records the ETag the following idle polls use.
        assert (await sync())[:2] == (1, 1)

    idle_requests, idle_items, idle_pages = await sync()
    assert (idle_requests, idle_items) == (1, 0)
    assert [p.not_modified for p in idle_pages] == [True]
    assert server.requests[-1].headers.get("if-none-match")
