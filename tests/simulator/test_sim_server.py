import httpx
import pytest

from service.simulator import SimulatorConfig, run_in_thread, running_simulator

CONFIG = SimulatorConfig(seed=4, github_issues=40, jira_issues=40)


async def test_serves_a_page_on_a_real_loopback_port() -> None:
    async with (
        running_simulator(CONFIG) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        github = await client.get(
            "/github/repos/acme/web/issues", params={"state": "all", "per_page": 5}
        )
        jira = await client.post(
            "/jira/rest/api/3/search/jql",
            json={"jql": "project = PLAT"},
            auth=("a@example.com", "t"),
        )

    assert base_url.startswith("http://127.0.0.1:")
    assert github.status_code == 200 and len(github.json()) == 5
    assert github.links["next"]["url"].startswith(f"{base_url}/github/repos/acme/web/issues?")
    assert jira.status_code == 200 and jira.json()["issues"]


async def test_connection_reset_and_truncation_on_a_real_socket() -> None:
    async with (
        running_simulator(CONFIG) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        await client.post("/_sim/faults", json={"reset_rate": 1.0, "upstreams": ["github"]})
        with pytest.raises(httpx.TransportError):
            await client.get("/github/repos/acme/web/issues")
        await client.post("/_sim/faults", json={"truncate_rate": 1.0, "upstreams": ["github"]})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/github/repos/acme/web/issues")
        await client.post("/_sim/faults/clear")
        healthy = await client.get("/github/repos/acme/web/issues")

    assert healthy.status_code == 200


def test_run_in_thread_stops_cleanly() -> None:
    base_url, stop = run_in_thread(CONFIG)
    try:
        assert httpx.get(f"{base_url}/github/repos/acme/web").json()["full_name"] == "acme/web"
    finally:
        stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/github/repos/acme/web", timeout=1)
