import json

import httpx
import pytest

from service.simulator.middleware import SimulatedConnectionReset

ISSUES = "/github/repos/acme/web/issues"
MYSELF = "/jira/rest/api/3/myself"


async def test_error_rate_one_makes_every_upstream_request_a_5xx(
    client: httpx.AsyncClient, jira: httpx.AsyncClient
) -> None:
    await client.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [502, 503]})

    github = [await client.get(ISSUES) for _ in range(5)]
    atlassian = [await jira.get(MYSELF) for _ in range(5)]
    control = await client.get("/_sim/stats")

    assert {r.status_code for r in github + atlassian} <= {502, 503}
    assert all(r.headers["retry-after"] == "1" for r in github + atlassian if r.status_code == 503)
    assert control.status_code == 200
    assert control.json()["faults_injected"] == {"server_error": 10}


async def test_fault_sequence_is_reproducible_for_a_seed(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await client.post("/_sim/faults", json={"error_rate": 0.5, "seed": 42})
        return [(await client.get(ISSUES)).status_code for _ in range(12)]

    first, second = await run(), await run()

    assert first == second
    assert 200 in first and any(code >= 500 for code in first)


async def test_jira_429_burst_then_recovery_and_violations_inside_retry_after(
    jira: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await client.post("/_sim/faults", json={"jira_429": 2, "retry_after": 30})

    first = await jira.get(MYSELF)
    second = await jira.get(MYSELF)
    third = await jira.get(MYSELF)
    stats = (await client.get("/_sim/stats")).json()

    assert first.status_code == 429 and first.headers["retry-after"] == "30"
    assert first.json()["errorMessages"]
    assert second.status_code == 429
    assert third.status_code == 200
    # The second and third requests were sent inside the 30 s the first answer asked for.
    assert stats["rate_limit_violations_by_upstream"] == {"jira": 2}


async def test_clearing_faults_closes_retry_windows(
    jira: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await client.post("/_sim/faults", json={"jira_429": 1, "retry_after": 30})
    await jira.get(MYSELF)
    await client.post("/_sim/faults/clear")

    after = await jira.get(MYSELF)
    stats = (await client.get("/_sim/stats")).json()

    assert after.status_code == 200
    assert stats["rate_limit_violations"] == 0


async def test_secondary_limit_403_has_githubs_message_and_no_rate_headers(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sim/faults", json={"github_secondary": 1, "retry_after": 60})

    limited = await client.get(ISSUES)
    normal = await client.get(ISSUES)

    assert limited.status_code == 403
    assert limited.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert limited.headers["retry-after"] == "60"
    assert not any(h.startswith("x-ratelimit") for h in limited.headers)
    assert normal.status_code == 200


async def test_connection_reset_raises_a_transport_error_in_process(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sim/faults", json={"reset_rate": 1.0})

    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await client.get(ISSUES)

    assert isinstance(caught.value, SimulatedConnectionReset)
    assert (await client.get("/_sim/stats")).json()["requests"][
        "GET /github/repos/{owner}/{repo}/issues"
    ] == {"reset": 1}


async def test_truncated_body_is_cut_in_half_under_asgi(
    jira: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await client.post("/_sim/faults", json={"truncate_rate": 1.0, "upstreams": ["jira"]})

    response = await jira.post(
        "/jira/rest/api/3/search/jql", json={"jql": "project = PLAT", "fields": ["*all"]}
    )
    github = await client.get(ISSUES)

    assert response.status_code == 200
    assert len(response.content) < int(response.headers["content-length"])
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert github.status_code == 200 and github.json()


async def test_latency_is_added(client: httpx.AsyncClient) -> None:
    import time

    await client.post("/_sim/faults", json={"latency_ms": 60})
    started = time.perf_counter()
    await client.get(ISSUES)

    assert time.perf_counter() - started >= 0.05
