import httpx
import pytest

from connectors.github.connector import GitHubConnector
from connectors.registry import build_connector

from .fakes import BASE


async def test_check_lists_each_repo_including_org_expansion(router, make_connector):
    router.get(f"{BASE}/orgs/octo/repos", params={"per_page": "100"}).mock(
        return_value=httpx.Response(
            200,
            json=[{"full_name": "octo/a"}, {"full_name": "octo/old", "archived": True}],
            headers={"link": f'<{BASE}/organizations/1/repos?per_page=100&page=2>; rel="next"'},
        )
    )
    router.get(f"{BASE}/organizations/1/repos?per_page=100&page=2").mock(
        return_value=httpx.Response(200, json=[{"full_name": "octo/b"}, {"full_name": "x/y"}])
    )
    for repo in ("x/y", "octo/a", "octo/b"):
        router.get(f"{BASE}/repos/{repo}").mock(
            return_value=httpx.Response(200, json={"full_name": repo, "private": True})
        )
    connector = make_connector({"repos": ["x/y"], "org": "octo"})

    found = await connector.check()

    assert [r["full_name"] for r in found["repos"]] == ["x/y", "octo/a", "octo/b"]
    assert found["org"] == "octo"


async def test_check_fails_loudly_for_an_invisible_repo(router, make_connector):
    from connectors.base import FatalUpstreamError

    router.get(f"{BASE}/repos/octo/secret").mock(
        return_value=httpx.Response(404, json={"message": "Not Found"})
    )
    with pytest.raises(FatalUpstreamError, match=r"/repos/octo/secret -> HTTP 404 .*Not Found"):
        await make_connector({"repos": ["octo/secret"]}).check()


async def test_discover_lists_milestones_per_repo(router, make_connector):
    router.get(f"{BASE}/repos/octo/repo/milestones", params={"state": "all"}).mock(
        return_value=httpx.Response(
            200, json=[{"number": 1, "title": "v1.0", "state": "open", "due_on": None}]
        )
    )
    found = await make_connector().discover()
    assert found["milestones"] == {
        "octo/repo": [{"number": 1, "title": "v1.0", "state": "open", "due_on": None}]
    }


def test_registry_builds_github_connector_and_rejects_unknown_kind():
    connector = build_connector(
        "github",
        base_url=BASE,
        credentials={"token": "t"},
        scope={"repos": ["o/r"]},
        settings={},
    )
    assert isinstance(connector, GitHubConnector)
    with pytest.raises(ValueError, match="unknown connector kind"):
        build_connector("gitlab", base_url=BASE, credentials={}, scope={}, settings={})


def test_configuration_errors_are_reported():
    with pytest.raises(ValueError, match="token"):
        GitHubConnector(BASE, {}, {"repos": ["o/r"]}, {})
    with pytest.raises(ValueError, match="scope"):
        GitHubConnector(BASE, {"token": "t"}, {}, {})


async def test_aclose_keeps_a_client_it_was_given():
    client = httpx.AsyncClient()
    connector = GitHubConnector(BASE, {"token": "t"}, {"repos": ["o/r"]}, {}, client=client)
    await connector.aclose()
    assert not client.is_closed
    await client.aclose()
