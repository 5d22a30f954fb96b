import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import respx

from connectors.jira.client import SEARCH_JQL_PATH
from connectors.jira.connector import JiraConnector
from schemas.enums import StatusCategory

from .jira_support import CREDENTIALS, FIELD_SETTINGS, MYSELF, SITE, FakeSearch, load, make_issue

START = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)


def connector(fake_time, settings=FIELD_SETTINGS, scope=None, **kwargs):
    return JiraConnector(
        SITE,
        CREDENTIALS,
        scope or {"projects": ["KAN"], "jql": "labels = roadmap"},
        settings,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        **kwargs,
    )


async def collect(conn, state):
    return [page async for page in conn.read(state)]


async def test_pages_follow_next_page_token_until_is_last(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    issues = [make_issue(n, START + timedelta(minutes=29 + n)) for n in range(1, 8)]
    pages = [
        {"issues": issues[0:3], "nextPageToken": "tok-1", "isLast": False},
        {"issues": issues[3:6], "nextPageToken": "tok-2", "isLast": False},
        {"issues": issues[6:], "isLast": True},
    ]
    search = jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[httpx.Response(200, json=page) for page in pages]
    )
    conn = connector(fake_time)
    state = {"search": {"updated": "2024-01-15T18:30:45.000Z"}}

    result = await collect(conn, state)

    bodies = [json.loads(call.request.content) for call in search.calls]
    assert [b.get("nextPageToken") for b in bodies] == [None, "tok-1", "tok-2"]
    assert {b["jql"] for b in bodies} == {
        '(project in ("KAN")) AND (labels = roadmap) AND updated >= "2024-01-15 10:28" '
        "ORDER BY updated ASC, key ASC"
    }
    assert all(b["maxResults"] == 100 for b in bodies)
    requested = set(bodies[0]["fields"])
    assert {"summary", "status", "updated", "parent", "customfield_10016"} <= requested
    assert [[item.key for item in page.items] for page in result] == [
        ["KAN-1", "KAN-2", "KAN-3"],
        ["KAN-4", "KAN-5", "KAN-6"],
        ["KAN-7"],
    ]
    # The checkpoint advances with every page, so a crash re-reads at most one page.
    assert [page.state["updated"] for page in result] == [
        "2024-01-15T18:32:00.000Z",
        "2024-01-15T18:35:00.000Z",
        "2024-01-15T18:36:00.000Z",
    ]
    assert all(page.stream == "search" for page in result)
    assert (conn.stats.requests, conn.stats.pages) == (4, 3)
    assert result[0].items[0].url == f"{SITE}/browse/KAN-1"


