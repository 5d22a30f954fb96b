import httpx

from service.simulator import SimulatorConfig, create_app
from service.simulator.middleware import SimulatorMiddleware

from .conftest import BASE


async def truth(
    client: httpx.AsyncClient, include_deleted: bool = False
) -> dict[tuple[str, str], dict]:
    rows = (await client.get("/_sim/truth", params={"include_deleted": include_deleted})).json()
    return {(r["source"], r["external_id"]): r for r in rows}


async def test_truth_rows_are_canonical_and_every_parent_exists(client: httpx.AsyncClient) -> None:
    rows = list((await truth(client)).values())

    keys = {(r["source"], r["key"]) for r in rows}
    for row in rows:
        assert set(row) == {
            "source", "external_id", "key", "kind", "title", "status_category", "parent_key",
            "labels", "estimate", "deleted",
        }  # fmt: skip
        if row["parent_key"]:
            assert (row["source"], row["parent_key"]) in keys
    kinds = {(r["source"], r["kind"]) for r in rows}
    assert kinds == {
        ("github", "epic"), ("github", "issue"), ("github", "pull_request"), ("jira", "epic"),
        ("jira", "story"), ("jira", "task"), ("jira", "bug"), ("jira", "subtask"),
    }  # fmt: skip
    for source in ("github", "jira"):
        categories = {r["status_category"] for r in rows if r["source"] == source}
        assert categories == {"todo", "in_progress", "done", "cancelled"}
    assert any(r["estimate"] for r in rows if r["source"] == "github")


