import json
from datetime import UTC, datetime

import httpx
import pytest

from connectors.base import FatalUpstreamError

from .fakes import BASE, issue

GRAPHQL = f"{BASE}/graphql"
SCOPE = {
    "repos": ["octo/repo"],
    "projects": [{"owner": "octo", "owner_type": "organization", "number": 5}],
}


def field(field_name: str, typename: str, **value) -> dict:
    return {"__typename": typename, "field": {"name": field_name}, **value}


def project_item(number: int, status: str | None, estimate: float | None, kind="Issue") -> dict:
    values = [field("Title", "ProjectV2ItemFieldTextValue", text=f"Issue {number}")]
    if status:
        values.append(field("Status", "ProjectV2ItemFieldSingleSelectValue", name=status))
    if estimate is not None:
        values.append(field("Estimate", "ProjectV2ItemFieldNumberValue", number=estimate))
    values.append(
        field("Sprint", "ProjectV2ItemFieldIterationValue", title="S1", startDate="2024-01-01")
    )
    return {
        "id": f"PVTI_{number}",
        "content": {
            "__typename": kind,
            "id": f"I_{number}",
            "number": number,
            "repository": {"nameWithOwner": "Octo/Repo"},
        },
        "fieldValues": {"nodes": values},
    }


def graphql_page(items, *, end: str | None, remaining: int = 4990) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "data": {
                "owner": {
                    "projectV2": {
                        "id": "PVT_1",
                        "title": "Roadmap",
                        "items": {
                            "pageInfo": {"hasNextPage": end is not None, "endCursor": end},
                            "nodes": items,
                        },
                    }
                },
                "rateLimit": {
                    "cost": 1,
                    "limit": 5000,
                    "remaining": remaining,
                    "resetAt": "2024-05-01T12:10:00Z",
                },
            }
        },
    )


def issues_response(*issues) -> httpx.Response:
    return httpx.Response(200, json=list(issues))


def rest_issue(number: int, **extra) -> dict:
    return issue("octo/repo", number, datetime(2024, 1, 1, tzinfo=UTC), **extra)


async def test_project_values_page_through_graphql_and_set_status_and_estimate(
    router, make_connector, fake_time
):
    seen_after = []

    def graphql(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen_after.append(body["variables"]["after"])
        assert "organization(login: $login)" in body["query"]
        if body["variables"]["after"] is None:
            return graphql_page(
                [project_item(1, "In Progress", 5), project_item(9, "Todo", None, "DraftIssue")],
                end="c1",
            )
        return graphql_page([project_item(2, "Done", None)], end=None)

    router.post(GRAPHQL).mock(side_effect=graphql)
    router.get(url__startswith=f"{BASE}/repos/octo/repo/issues").mock(
        return_value=issues_response(
            rest_issue(1),
            rest_issue(2, labels=[{"name": "points: 2"}]),
            rest_issue(
                3, state="closed", pull_request={"url": "x", "merged_at": "2024-01-02T00:00:00Z"}
            ),
        )
    )
    connector = make_connector(SCOPE)

    pages = [page async for page in connector.read({})]

    assert seen_after == [None, "c1"]
    items = {item.key: item for item in pages[0].items}
    assert items["octo/repo#1"].status_category == "in_progress"
    assert items["octo/repo#1"].estimate == 5.0
    assert items["octo/repo#2"].status_category == "done"
    assert items["octo/repo#2"].estimate == 2.0
    assert items["octo/repo#3"].status_category == "done"
    assert connector.stats.rate_limit["graphql"].remaining == 4990
    assert connector.stats.requests == 3
    assert fake_time.waits == []


async def test_graphql_budget_below_floor_waits_for_reset(router, make_connector, fake_time):
    router.post(GRAPHQL).mock(
        side_effect=[
            graphql_page([project_item(1, "Todo", None)], end="c1", remaining=400),
            graphql_page([], end=None),
        ]
    )
    router.get(url__startswith=f"{BASE}/repos/octo/repo/issues").mock(
        return_value=issues_response()
    )
    await anext(make_connector(SCOPE).read({}))
    assert fake_time.waits == [10 * 60 + 1.0]


async def test_graphql_errors_are_fatal_with_project_named(router, make_connector):
    router.post(GRAPHQL).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {"owner": None},
                "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to an Org"}],
            },
        )
    )
    with pytest.raises(FatalUpstreamError, match=r"project octo/5: .*Could not resolve"):
        await anext(make_connector(SCOPE).read({}))


async def test_graphql_rate_limited_body_waits_for_reset(router, make_connector, fake_time):
    reset = int(fake_time.now.timestamp()) + 90
    router.post(GRAPHQL).mock(
        side_effect=[
            httpx.Response(
                200,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                json={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]},
            ),
            graphql_page([], end=None),
        ]
    )
    router.get(url__startswith=f"{BASE}/repos/octo/repo/issues").mock(
        return_value=issues_response()
    )
    await anext(make_connector(SCOPE).read({}))
    assert fake_time.waits == [91.0]