async def test_resume_continues_the_same_search_from_the_stored_token(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    server = FakeSearch([make_issue(n, START + timedelta(minutes=n)) for n in range(1, 251)])
    jira_mock.post(SEARCH_JQL_PATH).mock(side_effect=server)
    conn = connector(fake_time)
    first_page = await anext(conn.read({}))
    assert first_page.state["page_token"] == "100" and "jql" in first_page.state
    # Simulate a crash after the first page: a new run gets only the stored checkpoint.
    resumed = await collect(conn, {"search": first_page.state})

    assert len(resumed) == 2  # pages 2 and 3: nothing stored is listed again
    assert server.bodies[-2]["nextPageToken"] == "100"
    assert server.bodies[-2]["jql"] == server.bodies[0]["jql"]
    keys = [item.key for page in resumed for item in page.items]
    assert keys[0] == "KAN-101" and keys[-1] == "KAN-250" and len(keys) == 150
    assert "page_token" not in resumed[-1].state  # the last page leaves only the instant


async def test_resume_with_a_refused_token_starts_a_fresh_search(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    server = FakeSearch([make_issue(n, START + timedelta(minutes=n)) for n in range(1, 251)])

    def refuse_tokens(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("nextPageToken") == "expired":
            message = "The provided next page token is invalid or expired."
            return httpx.Response(400, json={"errorMessages": [message], "errors": {}})
        return server(request)

    jira_mock.post(SEARCH_JQL_PATH).mock(side_effect=refuse_tokens)
    conn = connector(fake_time)
    first_page = await anext(conn.read({}))
    stale = {**first_page.state, "page_token": "expired"}
    resumed = await collect(conn, {"search": stale})

    assert "nextPageToken" not in server.bodies[-len(resumed)]
    keys = [item.key for page in resumed for item in page.items]
    # Cursor 18:100 min = 19:40Z; minus 2 min overlap = 11:38 Los Angeles: re-reads 98..100.
    assert 'updated >= "2024-01-15 11:38"' in server.bodies[-1]["jql"]
    assert keys[:3] == ["KAN-98", "KAN-99", "KAN-100"]
    assert keys[-1] == "KAN-250" and len(keys) == 153


async def test_empty_page_keeps_the_cursor(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    jira_mock.post(SEARCH_JQL_PATH).respond(json={"issues": [], "isLast": True})
    state = {"search": {"updated": "2024-01-15T18:30:45.000Z"}}
    pages = await collect(connector(fake_time), state)
    assert len(pages) == 1 and pages[0].items == []
    assert pages[0].state == state["search"]


async def test_discovery_runs_once_and_feeds_the_mapping(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    fields = jira_mock.get("/rest/api/3/field").respond(json=load("field.company-managed.json"))
    sprint = [{"id": 4, "name": "KAN Sprint 4", "state": "active"}]
    issue = make_issue(1, START, customfield_10016=8, customfield_10020=sprint, parent=None)
    issue["fields"]["customfield_10014"] = "KAN-0"
    server = FakeSearch([issue])
    jira_mock.post(SEARCH_JQL_PATH).mock(side_effect=server)
    conn = connector(fake_time, settings={})

    (page,) = await collect(conn, {})
    await collect(conn, {})

    assert fields.call_count == 1
    assert {"customfield_10016", "customfield_10020", "customfield_10014"} <= set(
        server.bodies[0]["fields"]
    )
    item = page.items[0]
    assert (item.estimate, item.sprint, item.parent_key) == (8.0, "KAN Sprint 4", "KAN-0")
    assert item.status_category is StatusCategory.todo
    discovered = await conn.discover()
    assert discovered["settings"] == FIELD_SETTINGS
    assert discovered["time_zone"] == "America/Los_Angeles"


async def test_ambiguous_site_is_probed_once_and_reported(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    jira_mock.get("/rest/api/3/field").respond(json=load("field.ambiguous.json"))
    probe = jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=FakeSearch(
            [make_issue(n, START, customfield_10026=n, customfield_10016=None) for n in range(3)]
        )
    )
    result = await connector(fake_time, settings={}).discover()

    body = json.loads(probe.calls.last.request.content)
    assert probe.call_count == 1
    assert body["jql"].endswith("ORDER BY updated DESC")
    assert body["maxResults"] == 50
    assert set(body["fields"]) == {"customfield_10016", "customfield_10026", "project"}
    story_points = result["fields"]["story_points"]
    assert (story_points["id"], story_points["ambiguous"]) == ("customfield_10026", True)
    assert len(story_points["candidates"]) == 2
    assert result["settings"]["story_points_field"] == "customfield_10026"


async def test_oauth_uses_the_api_gateway_with_bearer_token(fake_time):
    gateway = "https://api.atlassian.com/ex/jira/cloud-123"
    with respx.mock(base_url=gateway, assert_all_called=True, assert_all_mocked=True) as mock:
        me = mock.get("/rest/api/3/myself").respond(json=MYSELF)
        mock.post(SEARCH_JQL_PATH).respond(json={"issues": [make_issue(1, START)], "isLast": True})
        conn = JiraConnector(
            SITE,
            {"oauth_token": "oauth-secret", "cloud_id": "cloud-123"},
            {"projects": ["KAN"]},
            FIELD_SETTINGS,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        (page,) = await collect(conn, {})
        await conn.aclose()
    assert me.calls.last.request.headers["Authorization"] == "Bearer oauth-secret"
    assert page.items[0].url == f"{SITE}/browse/KAN-1"
    assert "oauth-secret" not in repr(conn.endpoint)


async def test_basic_auth_against_a_simulator_base_url(fake_time):
    base = "http://127.0.0.1:8765/jira"
    with respx.mock(base_url=base, assert_all_called=True, assert_all_mocked=True) as mock:
        me = mock.get("/rest/api/3/myself").respond(json=MYSELF)
        mock.post(SEARCH_JQL_PATH).respond(json={"issues": [make_issue(1, START)], "isLast": True})
        conn = JiraConnector(base, CREDENTIALS, {"projects": ["KAN"]}, FIELD_SETTINGS)
        (page,) = await collect(conn, {})
        await conn.aclose()
    expected = "Basic " + base64.b64encode(b"bot@example.com:tok-secret").decode()
    assert me.calls.last.request.headers["Authorization"] == expected
    assert page.items[0].url == "http://127.0.0.1:8765/browse/KAN-1"
