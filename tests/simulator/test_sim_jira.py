from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from service.simulator import SimulatorConfig, create_app
from service.simulator.jira import LEGACY_SEARCH_GONE
from service.simulator.middleware import SimulatorMiddleware

from .conftest import BASE, JIRA_AUTH

SEARCH = "/jira/rest/api/3/search/jql"
LA = ZoneInfo("America/Los_Angeles")


async def search_all(jira: httpx.AsyncClient, body: dict) -> list[dict]:
    issues: list[dict] = []
    token = None
    while True:
        page = await jira.post(SEARCH, json={**body, "nextPageToken": token})
        assert page.status_code == 200, page.text
        data = page.json()
        assert "total" not in data and "startAt" not in data
        issues += data["issues"]
        if data["isLast"]:
            assert "nextPageToken" not in data
            return issues
        token = data["nextPageToken"]


async def test_paging_with_next_page_token_returns_every_issue_once_in_order(
    jira: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    issues = await search_all(
        jira,
        {
            "jql": "project = PLAT ORDER BY updated ASC, key ASC",
            "fields": ["updated", "summary"],
            "maxResults": 17,
        },
    )

    data = app.state.jira
    expected = [i for i in data.issues.values() if data.projects[i.project].key == "PLAT"]
    assert sorted(i["id"] for i in issues) == sorted(str(i.id) for i in expected)
    stamps = [datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z") for i in issues]
    assert stamps == sorted(stamps)
    assert issues[0]["fields"]["updated"].endswith(("-0800", "-0700"))


async def test_get_search_accepts_query_parameters(jira: httpx.AsyncClient) -> None:
    response = await jira.get(
        SEARCH,
        params={"jql": "project in (PLAT, MOB)", "fields": "summary,status", "maxResults": 3},
    )

    body = response.json()
    assert len(body["issues"]) == 3
    assert set(body["issues"][0]["fields"]) == {"summary", "status"}
    assert body["isLast"] is False and body["nextPageToken"]


async def test_default_fields_are_id_only(jira: httpx.AsyncClient) -> None:
    response = await jira.post(SEARCH, json={"jql": "project = MOB"})

    issues = response.json()["issues"]
    assert len(issues) == 50
    assert all(set(i) == {"id"} for i in issues)


async def test_id_only_pages_go_up_to_5000_and_full_pages_cap_at_100() -> None:
    app = create_app(SimulatorConfig(seed=3, github_issues=5, jira_issues=5200))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, auth=JIRA_AUTH
    ) as jira:
        jql = "project in (PLAT, MOB, OPS) ORDER BY key ASC"
        ids = await jira.post(SEARCH, json={"jql": jql, "fields": ["id"], "maxResults": 9000})
        rest = await jira.post(
            SEARCH,
            json={
                "jql": jql,
                "fields": ["id"],
                "maxResults": 9000,
                "nextPageToken": ids.json()["nextPageToken"],
            },
        )
        full = await jira.post(SEARCH, json={"jql": jql, "fields": ["*all"], "maxResults": 1000})

    assert len(ids.json()["issues"]) == 5000
    assert len(rest.json()["issues"]) == 200 and rest.json()["isLast"] is True
    assert len(full.json()["issues"]) == 100
    assert "customfield_10016" in full.json()["issues"][0]["fields"]


async def test_updated_clause_is_read_in_the_users_time_zone(
    jira: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    issue = max(
        (
            i
            for i in app.state.jira.issues.values()
            if app.state.jira.projects[i.project].key == "OPS"
        ),
        key=lambda i: i.updated,
    )
    moment = datetime.fromtimestamp(issue.updated / 1000, UTC)
    local_minute = moment.astimezone(LA).strftime("%Y-%m-%d %H:%M")
    utc_minute = moment.strftime("%Y-%m-%d %H:%M")

    async def hits(value: str) -> set[str]:
        jql = f'project = OPS AND updated >= "{value}" ORDER BY updated ASC'
        response = await jira.post(SEARCH, json={"jql": jql, "maxResults": 100})
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["issues"]}

    assert str(issue.id) in await hits(local_minute)
    # The same wall-clock digits read as UTC would be seven or eight hours earlier and match;
    # read in Los Angeles time they lie in the future.
    assert str(issue.id) not in await hits(utc_minute)


async def test_myself_reports_a_non_utc_time_zone(jira: httpx.AsyncClient) -> None:
    response = await jira.get("/jira/rest/api/3/myself")

    assert response.json()["timeZone"] == "America/Los_Angeles"
    assert response.json()["emailAddress"] == JIRA_AUTH[0]


async def test_parenthesised_groups_and_quoted_keys(jira: httpx.AsyncClient) -> None:
    quoted = await search_all(
        jira, {"jql": '(project in ("PLAT", MOB)) AND (updated >= "2020-01-01 00:00")'}
    )
    plain = await search_all(jira, {"jql": "project = PLAT OR project = MOB"})

    assert {i["id"] for i in quoted} == {i["id"] for i in plain}
    assert len(quoted) > 50


async def test_bad_jql_is_a_400_with_jiras_error_shape(jira: httpx.AsyncClient) -> None:
    response = await jira.post(SEARCH, json={"jql": "project = PLAT AND AND"})

    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {}
    assert body["errorMessages"][0].startswith("Error in the JQL Query:")


async def test_unbounded_and_unknown_project_queries_are_rejected(jira: httpx.AsyncClient) -> None:
    unbounded = await jira.post(SEARCH, json={"jql": 'updated >= "2025-01-01" ORDER BY updated'})
    or_escape = await jira.post(SEARCH, json={"jql": "project = PLAT OR updated >= -1d"})
    unknown = await jira.post(SEARCH, json={"jql": "project = NOPE"})

    assert unbounded.status_code == or_escape.status_code == 400
    assert "Unbounded JQL queries are not allowed" in unbounded.json()["errorMessages"][0]
    assert unknown.status_code == 400
    assert unknown.json()["errorMessages"] == [
        "The value 'NOPE' does not exist for the field 'project'."
    ]


async def test_next_page_token_from_another_query_is_rejected(jira: httpx.AsyncClient) -> None:
    page = await jira.post(SEARCH, json={"jql": "project = PLAT", "maxResults": 1})
    reused = await jira.post(
        SEARCH, json={"jql": "project = MOB", "nextPageToken": page.json()["nextPageToken"]}
    )

    assert reused.status_code == 400


async def test_legacy_search_is_gone(jira: httpx.AsyncClient) -> None:
    for response in (
        await jira.get("/jira/rest/api/3/search", params={"jql": "project = PLAT"}),
        await jira.post("/jira/rest/api/3/search", json={"jql": "project = PLAT"}),
    ):
        assert response.status_code == 410
        assert response.json() == {"errorMessages": [LEGACY_SEARCH_GONE], "errors": {}}


async def test_missing_or_empty_credentials_are_401(client: httpx.AsyncClient) -> None:
    missing = await client.get("/jira/rest/api/3/myself")
    empty_token = await client.get("/jira/rest/api/3/myself", auth=("bot@example.com", ""))

    assert missing.status_code == empty_token.status_code == 401


async def test_field_list_exposes_story_points_sprint_and_epic_link(
    jira: httpx.AsyncClient,
) -> None:
    fields = (await jira.get("/jira/rest/api/3/field")).json()

    by_custom = {f["schema"].get("custom"): f["id"] for f in fields if f["custom"]}
    assert by_custom["com.pyxis.greenhopper.jira:jsw-story-points"] == "customfield_10016"
    assert by_custom["com.pyxis.greenhopper.jira:gh-sprint"] == "customfield_10020"
    assert by_custom["com.pyxis.greenhopper.jira:gh-epic-link"] == "customfield_10014"
    assert any(f["id"] == "summary" and not f["custom"] for f in fields)


async def test_issue_json_has_hierarchy_status_categories_and_sprints(
    jira: httpx.AsyncClient,
) -> None:
    issues = await search_all(
        jira, {"jql": "project in (PLAT, MOB, OPS)", "fields": ["*all"], "maxResults": 100}
    )
    fields = [i["fields"] for i in issues]

    levels = {
        (f["issuetype"]["name"], f["issuetype"]["hierarchyLevel"], f["issuetype"]["subtask"])
        for f in fields
    }
    assert (
        ("Epic", 1, False) in levels
        and ("Subtask", -1, True) in levels
        and ("Story", 0, False) in levels
    )
    assert {f["status"]["statusCategory"]["key"] for f in fields} == {
        "new",
        "indeterminate",
        "done",
    }
    resolutions = {f["resolution"]["name"] for f in fields if f["resolution"]}
    assert {"Done", "Won't Do", "Duplicate"} <= resolutions
    assert any(f["customfield_10020"] and f["customfield_10020"][0]["state"] for f in fields)
    assert fields[0]["description"]["type"] == "doc"
    by_key = {i["key"]: i for i in issues}
    for f in fields:
        if f["parent"]:
            assert f["parent"]["key"] in by_key
            if f["issuetype"]["subtask"]:
                assert f["parent"]["fields"]["issuetype"]["hierarchyLevel"] == 0
            else:
                assert f["parent"]["fields"]["issuetype"]["name"] == "Epic"


async def test_project_and_single_issue_endpoints(jira: httpx.AsyncClient) -> None:
    project = await jira.get("/jira/rest/api/3/project/PLAT")
    issue = await jira.get("/jira/rest/api/3/issue/PLAT-1")
    missing = await jira.get("/jira/rest/api/3/issue/PLAT-99999")

    assert project.json()["key"] == "PLAT"
    assert issue.json()["key"] == "PLAT-1" and "summary" in issue.json()["fields"]
    assert missing.status_code == 404
