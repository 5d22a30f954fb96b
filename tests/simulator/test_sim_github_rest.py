import math
from datetime import UTC, datetime

import httpx
import pytest

from service.simulator import SimulatorConfig, create_app
from service.simulator.middleware import SimulatorMiddleware

from .conftest import BASE

ISSUES = "/github/repos/acme/web/issues"


def live_numbers(app: SimulatorMiddleware, repo: str = "web") -> list[int]:
    target = app.state.github.repo("acme", repo)
    assert target is not None
    return [i.number for i in target.issues if not i.deleted]


def page_url(page: int) -> str:
    return f"{BASE}{ISSUES}?state=all&per_page=3&page={page}"


async def test_link_header_on_a_middle_page_has_githubs_exact_format(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    last = math.ceil(len(live_numbers(app)) / 3)
    assert last > 4

    response = await client.get(ISSUES, params={"state": "all", "per_page": 3, "page": 3})

    assert response.headers["link"] == (
        f'<{page_url(2)}>; rel="prev", <{page_url(4)}>; rel="next", '
        f'<{page_url(last)}>; rel="last", <{page_url(1)}>; rel="first"'
    )


async def test_first_page_links_only_next_and_last_and_last_page_only_prev_and_first(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    last = math.ceil(len(live_numbers(app)) / 3)

    first = await client.get(ISSUES, params={"state": "all", "per_page": 3})
    final = await client.get(ISSUES, params={"state": "all", "per_page": 3, "page": last})

    assert first.headers["link"] == (f'<{page_url(2)}>; rel="next", <{page_url(last)}>; rel="last"')
    assert (
        final.headers["link"] == f'<{page_url(last - 1)}>; rel="prev", <{page_url(1)}>; rel="first"'
    )


async def test_no_link_header_when_everything_fits_on_one_page(client: httpx.AsyncClient) -> None:
    response = await client.get(ISSUES, params={"state": "all", "per_page": 100, "labels": "bug"})

    assert response.status_code == 200
    assert 0 < len(response.json()) < 100
    assert "link" not in response.headers


async def test_following_next_links_returns_every_issue_and_pr_exactly_once(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    seen: list[int] = []
    url: str | None = f"{ISSUES}?state=all&per_page=7&sort=updated&direction=asc"
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        seen += [issue["number"] for issue in response.json()]
        url = response.links.get("next", {}).get("url")

    assert sorted(seen) == sorted(live_numbers(app))
    assert len(seen) == len(set(seen))


async def test_pull_requests_are_mixed_in_with_merged_at(client: httpx.AsyncClient) -> None:
    items: list[dict] = []
    for repo in ("web", "api", "mobile"):
        response = await client.get(f"/github/repos/acme/{repo}/issues?state=all&per_page=100")
        items += response.json()

    prs = [i for i in items if "pull_request" in i]
    merged = [p for p in prs if p["pull_request"]["merged_at"]]
    closed_unmerged = [
        p for p in prs if p["state"] == "closed" and not p["pull_request"]["merged_at"]
    ]
    assert merged and closed_unmerged
    assert 0.05 < len(prs) / len(items) < 0.3
    assert all(p["node_id"].startswith("PR_kwDO") for p in prs)
    issues = [i for i in items if "pull_request" not in i]
    assert all(i["node_id"].startswith("I_kwDO") for i in issues)
    assert len({i["node_id"] for i in items}) == len(items)


async def test_since_with_sort_updated_ascending(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    target = app.state.github.repo("acme", "web")
    assert target is not None
    cut = sorted(i.updated for i in target.issues)[len(target.issues) // 2]
    since = datetime.fromtimestamp(cut, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = await client.get(
        ISSUES,
        params={
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "since": since,
            "per_page": 100,
        },
    )

    stamps = [i["updated_at"] for i in response.json()]
    assert stamps == sorted(stamps)
    assert len(stamps) == sum(1 for i in target.issues if i.updated >= cut)
    desc = await client.get(ISSUES, params={"state": "all", "sort": "created", "per_page": 100})
    created = [i["created_at"] for i in desc.json()]
    assert created == sorted(created, reverse=True)


async def test_state_filter_defaults_to_open(client: httpx.AsyncClient) -> None:
    response = await client.get(ISSUES, params={"per_page": 100})
    closed = await client.get(ISSUES, params={"per_page": 100, "state": "closed"})

    assert {i["state"] for i in response.json()} == {"open"}
    assert {i["state"] for i in closed.json()} == {"closed"}
    assert all(i["closed_at"] for i in closed.json())


async def test_etag_answers_304_without_spending_budget(client: httpx.AsyncClient) -> None:
    first = await client.get(ISSUES)
    etag = first.headers["etag"]
    remaining = int(first.headers["x-ratelimit-remaining"])

    again = await client.get(ISSUES, headers={"if-none-match": etag})
    fresh = await client.get(ISSUES)
    stats = (await client.get("/_sim/stats")).json()

    assert etag.startswith('"') and len(etag) == 66
    assert again.status_code == 304
    assert again.content == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    assert int(fresh.headers["x-ratelimit-remaining"]) == remaining - 1
    assert stats["not_modified"] == 1


async def test_etag_changes_when_an_issue_changes(client: httpx.AsyncClient) -> None:
    first = await client.get(ISSUES, params={"state": "all", "per_page": 100})
    await client.post("/_sim/mutate", json={"github": {"update": ["acme/web#1"]}})

    again = await client.get(
        ISSUES,
        params={"state": "all", "per_page": 100},
        headers={"if-none-match": first.headers["etag"]},
    )

    assert again.status_code == 200


async def test_every_response_carries_rate_limit_headers(client: httpx.AsyncClient) -> None:
    for path in (
        ISSUES,
        "/github/repos/acme/web",
        "/github/repos/acme/nope",
        "/github/orgs/acme/repos",
    ):
        response = await client.get(path)
        assert response.headers["x-ratelimit-resource"] == "core", path
        assert int(response.headers["x-ratelimit-limit"]) == 5000
        used = int(response.headers["x-ratelimit-used"])
        assert used + int(response.headers["x-ratelimit-remaining"]) == 5000


@pytest.mark.parametrize("status", [403, 429])
async def test_exhausted_budget_refuses_with_retry_after_and_counts_violations(status: int) -> None:
    app = create_app(
        SimulatorConfig(github_issues=30, jira_issues=10, rate_limit=3, rate_limit_status=status)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        remaining = [(await client.get(ISSUES)).headers["x-ratelimit-remaining"] for _ in range(3)]
        clean = (await client.get("/_sim/stats")).json()["rate_limit_violations"]
        refused = await client.get(ISSUES)
        again = await client.get("/github/repos/acme/web")
        stats = (await client.get("/_sim/stats")).json()

    assert remaining == ["2", "1", "0"]
    assert clean == 0
    assert refused.status_code == status
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(refused.headers["retry-after"]) <= 3601
    assert "rate limit exceeded" in refused.json()["message"]
    assert again.status_code == status
    assert stats["rate_limit_violations"] == 2
    assert stats["rate_limit_violations_by_upstream"] == {"github": 2}


async def test_budget_resets_after_the_window() -> None:
    app = create_app(
        SimulatorConfig(github_issues=10, jira_issues=10, rate_limit=1, rate_limit_window=0.05)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        await client.get(ISSUES)
        app.state.core.reset_at = 0  # as if the window had passed
        after = await client.get(ISSUES)

    assert after.status_code == 200
    assert after.headers["x-ratelimit-remaining"] == "0"


async def test_single_issue_404_and_410_after_delete(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    repo = app.state.github.repo("acme", "web")
    assert repo is not None
    leaf = next(i for i in repo.issues if not i.epic and not i.is_pr)
    key = f"acme/web#{leaf.number}"
    ok = await client.get(f"{ISSUES}/{leaf.number}")
    await client.post("/_sim/mutate", json={"github": {"delete": [key]}})
    gone = await client.get(f"{ISSUES}/{leaf.number}")
    missing = await client.get(f"{ISSUES}/99999")

    assert ok.status_code == 200 and ok.json()["number"] == leaf.number
    assert gone.status_code == 410
    assert gone.json()["message"] == "This issue was deleted"
    assert missing.status_code == 404


async def test_epics_and_sub_issues_point_at_each_other(client: httpx.AsyncClient) -> None:
    items = (await client.get(ISSUES, params={"state": "all", "per_page": 100})).json()
    items += (await client.get(ISSUES, params={"state": "all", "per_page": 100, "page": 2})).json()
    by_url = {i["url"]: i for i in items}

    epics = [i for i in items if i["type"] and i["type"]["name"] == "Epic"]
    children = [i for i in items if i["parent_issue_url"]]
    assert epics and children
    for child in children:
        assert by_url[child["parent_issue_url"]]["type"]["name"] == "Epic"
    totals = sum(e["sub_issues_summary"]["total"] for e in epics)
    assert totals == len(children)


async def test_issue_objects_carry_the_documented_fields(client: httpx.AsyncClient) -> None:
    item = (await client.get(ISSUES, params={"state": "all"})).json()[0]

    for field in (
        "id", "node_id", "number", "title", "body", "state", "state_reason", "labels", "assignee",
        "assignees", "milestone", "created_at", "updated_at", "closed_at", "html_url", "url",
        "repository_url", "user", "type", "parent_issue_url", "sub_issues_summary",
    ):  # fmt: skip
        assert field in item, field
    assert isinstance(item["id"], int)
    datetime.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%SZ")


async def test_labels_include_points_on_some_issues(client: httpx.AsyncClient) -> None:
    names = set()
    for repo in ("web", "api", "mobile"):
        for item in (
            await client.get(f"/github/repos/acme/{repo}/issues?state=all&per_page=100")
        ).json():
            names |= {label["name"] for label in item["labels"]}

    assert any(name.startswith("points:") for name in names)


async def test_repo_milestones_and_org_repos(client: httpx.AsyncClient) -> None:
    repo = await client.get("/github/repos/acme/api")
    milestones = await client.get("/github/repos/acme/api/milestones", params={"state": "all"})
    open_only = await client.get("/github/repos/acme/api/milestones")
    repos = await client.get("/github/orgs/acme/repos", params={"per_page": 2})

    assert repo.json()["full_name"] == "acme/api"
    assert len(milestones.json()) == 6
    assert {m["state"] for m in open_only.json()} == {"open"}
    assert [r["name"] for r in repos.json()] == ["web", "api"]
    assert repos.links["next"]["url"].endswith("/github/orgs/acme/repos?per_page=2&page=2")
