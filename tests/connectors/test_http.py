from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from connectors.base import (
    ConnectorStats,
    FatalUpstreamError,
    RateLimitedError,
    RetriesExhaustedError,
)
from connectors.http import (
    HttpExecutor,
    RateLimitPolicy,
    ResponseClassifier,
    RetryPolicy,
    build_client,
    parse_reset,
    parse_retry_after,
)
from connectors.testing import FakeTime

BASE = "https://upstream.test"


def make_executor(time: FakeTime, **limits) -> HttpExecutor:
    return HttpExecutor(
        build_client(BASE),
        ResponseClassifier(),
        stats=ConnectorStats(),
        retry=RetryPolicy(max_attempts=3),
        limits=RateLimitPolicy(**limits),
        sleep=time.sleep,
        clock=time.clock,
    )


def get(path: str = "/items") -> httpx.Request:
    return httpx.Request("GET", BASE + path)


def test_parse_reset_reads_epoch_and_jira_minute_iso():
    assert parse_reset("1658208999") == datetime.fromtimestamp(1658208999, UTC)
    assert parse_reset("2026-03-26T16:00Z") == datetime(2026, 3, 26, 16, 0, tzinfo=UTC)
    assert parse_reset("soon") is None


def test_parse_retry_after_reads_seconds_and_http_date():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 00:01:00 GMT", now) == 60.0
    assert parse_retry_after(None, now) is None


def test_build_client_never_follows_redirects():
    assert build_client(BASE).follow_redirects is False


async def test_5xx_then_success_is_retried_and_counted():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            side_effect=[httpx.Response(502), httpx.Response(200, json=[1])]
        )
        executor = make_executor(time)
        reply = await executor.send(get())
    assert reply.data == [1]
    assert executor.stats.requests == 2
    assert executor.stats.retries == 1
    assert len(time.waits) == 1


async def test_timeouts_and_truncated_bodies_are_retried():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                httpx.Response(200, content=b'[{"id": 1'),
                httpx.Response(200, json=[]),
            ]
        )
        executor = make_executor(time)
        reply = await executor.send(get())
    assert reply.data == []
    assert executor.stats.retries == 2


async def test_persistent_5xx_raises_retries_exhausted_with_path():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/items").mock(return_value=httpx.Response(503))
        executor = make_executor(time)
        with pytest.raises(RetriesExhaustedError, match=r"GET /items: gave up after 3 attempts"):
            await executor.send(get())
    assert route.call_count == 3


async def test_4xx_is_fatal_with_upstream_message():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            return_value=httpx.Response(400, json={"errorMessages": ["bad JQL"], "errors": {}})
        )
        with pytest.raises(FatalUpstreamError, match="GET /items -> HTTP 400: bad JQL") as info:
            await make_executor(time).send(get())
    assert info.value.status == 400


async def test_redirect_is_refused_not_followed():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            return_value=httpx.Response(301, headers={"location": "https://elsewhere.test/x"})
        )
        with pytest.raises(FatalUpstreamError, match=r"redirect to https://elsewhere\.test/x"):
            await make_executor(time).send(get())


async def test_429_waits_retry_after_then_sends_again():
    time = FakeTime()
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            side_effect=[
                httpx.Response(429, headers={"retry-after": "7"}),
                httpx.Response(200, json=[]),
            ]
        )
        executor = make_executor(time)
        await executor.send(get())
    assert time.waits == [7.0]
    assert executor.stats.rate_limit_wait_seconds == 7.0
    assert executor.stats.retries == 0


async def test_429_with_iso_reset_waits_until_reset():
    time = FakeTime(datetime(2026, 3, 26, 15, 59, 30, tzinfo=UTC))
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            side_effect=[
                httpx.Response(429, headers={"x-ratelimit-reset": "2026-03-26T16:00Z"}),
                httpx.Response(200, json=[]),
            ]
        )
        await make_executor(time).send(get())
    assert time.waits == [30.0]


async def test_wait_beyond_maximum_fails_with_until_time():
    time = FakeTime(datetime(2024, 1, 1, tzinfo=UTC))
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/items").mock(
            return_value=httpx.Response(429, headers={"retry-after": "3600"})
        )
        with pytest.raises(RateLimitedError, match="rate limited until 2024-01-01T01:00:00Z") as e:
            await make_executor(time, max_wait_seconds=600).send(get())
    assert e.value.until == time.now + timedelta(hours=1)
    assert time.waits == []


async def test_low_remaining_budget_waits_for_reset_before_sending():
    time = FakeTime(datetime(2024, 1, 1, tzinfo=UTC))
    reset = int(time.now.timestamp()) + 120
    headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "10"}
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        route = router.get(f"{BASE}/items").mock(
            return_value=httpx.Response(
                200, json=[], headers={**headers, "x-ratelimit-reset": str(reset)}
            )
        )
        executor = make_executor(time)
        await executor.send(get())
        assert time.waits == []
        await executor.send(get())
    assert route.call_count == 2
    assert time.waits == [121.0]
    assert executor.stats.rate_limit["default"].remaining == 10