async def test_github_status_categories_follow_state_and_project_status(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    rows = await truth(client)

    for repo in app.state.github.repos:
        for issue in repo.issues:
            row = rows[("github", issue.node_id)]
            if issue.is_pr and issue.state == "closed":
                assert row["status_category"] == ("done" if issue.merged_at else "cancelled")
            elif issue.state_reason in ("not_planned", "duplicate"):
                assert row["status_category"] == "cancelled"
            elif issue.state == "open" and row["status_category"] == "in_progress":
                assert issue.item is not None and issue.item.status == 1


async def test_same_seed_same_truth_and_another_seed_differs() -> None:
    async def snapshot(seed: int) -> list[dict]:
        app = create_app(SimulatorConfig(seed=seed, github_issues=80, jira_issues=80))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            await client.post(
                "/_sim/mutate",
                json={"github": {"update": 3, "create": 2}, "jira": {"update": 3, "move": 1}},
            )
            return (await client.get("/_sim/truth")).json()

    first, again, other = await snapshot(11), await snapshot(11), await snapshot(12)

    assert first == again
    assert first != other


async def test_update_bumps_updated_past_everything_in_tick_order(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    repo = app.state.github.repo("acme", "web")
    assert repo is not None
    targets = [f"acme/web#{i.number}" for i in repo.issues if not i.is_pr][:2]
    result = (
        await client.post(
            "/_sim/mutate",
            json={"github": {"update": targets}, "jira": {"update": ["PLAT-2", "MOB-1"]}},
        )
    ).json()

    newest = (
        await client.get("/github/repos/acme/web/issues?state=all&sort=updated&direction=desc")
    ).json()
    search = await client.post(
        "/jira/rest/api/3/search/jql",
        json={
            "jql": "project in (PLAT, MOB, OPS) ORDER BY updated DESC",
            "fields": ["key"],
            "maxResults": 2,
        },
        auth=("a@example.com", "t"),
    )

    assert [c["key"] for c in result["github"]["updated"]] == targets
    assert [f"acme/web#{i['number']}" for i in newest[:2]] == targets[::-1]
    assert newest[0]["updated_at"] > newest[1]["updated_at"] > newest[2]["updated_at"]
    assert [i["key"] for i in search.json()["issues"]] == ["MOB-1", "PLAT-2"]


async def test_updates_change_the_truth(client: httpx.AsyncClient) -> None:
    before = await truth(client)
    result = (
        await client.post("/_sim/mutate", json={"github": {"update": 5}, "jira": {"update": 5}})
    ).json()
    after = await truth(client)

    changed = [c["external_id"] for c in result["github"]["updated"] + result["jira"]["updated"]]
    differing = [k for k in after if after[k] != before.get(k)]
    assert differing
    assert {k[1] for k in differing} <= set(changed)


async def test_create_and_delete_show_in_truth(client: httpx.AsyncClient) -> None:
    result = (
        await client.post(
            "/_sim/mutate",
            json={"github": {"create": 2, "delete": 1}, "jira": {"create": 3, "delete": 2}},
        )
    ).json()
    live = await truth(client)
    everything = await truth(client, include_deleted=True)

    for created in result["github"]["created"]:
        assert live[("github", created["external_id"])]["key"] == created["key"]
    for created in result["jira"]["created"]:
        assert live[("jira", created["external_id"])]["status_category"] == "todo"
    deleted = [("github", d["external_id"]) for d in result["github"]["deleted"]]
    deleted += [("jira", d["external_id"]) for d in result["jira"]["deleted"]]
    assert len(deleted) == 3
    for key in deleted:
        assert key not in live
        assert everything[key]["deleted"] is True
    parents = {(r["source"], r["key"]) for r in live.values()}
    assert all((r["source"], r["parent_key"]) in parents for r in live.values() if r["parent_key"])


async def test_move_keeps_the_id_and_changes_the_key(client: httpx.AsyncClient) -> None:
    result = (await client.post("/_sim/mutate", json={"jira": {"move": 1}})).json()
    moved = result["jira"]["moved"][0]
    rows = await truth(client)

    assert moved["from"].split("-")[0] != moved["key"].split("-")[0]
    assert rows[("jira", moved["external_id"])]["key"] == moved["key"]
    auth = ("a@example.com", "t")
    by_old_key = await client.get(f"/jira/rest/api/3/issue/{moved['from']}", auth=auth)
    assert by_old_key.json()["key"] == moved["key"]
    assert by_old_key.json()["id"] == moved["external_id"]
    project = moved["key"].split("-")[0]
    found = await client.post(
        "/jira/rest/api/3/search/jql",
        json={
            "jql": f"project = {project} ORDER BY updated DESC",
            "fields": ["key"],
            "maxResults": 1,
        },
        auth=auth,
    )
    assert found.json()["issues"][0]["key"] == moved["key"]


async def test_named_targets_and_unknown_names(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    repo = app.state.github.repo("acme", "api")
    assert repo is not None
    issue = next(i for i in repo.issues if not i.is_pr)
    pr = next(i for i in repo.issues if i.is_pr)
    before = (await client.get("/_sim/truth")).json()

    rejected = await client.post(
        "/_sim/mutate",
        json={"github": {"update": [f"acme/api#{issue.number}"]}, "jira": {"delete": ["NOPE-1"]}},
    )
    unchanged = (await client.get("/_sim/truth")).json()
    pr_update = await client.post(
        "/_sim/mutate", json={"github": {"update": [f"acme/api#{pr.number}"]}}
    )
    ok = await client.post(
        "/_sim/mutate",
        json={"github": {"update": [f"acme/api#{issue.number}"]}, "jira": {"update": ["MOB-3"]}},
    )

    assert rejected.status_code == pr_update.status_code == 422
    assert unchanged == before
    assert ok.json()["github"]["updated"][0]["key"] == f"acme/api#{issue.number}"
    assert ok.json()["jira"]["updated"][0]["key"] == "MOB-3"


async def test_stats_count_by_endpoint_and_reset(client: httpx.AsyncClient) -> None:
    await client.get("/github/repos/acme/web/issues")
    await client.get("/github/repos/acme/web/issues/1")
    await client.get("/jira/rest/api/3/myself")
    stats = (await client.get("/_sim/stats")).json()
    await client.post("/_sim/stats/reset")
    cleared = (await client.get("/_sim/stats")).json()

    assert stats["requests"]["GET /github/repos/{owner}/{repo}/issues"] == {"200": 1}
    assert stats["requests"]["GET /github/repos/{owner}/{repo}/issues/{number}"] == {"200": 1}
    assert stats["requests"]["GET /jira/rest/api/3/myself"] == {"401": 1}
    assert stats["total_requests"] == 3
    assert cleared["total_requests"] == 0
