import math
from datetime import UTC, datetime

import pytest

from connectors.base import FatalUpstreamError
from connectors.jira.client import SEARCH_JQL_PATH
from connectors.jira.connector import JiraConnector
from connectors.jira.jql import JqlScopeError
from connectors.registry import build_connector

from .jira_support import CREDENTIALS, FIELD_SETTINGS, MYSELF, SITE, FakeSearch, light_issue

NOW = datetime(2024, 1, 15, tzinfo=UTC)


def connector(scope=None):
    return JiraConnector(SITE, CREDENTIALS, scope or {"projects": ["KAN", "OPS"]}, FIELD_SETTINGS)


@pytest.mark.parametrize(("count", "page_cap"), [(12001, 5000), (2500, 1000), (0, 5000)])
async def test_id_sweep_follows_pages_and_returns_live_ids(jira_mock, count, page_cap):
    issues = [light_issue(n, NOW) for n in range(count)]
    server = FakeSearch(issues, page_cap=page_cap)
    search = jira_mock.post(SEARCH_JQL_PATH).mock(side_effect=server)
    conn = connector()

    ids = await conn.live_external_ids()

    assert ids == {issue["id"] for issue in issues}
    assert search.call_count == max(1, math.ceil(count / page_cap))
    assert conn.stats.requests == search.call_count
    for body in server.bodies:
        assert body["fields"] == ["id"]
        assert body["maxResults"] == 5000
        assert body["jql"] == '(project in ("KAN", "OPS"))'


async def test_sweep_detects_a_looping_token(jira_mock):
    page = {"issues": [{"id": "1"}], "isLast": False, "nextPageToken": "same"}
    jira_mock.post(SEARCH_JQL_PATH).respond(json=page)
    with pytest.raises(FatalUpstreamError, match="pagination loop"):
        await connector().live_external_ids()


async def test_check_reports_user_and_projects(jira_mock):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    jira_mock.get("/rest/api/3/project/KAN").respond(
        json={"id": "10000", "key": "KAN", "name": "Kanban", "simplified": True}
    )
    jira_mock.get("/rest/api/3/project/OPS").respond(
        json={"id": "10001", "key": "OPS", "name": "Ops", "simplified": False}
    )
    result = await connector().check()
    assert result["auth"] == "basic"
    assert result["user"] == {
        "account_id": MYSELF["accountId"],
        "display_name": MYSELF["displayName"],
        "time_zone": "America/Los_Angeles",
    }
    assert [(p["key"], p["team_managed"]) for p in result["projects"]] == [
        ("KAN", True),
        ("OPS", False),
    ]


async def test_check_fails_loudly_on_a_missing_project(jira_mock):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    jira_mock.get("/rest/api/3/project/KAN").respond(
        404, json={"errorMessages": ["No project could be found with key 'KAN'."], "errors": {}}
    )
    with pytest.raises(FatalUpstreamError, match="No project could be found with key 'KAN'"):
        await connector({"projects": ["KAN"]}).check()


def test_unbounded_scope_is_refused_before_any_request():
    with pytest.raises(JqlScopeError):
        JiraConnector(SITE, CREDENTIALS, {}, {})


def test_incomplete_credentials_are_refused_without_echoing_them():
    with pytest.raises(ValueError, match="api_token") as caught:
        JiraConnector(SITE, {"email": "bot@example.com"}, {"projects": ["KAN"]}, {})
    assert "bot@example.com" not in str(caught.value)


async def test_registry_builds_the_jira_connector(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)
    conn = build_connector(
        "jira",
        base_url=SITE,
        credentials=CREDENTIALS,
        scope={"projects": ["KAN"]},
        settings=FIELD_SETTINGS,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    assert isinstance(conn, JiraConnector)
    assert (await conn.myself())["timeZone"] == "America/Los_Angeles"
    await conn.aclose()
