import json

import httpx
import pytest

from connectors.base import FatalUpstreamError, RateLimitedError
from connectors.jira.client import SEARCH_JQL_PATH
from connectors.jira.connector import JiraConnector

from .jira_support import CREDENTIALS, FIELD_SETTINGS, LEGACY_410, MYSELF, SITE

EMPTY_PAGE = {"issues": [], "isLast": True}


def connector(fake_time, **kwargs):
    return JiraConnector(
        SITE,
        CREDENTIALS,
        {"projects": ["KAN"]},
        FIELD_SETTINGS,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        **kwargs,
    )


async def read_all(conn):
    return [page async for page in conn.read({})]


@pytest.fixture
def myself(jira_mock):
    return jira_mock.get("/rest/api/3/myself").respond(json=MYSELF)


async def test_429_waits_retry_after_then_succeeds(jira_mock, myself, fake_time):
    search = jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"errorMessages": []}),
            httpx.Response(200, json=EMPTY_PAGE),
        ]
    )
    conn = connector(fake_time)
    await read_all(conn)
    assert search.call_count == 2
    assert fake_time.waits == [7.0]
    assert conn.stats.rate_limit_wait_seconds == 7.0


async def test_429_without_retry_after_waits_until_iso_reset(jira_mock, myself, fake_time):
    # The fake clock starts at 2024-01-01T00:00Z; Jira's reset is minute-grained ISO.
    limited = httpx.Response(
        429,
        headers={"X-RateLimit-Reset": "2024-01-01T00:02Z", "RateLimit-Reason": "jira-quota-based"},
    )
    jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[limited, httpx.Response(200, json=EMPTY_PAGE)]
    )
    await read_all(connector(fake_time))
    assert fake_time.waits == [120.0]


async def test_503_with_retry_after_is_a_rate_limit(jira_mock, myself, fake_time):
    search = jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(200, json=EMPTY_PAGE),
        ]
    )
    conn = connector(fake_time)
    await read_all(conn)
    assert (search.call_count, fake_time.waits, conn.stats.retries) == (2, [3.0], 0)


async def test_5xx_and_timeouts_are_retried_with_backoff(jira_mock, myself, fake_time):
    search = jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[
            httpx.Response(502),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=EMPTY_PAGE),
        ]
    )
    conn = connector(fake_time)
    await read_all(conn)
    assert search.call_count == 3
    assert conn.stats.retries == 2
    assert len(fake_time.waits) == 2 and all(w > 0 for w in fake_time.waits)


async def test_near_limit_slows_the_next_request_down(jira_mock, myself, fake_time):
    first = {"issues": [], "isLast": False, "nextPageToken": "t1"}
    jira_mock.post(SEARCH_JQL_PATH).mock(
        side_effect=[
            httpx.Response(200, headers={"X-RateLimit-NearLimit": "true"}, json=first),
            httpx.Response(200, json=EMPTY_PAGE),
        ]
    )
    await read_all(connector(fake_time))
    assert len(fake_time.waits) == 1
    assert 0 < fake_time.waits[0] <= 3


async def test_wait_beyond_the_maximum_fails_the_run(jira_mock, myself, fake_time):
    jira_mock.post(SEARCH_JQL_PATH).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimitedError, match="rate limited until 2024-01-01T01:00:00Z"):
        await read_all(connector(fake_time, max_wait_seconds=600))
    assert fake_time.waits == []


async def test_bad_jql_is_fatal_with_jiras_messages(jira_mock, myself, fake_time):
    search = jira_mock.post(SEARCH_JQL_PATH).respond(
        400,
        json={
            "errorMessages": ["Error in the JQL Query: Expecting ')' but got the end."],
            "errors": {"jql": "Field 'sprnt' does not exist or you do not have permission."},
        },
    )
    with pytest.raises(FatalUpstreamError) as caught:
        await read_all(connector(fake_time))
    message = str(caught.value)
    assert caught.value.status == 400
    assert "Expecting ')' but got the end." in message
    assert "Field 'sprnt' does not exist" in message
    assert search.call_count == 1  # never retried, never skipped


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (410, LEGACY_410, "The requested API has been removed"),
        (401, {"errorMessages": ["Client must be authenticated"]}, "must be authenticated"),
        (403, {"errorMessages": ["You do not have permission"]}, "do not have permission"),
        (404, {"errorMessages": ["Not here"], "errors": {}}, "Not here"),
    ],
)
async def test_other_client_errors_are_fatal(jira_mock, fake_time, status, body, expected):
    myself = jira_mock.get("/rest/api/3/myself").respond(status, json=body)
    with pytest.raises(FatalUpstreamError, match=expected) as caught:
        await read_all(connector(fake_time))
    assert caught.value.status == status
    assert myself.call_count == 1


async def test_secrets_never_appear_in_errors(jira_mock, fake_time):
    jira_mock.get("/rest/api/3/myself").respond(401, text="Unauthorized")
    with pytest.raises(FatalUpstreamError) as caught:
        await read_all(connector(fake_time))
    assert "tok-secret" not in str(caught.value)
    assert "bot@example.com" not in str(caught.value)


async def test_search_body_is_json_with_explicit_fields(jira_mock, myself, fake_time):
    search = jira_mock.post(SEARCH_JQL_PATH).respond(json=EMPTY_PAGE)
    await read_all(connector(fake_time))
    request = search.calls.last.request
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert set(body) == {"jql", "fields", "maxResults"}
    assert "*all" not in body["fields"] and "id" not in body["fields"]
