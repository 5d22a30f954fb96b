"""End to end against the simulator: a GitHub App source across token expiry, webhooks the
service registers itself, secret rotation with its grace window, and a silenced hook.

The service is served on a loopback port (the simulator delivers to it over HTTP); the inbox
worker applies deliveries as in production. Time is virtual, so an hour passes in no time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.github import app as github_app
from schemas.types import utcnow
from service.security import SecretBox
from service.simulator.config import SimulatorConfig
from service.store.db import Database
from service.webhooks.receiver import SourceCache

from .helpers import assert_equal, create_sources, runs_of, sim_stats, sync
from .live import Stack, live_stack

CONFIG = SimulatorConfig(seed=9, github_issues=150, jira_issues=120)
ADMIN = "/api/v1/admin/sources"


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    github_app.forget_installations()
    yield
    github_app.forget_installations()


@pytest.fixture
async def stack(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    database_url: str,
    box: SecretBox,
    admin_headers: dict[str, str],
) -> AsyncIterator[Stack]:
    async with live_stack(
        monkeypatch,
        db,
        database_url,
        box,
        admin_headers,
        CONFIG,
        webhook_silence_threshold_seconds=600,
    ) as live:
        yield live


def requests_to(stats: dict[str, Any], *parts: str) -> dict[str, dict[str, int]]:
    return {ep: c for ep, c in stats["requests"].items() if any(p in ep for p in parts)}


async def until_equal(stack: Stack, ids: dict[str, int], seconds: float = 20) -> None:
    """Wait (real time) for the inbox worker, then compare with the truth."""
    for _ in range(int(seconds / 0.1)):
        try:
            await assert_equal(stack.api, stack.sim, ids)
            return
        except AssertionError:
            await asyncio.sleep(0.1)
    await assert_equal(stack.api, stack.sim, ids)


def off_the_board(stack: Stack, count: int) -> list[str]:
    """Issues without Projects v2 values: an `issues` delivery carries all they hold.

    (Board fields — Status, Estimate — arrive as `projects_v2_item` events, which the service
    applies at the next poll; those are not what this test is about.)
    """
    data = stack.sim_app.state.github
    on_board = {
        p.issue.id for p in data.project_items if p.status is not None or p.estimate is not None
    }
    names = [
        f"{data.org}/{repo.name}#{issue.number}"
        for repo in data.repos
        for issue in repo.issues
        if not issue.is_pr and not issue.deleted and issue.id not in on_board
    ]
    return names[:count]


async def register(stack: Stack, source_id: int) -> dict[str, Any]:
    answer = await stack.api.post(f"{ADMIN}/{source_id}/webhooks")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_an_app_source_syncs_equal_to_the_truth_across_token_expiry(stack: Stack) -> None:
    app_info = (await stack.sim.get("/_sim/github/app")).json()
    body = {
        "kind": "github",
        "name": "gh-app",
        "base_url": f"{stack.sim_base}/github",
        "credentials": {"app_id": str(app_info["app_id"]), "private_key": app_info["private_key"]},
        "scope": {
            "org": "acme",
            "projects": [{"owner": "acme", "owner_type": "organization", "number": 1}],
        },
    }
    created = await stack.api.post(ADMIN, json=body)
    assert created.status_code == 201, created.text
    ids = {"github": created.json()["id"]}

    full = await sync(stack.api, ids["github"], "full")
    await assert_equal(stack.api, stack.sim, ids)
    assert (await stack.sim.get("/_sim/github/app")).json()["tokens_issued"] == 1

    # 56 minutes later the token has less than 5 minutes left: replaced before it is used.
    await stack.sim.post("/_sim/mutate", json={"github": {"update": 12, "create": 3}})
    stack.time.skipped += 56 * 60
    await sync(stack.api, ids["github"], "incremental")
    await assert_equal(stack.api, stack.sim, ids)
    assert (await stack.sim.get("/_sim/github/app")).json()["tokens_issued"] == 2

    # Revoked early (the service still thinks it fresh): one 401, one new token, run succeeds.
    await stack.sim.post("/_sim/github/app/expire-tokens")
    await stack.sim.post("/_sim/mutate", json={"github": {"update": 8}})
    await stack.sim.post("/_sim/stats/reset")
    await sync(stack.api, ids["github"], "incremental")
    await assert_equal(stack.api, stack.sim, ids)
    stats = await sim_stats(stack.sim)
    assert (await stack.sim.get("/_sim/github/app")).json()["tokens_issued"] == 3
    refused = sum(c.get("401", 0) for c in stats["requests"].values())
    assert refused == 1, stats["requests"]

    runs = await runs_of(stack.api, ids["github"])
    shown = str(runs) + str(full) + (await stack.api.get(f"{ADMIN}/{ids['github']}")).text
    assert "ghs_" not in shown and app_info["private_key"].splitlines()[1] not in shown


async def test_registered_webhooks_apply_changes_with_no_poll_in_between(stack: Stack) -> None:
    ids = await create_sources(stack.api, stack.sim_base)
    for source_id in ids.values():
        await sync(stack.api, source_id, "full")

    await stack.sim.post("/_sim/stats/reset")
    github = await register(stack, ids["github"])
    stats = await sim_stats(stack.sim)
    # Org scope, 3 repositories: the org's repository list, then a GET + POST per repository
    # hook and for the org hook.
    gh_calls = requests_to(stats, "/hooks", "/orgs/{org}/repos")
    assert sum(sum(c.values()) for c in gh_calls.values()) == 1 + 2 * 3 + 2, gh_calls
    targets = sorted(h["target"] for h in github["webhooks"])
    assert targets == ["org:acme", "repo:acme/api", "repo:acme/mobile", "repo:acme/web"]
    jira = await register(stack, ids["jira"])
    assert len(jira["webhooks"]) == 1
    jira_calls = requests_to(await sim_stats(stack.sim), "/rest/webhooks/")
    assert sum(sum(c.values()) for c in jira_calls.values()) == 2, jira_calls

    # Registering again changes nothing upstream: the same hooks, updated in place.
    again = await register(stack, ids["github"])
    assert [h["upstream_id"] for h in again["webhooks"]] == [
        h["upstream_id"] for h in github["webhooks"]
    ]
    assert len((await stack.sim.get("/_sim/hooks")).json()) == 4 + 1

    runs_before = {k: len(await runs_of(stack.api, v)) for k, v in ids.items()}
    await stack.sim.post("/_sim/stats/reset")
    changed = (
        await stack.sim.post(
            "/_sim/mutate",
            json={
                "github": {"update": off_the_board(stack, 10), "delete": 2},
                "jira": {"update": 10, "create": 3, "delete": 2, "move": 1},
            },
        )
    ).json()
    statuses = {d["status"] for d in changed["webhooks"]}
    assert statuses == {202}, changed["webhooks"]
    await until_equal(stack, ids)

    # No poll: no run was started and no list or search request reached the simulator.
    assert {k: len(await runs_of(stack.api, v)) for k, v in ids.items()} == runs_before
    polled = requests_to(await sim_stats(stack.sim), "/issues", "/search", "graphql")
    assert polled == {}, polled
    detail = (await stack.api.get(f"{ADMIN}/{ids['github']}")).json()
    assert detail["last_delivery_at"] is not None and detail["webhook_health"] == "ok"

    removed = await stack.api.delete(f"{ADMIN}/{ids['github']}/webhooks")
    assert removed.json() == {"removed": 4}
    assert [h["owner"] for h in (await stack.sim.get("/_sim/hooks")).json()] == ["jira"]


async def test_rotation_accepts_both_secrets_inside_the_window_and_only_the_new_after(
    stack: Stack,
) -> None:
    ids = await create_sources(stack.api, stack.sim_base)
    await sync(stack.api, ids["github"], "full")
    await register(stack, ids["github"])
    before = (await stack.sim.get("/_sim/hooks")).json()
    names = off_the_board(stack, 3)
    old_delivery = (
        await stack.sim.post("/_sim/mutate", json={"github": {"update": names[:1]}})
    ).json()
    assert {d["status"] for d in old_delivery["webhooks"]} == {202}

    rotated = await stack.api.post(f"{ADMIN}/{ids['github']}/webhook-secret/rotate")
    assert rotated.status_code == 200, rotated.text
    after = (await stack.sim.get("/_sim/hooks")).json()
    assert {h["secret_sha256"] for h in before} != {h["secret_sha256"] for h in after}
    assert len({h["secret_sha256"] for h in after}) == 1  # every hook got the new secret

    # Inside the window: a delivery signed with the old secret (a late retry) is still taken.
    old_id = old_delivery["webhooks"][0]["delivery_id"]
    redelivered = await stack.sim.post("/_sim/webhooks/redeliver", json={"delivery_id": old_id})
    assert redelivered.json()["status"] == 200  # verified, then recognised as a duplicate
    fresh = (await stack.sim.post("/_sim/mutate", json={"github": {"update": names[1:2]}})).json()
    assert {d["status"] for d in fresh["webhooks"]} == {202}

    # After the window (one hour by default) only the new secret is accepted.
    later = utcnow() + timedelta(seconds=3601)
    stack.app.state.webhook_sources = SourceCache(now=lambda: later)
    redelivered = await stack.sim.post("/_sim/webhooks/redeliver", json={"delivery_id": old_id})
    assert redelivered.json()["status"] == 401
    fresh = (await stack.sim.post("/_sim/mutate", json={"github": {"update": names[2:]}})).json()
    assert {d["status"] for d in fresh["webhooks"]} == {202}
    await until_equal(stack, {"github": ids["github"]})


async def test_a_silenced_hook_turns_the_source_degraded_while_polling_goes_on(
    stack: Stack,
) -> None:
    ids = await create_sources(stack.api, stack.sim_base)
    await sync(stack.api, ids["github"], "full")
    await register(stack, ids["github"])
    await stack.sim.post("/_sim/mutate", json={"github": {"update": off_the_board(stack, 4)}})
    await until_equal(stack, {"github": ids["github"]})
    quiet = await sync(stack.api, ids["github"], "incremental")
    assert quiet["items_created"] + quiet["items_updated"] == 0  # the hooks brought everything
    detail = (await stack.api.get(f"{ADMIN}/{ids['github']}")).json()
    assert detail["webhook_health"] == "ok"

    await stack.sim.post("/_sim/webhooks/silence", json={"upstream": "github"})
    changed = (await stack.sim.post("/_sim/mutate", json={"github": {"update": 5}})).json()
    assert changed["webhooks"] == []  # still registered upstream, but nothing is delivered
    stack.time.skipped += 601  # past the 600 s threshold
    run = await sync(stack.api, ids["github"], "incremental")
    assert run["items_updated"] == 5
    await assert_equal(stack.api, stack.sim, {"github": ids["github"]})

    detail = (await stack.api.get(f"{ADMIN}/{ids['github']}")).json()
    assert detail["webhook_health"] == "degraded"
    assert f"sync run {run['id']} found 5 change(s)" in detail["webhook_health_reason"]
    metrics = (await stack.api.get("/metrics")).text
    assert f'portfolio_sync_source_webhook_degraded{{source="{ids["github"]}"}} 1.0' in metrics
