"""Jira label writes: one PUT with add/remove operations, 429 Retry-After waited out."""

import json

import httpx
import pytest

from connectors.base import FatalUpstreamError
from connectors.jira.writes import JiraLabelWriter

from .jira_support import SITE

CREDENTIALS = {"email": "bot@example.com", "api_token": "jira-token"}


def writer(fake_time) -> JiraLabelWriter:
    return JiraLabelWriter(SITE, CREDENTIALS, sleep=fake_time.sleep, clock=fake_time.clock)


async def test_one_put_adds_and_removes_single_labels(jira_mock, fake_time) -> None:
    route = jira_mock.put("/rest/api/3/issue/PLAT-7").respond(204)
    client = writer(fake_time)
    await client.change_labels("PLAT-7", ["initiative:new"], ["initiative:old"])
    assert route.call_count == 1
    assert json.loads(route.calls[0].request.content) == {
        "update": {"labels": [{"remove": "initiative:old"}, {"add": "initiative:new"}]}
    }
    assert route.calls[0].request.headers["authorization"].startswith("Basic ")
    # Nothing to change sends nothing; Jira has no label list to create labels in.
    await client.change_labels("PLAT-7", [], [])
    assert await client.ensure_label("PLAT-7", "initiative:new", "5319e7") is False
    assert route.call_count == 1
    await client.aclose()


async def test_per_issue_write_limit_answers_are_waited_out(jira_mock, fake_time) -> None:
    limited = httpx.Response(
        429,
        json={"errorMessages": ["Rate limit exceeded."], "errors": {}},
        headers={"retry-after": "7", "ratelimit-reason": "jira-per-issue-on-write"},
    )
    route = jira_mock.put("/rest/api/3/issue/PLAT-7").mock(
        side_effect=[limited, limited, httpx.Response(204)]
    )
    await writer(fake_time).change_labels("PLAT-7", ["initiative:a"], [])
    assert route.call_count == 3
    assert fake_time.waits == [7.0, 7.0]


async def test_a_refused_edit_fails_with_jiras_message(jira_mock, fake_time) -> None:
    jira_mock.put("/rest/api/3/issue/PLAT-7").respond(
        400, json={"errorMessages": [], "errors": {"labels": "The label 'a b' contains spaces"}}
    )
    with pytest.raises(FatalUpstreamError, match="contains spaces"):
        await writer(fake_time).change_labels("PLAT-7", ["a b"], [])


async def test_the_portfolio_property_is_set_whole(jira_mock, fake_time) -> None:
    route = jira_mock.put("/rest/api/3/issue/PLAT-7/properties/portfolio").respond(201)
    value = {"initiatives": ["checkout-revamp"], "key_results": [], "by": "portfolio-sync"}
    await writer(fake_time).set_property("PLAT-7", "portfolio", value)
    assert route.call_count == 1
    assert json.loads(route.calls[0].request.content) == value


@pytest.mark.parametrize(
    ("kind", "value", "sent"),
    [
        ("text", "Checkout revamp", "Checkout revamp"),
        ("select", "Checkout revamp", {"value": "Checkout revamp"}),
        ("text", None, None),
        ("select", None, None),
    ],
)
async def test_a_custom_field_is_set_whole_in_one_put(
    jira_mock, fake_time, kind, value, sent
) -> None:
    route = jira_mock.put("/rest/api/3/issue/PLAT-7").respond(204)
    client = writer(fake_time)
    await client.set_field("PLAT-7", "customfield_10060", kind, value)
    assert route.call_count == 1
    assert json.loads(route.calls[0].request.content) == {"fields": {"customfield_10060": sent}}
    await client.aclose()


async def test_a_refused_option_fails_with_jiras_message(jira_mock, fake_time) -> None:
    jira_mock.put("/rest/api/3/issue/PLAT-7").respond(
        400,
        json={
            "errorMessages": [],
            "errors": {"customfield_10061": "Option value 'x' is not valid"},
        },
    )
    with pytest.raises(FatalUpstreamError, match="Option value 'x' is not valid"):
        await writer(fake_time).set_field("PLAT-7", "customfield_10061", "select", "x")
