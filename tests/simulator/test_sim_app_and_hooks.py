"""The simulated GitHub App (JWT checks, expiring installation tokens) and registered hooks."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from service.simulator import SimulatorConfig, create_app
from service.simulator.webhooks import signature

from .conftest import BASE
from .test_sim_webhooks import receiver

JIRA_AUTH = ("sync@example.com", "token")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim() -> AsyncIterator[tuple[httpx.AsyncClient, Any, Clock, list[Any]]]:
    target, seen = receiver()
    config = SimulatorConfig(
        seed=5, github_issues=60, jira_issues=60, webhook_transport=httpx.ASGITransport(target)
    )
    app = create_app(config)
    clock = Clock()
    app.state.app.now = clock
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client, app, clock, seen


def app_jwt(key: str, now: float, *, iss: str = "1001", lifetime: int = 540) -> str:
    claims = {"iat": int(now) - 60, "exp": int(now) + lifetime, "iss": iss}
    return jwt.encode(claims, key, algorithm="RS256")


async def test_tokens_are_exchanged_with_a_valid_jwt_and_expire_after_an_hour(sim) -> None:
    client, _, clock, _ = sim
    key = (await client.get("/_sim/github/app")).json()["private_key"]
    bearer = {"Authorization": f"Bearer {app_jwt(key, clock.now)}"}

    found = await client.get("/github/repos/acme/web/installation", headers=bearer)
    assert found.status_code == 200 and found.json()["id"] == 4242
    answer = await client.post("/github/app/installations/4242/access_tokens", headers=bearer)
    assert answer.status_code == 201
    token = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert (await client.get("/github/repos/acme/web", headers=token)).status_code == 200

    clock.now += 3601
    expired = await client.get("/github/repos/acme/web", headers=token)
    assert expired.status_code == 401 and expired.json()["message"] == "Bad credentials"


@pytest.mark.parametrize(
    "make",
    [
        lambda key, now: app_jwt(key, now, iss="999"),  # another App
        lambda key, now: app_jwt(key, now, lifetime=900),  # more than 10 minutes
        lambda key, now: app_jwt(key, now - 700),  # expired
        lambda key, now: "not-a-jwt",
    ],
)
async def test_bad_jwts_are_refused(sim, make) -> None:
    client, _, clock, _ = sim
    key = (await client.get("/_sim/github/app")).json()["private_key"]
    headers = {"Authorization": f"Bearer {make(key, clock.now)}"}
    answer = await client.post("/github/app/installations/4242/access_tokens", headers=headers)
    assert answer.status_code == 401


async def test_registered_hooks_receive_signed_deliveries_and_can_be_silenced(sim) -> None:
    client, _, _, seen = sim
    pat = {"Authorization": "Bearer ghp_x"}
    hook = {
        "name": "web",
        "events": ["issues"],
        "config": {"url": "http://receiver.test/webhooks/github/9", "secret": "s1"},
    }
    created = await client.post("/github/repos/acme/web/hooks", json=hook, headers=pat)
    assert created.status_code == 201 and created.json()["config"]["secret"] == "********"
    listed = (await client.get("/github/repos/acme/web/hooks", headers=pat)).json()
    assert [h["id"] for h in listed] == [created.json()["id"]]
    jira_hook = {
        "name": "sync",
        "url": "http://receiver.test/webhooks/jira/3",
        "events": ["jira:issue_updated"],
        "filters": {"issue-related-events-section": "project in (PLAT)"},
        "secret": "j1",
    }
    made = await client.post("/jira/rest/webhooks/1.0/webhook", json=jira_hook, auth=JIRA_AUTH)
    assert made.status_code == 201 and "secret" not in made.json()

    await client.post(
        "/_sim/mutate",
        json={
            "github": {"update": ["acme/web#1", "acme/api#1"]},
            "jira": {"update": ["PLAT-1", "MOB-1"]},
        },
    )
    paths = [path for path, _, _ in seen]
    assert paths == ["/webhooks/github/9", "/webhooks/jira/3"]  # only the hook's repo / JQL
    _, headers, body = seen[0]
    assert headers["x-hub-signature-256"] == signature("s1", body)
    assert headers["x-github-hook-id"] == str(created.json()["id"])
    assert seen[1][1]["x-hub-signature"] == signature("j1", seen[1][2])

    await client.post("/_sim/webhooks/silence", json={"upstream": "github"})
    await client.post("/_sim/mutate", json={"github": {"update": ["acme/web#1"]}})
    assert len(seen) == 2

    patched = await client.patch(
        f"/github/repos/acme/web/hooks/{created.json()['id']}",
        json={"config": {"url": hook["config"]["url"], "secret": "s2"}},
        headers=pat,
    )
    assert patched.status_code == 200
    deleted = await client.delete(
        f"/github/repos/acme/web/hooks/{created.json()['id']}", headers=pat
    )
    assert deleted.status_code == 204
    assert (await client.get("/github/repos/acme/web/hooks", headers=pat)).json() == []
