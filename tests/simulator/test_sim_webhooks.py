import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.simulator import SimulatorConfig, create_app
from service.simulator.webhooks import signature

from .conftest import BASE

GH_SECRET = "It's a Secret to Everybody"
JIRA_SECRET = "jira-secret"


def receiver() -> tuple[Starlette, list[tuple[str, dict[str, str], bytes]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        seen.append((request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=202)

    return Starlette(routes=[Route("/webhooks/{kind}/{source}", hook, methods=["POST"])]), seen


@pytest.fixture
async def wired() -> AsyncIterator[
    tuple[httpx.AsyncClient, list[tuple[str, dict[str, str], bytes]]]
]:
    target, seen = receiver()
    config = SimulatorConfig(
        seed=5,
        github_issues=60,
        jira_issues=60,
        webhook_target="http://receiver.test",
        github_webhook_secret=GH_SECRET,
        jira_webhook_secret=JIRA_SECRET,
        github_source_id="gh-1",
        jira_source_id="jira-1",
        webhook_transport=httpx.ASGITransport(app=target),
    )
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client, seen


def test_signature_matches_githubs_published_vector() -> None:
    assert signature(GH_SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


async def test_github_issue_events_are_signed_over_the_exact_bytes(wired) -> None:
    client, seen = wired
    result = (
        await client.post("/_sim/mutate", json={"github": {"update": 2, "create": 1, "delete": 1}})
    ).json()

    github = [s for s in seen if s[0] == "/webhooks/github/gh-1"]
    assert len(github) == 4
    guids = set()
    for _, headers, body in github:
        expected = hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] == f"sha256={expected}"
        assert headers["x-github-event"] == "issues"
        assert headers["user-agent"].startswith("GitHub-Hookshot/")
        assert headers["x-github-hook-id"]
        guids.add(str(uuid.UUID(headers["x-github-delivery"])))
        payload = json.loads(body)
        assert payload["issue"]["node_id"] and payload["repository"]["full_name"].startswith(
            "acme/"
        )
    assert len(guids) == 4
    actions = [json.loads(body)["action"] for _, _, body in github]
    assert actions[2:] == ["opened", "deleted"]
    assert [w["status"] for w in result["webhooks"]] == [202] * 4


async def test_jira_events_use_the_v2_shape_and_a_hub_signature(wired) -> None:
    client, seen = wired
    await client.post(
        "/_sim/mutate", json={"jira": {"update": 1, "create": 1, "delete": 1, "move": 1}}
    )

    jira = [s for s in seen if s[0] == "/webhooks/jira/jira-1"]
    events = [json.loads(body)["webhookEvent"] for _, _, body in jira]
    assert events == [
        "jira:issue_updated",
        "jira:issue_created",
        "jira:issue_deleted",
        "jira:issue_updated",
    ]
    for _, headers, body in jira:
        assert (
            headers["x-hub-signature"]
            == "sha256=" + hmac.new(JIRA_SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        assert headers["x-atlassian-webhook-identifier"]
        payload = json.loads(body)
        assert isinstance(payload["timestamp"], int) and payload["timestamp"] > 1_600_000_000_000
        assert "/rest/api/2/" in payload["issue"]["self"]
        assert isinstance(payload["issue"]["fields"]["description"], str)
    moved = json.loads(jira[3][2])
    assert moved["issue_event_type_name"] == "issue_moved"
    assert moved["changelog"]["items"][0]["field"] == "Key"


async def test_redelivery_keeps_the_delivery_id_and_bytes(wired) -> None:
    client, seen = wired
    result = (await client.post("/_sim/mutate", json={"github": {"update": 1}})).json()
    delivery_id = result["webhooks"][0]["delivery_id"]

    again = await client.post("/_sim/webhooks/redeliver", json={"delivery_id": delivery_id})

    assert again.json()["status"] == 202
    assert seen[0][1]["x-github-delivery"] == seen[1][1]["x-github-delivery"] == delivery_id
    assert seen[0][2] == seen[1][2]


async def test_no_webhooks_without_a_target(client: httpx.AsyncClient) -> None:
    result = (await client.post("/_sim/mutate", json={"github": {"update": 1}})).json()

    assert result["webhooks"] == []
