"""Rate limits, retries and fatal errors as the GitHub connector meets them."""

from datetime import timedelta

import httpx
import pytest

from connectors.base import FatalUpstreamError, RateLimitedError, RetriesExhaustedError
from connectors.github.client import graphql_url

from .fakes import BASE, load, nock_response

ISSUES = f"{BASE}/repos/octo/repo/issues"


async def read_all(connector):
    return [page async for page in connector.read({})]


def budget(fake_time, remaining: int, *, limit: int = 5000, reset_in: int = 600) -> dict:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(fake_time.now.timestamp()) + reset_in),
        "x-ratelimit-resource": "core",
    }


def two_pages(fake_time, first_headers: dict) -> list[httpx.Response]:
    link = {"link": f'<{ISSUES}?page=2>; rel="next"'}
    return [
        httpx.Response(200, json=[], headers={**first_headers, **link}),
        httpx.Response(200, json=[], headers=budget(fake_time, 4999)),
    ]


async def test_waits_for_reset_when_remaining_reaches_the_floor(router, make_connector, fake_time):
    route = router.get(url__startswith=ISSUES).mock(
        side_effect=two_pages(fake_time, budget(fake_time, 500))  # 10% of 5000
    )
    connector = make_connector()

    await read_all(connector)

    assert route.call_count == 2
    assert fake_time.waits == [601.0]
    assert connector.stats.rate_limit_wait_seconds == 601.0


async def test_does_not_wait_above_the_floor(router, make_connector, fake_time):
    router.get(url__startswith=ISSUES).mock(
        side_effect=two_pages(fake_time, budget(fake_time, 501))
    )
    await read_all(make_connector())
    assert fake_time.waits == []


async def test_floor_ratio_is_configurable(router, make_connector, fake_time):
    router.get(url__startswith=ISSUES).mock(
        side_effect=two_pages(fake_time, budget(fake_time, 1000))
    )
    await read_all(make_connector(remaining_floor_ratio=0.25))
    assert fake_time.waits == [601.0]


@pytest.mark.parametrize("status", [403, 429])
async def test_retry_after_is_honoured(router, make_connector, fake_time, status):
    router.get(url__startswith=ISSUES).mock(
        side_effect=[
            httpx.Response(status, headers={"retry-after": "42"}, json={"message": "slow down"}),
            httpx.Response(200, json=[]),
        ]
    )
    connector = make_connector()
    await read_all(connector)
    assert fake_time.waits == [42.0]
    assert connector.stats.retries == 0


async def test_exhausted_primary_limit_waits_until_reset(router, make_connector, fake_time):
    router.get(url__startswith=ISSUES).mock(
        side_effect=[
            httpx.Response(
                403,
                headers=budget(fake_time, 0, reset_in=300),
                json={"message": "API rate limit exceeded for user ID 1."},
            ),
            httpx.Response(200, json=[]),
        ]
    )
    await read_all(make_connector())
    assert fake_time.waits == [301.0]


async def test_secondary_limit_without_headers_backs_off_from_a_minute(
    router, make_connector, fake_time
):
    secondary = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    route = router.get(url__startswith=ISSUES).mock(
        side_effect=[
            httpx.Response(403, json=secondary),
            httpx.Response(403, json=secondary),
            httpx.Response(200, json=[]),
        ]
    )
    await read_all(make_connector())
    assert route.call_count == 3
    assert fake_time.waits == [60.0, 120.0]


async def test_wait_longer_than_maximum_fails_with_until_time(router, make_connector, fake_time):
    router.get(url__startswith=ISSUES).mock(
        return_value=httpx.Response(
            403, headers=budget(fake_time, 0, reset_in=3600), json={"message": "exceeded"}
        )
    )
    until = (fake_time.now + timedelta(seconds=3601)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(RateLimitedError, match=f"rate limited until {until}"):
        await read_all(make_connector(max_wait_seconds=900))
    assert fake_time.waits == []


async def test_never_sends_while_budget_is_known_exhausted(router, make_connector, fake_time):
    sent_at = []

    def respond(request):
        sent_at.append(fake_time.now)
        if len(sent_at) == 1:
            return httpx.Response(
                200,
                json=[],
                headers={
                    **budget(fake_time, 0, reset_in=120),
                    "link": f'<{ISSUES}?p=2>; rel="next"',
                },
            )
        return httpx.Response(200, json=[])

    router.get(url__startswith=ISSUES).mock(side_effect=respond)
    await read_all(make_connector())
    assert sent_at[1] - sent_at[0] >= timedelta(seconds=120)


async def test_5xx_is_retried_then_succeeds(router, make_connector, fake_time):
    router.get(url__startswith=ISSUES).mock(
        side_effect=[httpx.Response(502), httpx.ConnectError("reset"), httpx.Response(200, json=[])]
    )
    connector = make_connector()
    pages = await read_all(connector)
    assert len(pages) == 1
    assert connector.stats.retries == 2
    assert connector.stats.requests == 3


async def test_5xx_forever_fails_clearly(router, make_connector):
    route = router.get(url__startswith=ISSUES).mock(return_value=httpx.Response(500))
    with pytest.raises(RetriesExhaustedError) as info:
        await read_all(make_connector())
    assert route.call_count == 3
    assert str(info.value) == (
        "repo octo/repo: GET /repos/octo/repo/issues: gave up after 3 attempts, "
        "last error: GET /repos/octo/repo/issues: HTTP 500"
    )


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Bad credentials", "bad or expired token"),
        (404, "Not Found", "not visible to this token"),
        (410, "Issues are disabled for this repo", "gone"),
    ],
)
async def test_client_errors_are_fatal_with_repo_path_status_and_message(
    router, make_connector, status, message, hint
):
    router.get(url__startswith=ISSUES).mock(
        return_value=httpx.Response(status, json={"message": message})
    )
    if status == 401:
        with pytest.raises(FatalUpstreamError) as info:
            await read_all(make_connector())
        text = str(info.value)
        assert info.value.status == status
    else:
        # The repository is gone from reach: one failed page, the other repositories go on.
        pages = await read_all(make_connector())
        assert [(p.stream, p.items, p.failed is not None) for p in pages] == [
            ("issues:octo/repo", [], True)
        ]
        text = str(pages[0].failed)
    assert text.startswith("repo octo/repo: GET /repos/octo/repo/issues -> HTTP ")
    assert f"HTTP {status}" in text and hint in text and message in text


async def test_recorded_422_reports_validation_errors(router, make_connector):
    entry = next(e for e in load("errors.raw-fixture.json") if e["status"] == 422)
    router.get(url__startswith=ISSUES).mock(return_value=nock_response(entry))
    with pytest.raises(
        FatalUpstreamError, match=r"HTTP 422 \(validation failed\): Validation Failed"
    ):
        await read_all(make_connector())


def test_graphql_url_per_deployment():
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/graphql"
    assert graphql_url("http://127.0.0.1:8765/github") == "http://127.0.0.1:8765/github/graphql"
