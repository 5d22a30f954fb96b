"""Registering, removing and rotating a source's webhooks through the admin API (respx upstream)."""

import hashlib
import hmac
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import text

from schemas.tables import Source
from schemas.types import utcnow
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.webhooks.receiver import SourceCache
from tests.sync.fakes import BASE, TOKEN

from .test_sources_api import ADMIN, JIRA_TOKEN, jira_body

PUBLIC = "https://sync.example.com"
REPOS = ["octo/repo", "octo/other"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, scheduler_enabled=False, log_json=True, public_url=PUBLIC
    )


class GitHubHooks:
    """Repository hooks held in memory, answering GitHub's hooks endpoints."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.hooks: dict[int, dict[str, Any]] = {}
        self.secrets: dict[int, str] = {}
        self.next_id = 100
        self.calls: list[str] = []
        self.fail_patch_on: int | None = None
        for repo in REPOS:
            path = f"{BASE}/repos/{repo}/hooks"
            router.get(path).mock(side_effect=self.list_hooks(repo))
            router.post(path).mock(side_effect=self.create(repo))
            router.route(method="PATCH", url__regex=rf"{path}/\d+$").mock(side_effect=self.patch)
            router.route(method="DELETE", url__regex=rf"{path}/\d+$").mock(side_effect=self.delete)

    def list_hooks(self, repo: str) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            self.calls.append(f"GET {repo}")
            return httpx.Response(200, json=[h for h in self.hooks.values() if h["repo"] == repo])

        return answer

    def create(self, repo: str) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            self.calls.append(f"POST {repo}")
            body = json.loads(request.content)
            self.next_id += 1
            hook = {"id": self.next_id, "repo": repo, "events": body["events"]}
            hook["config"] = {**body["config"], "secret": "********"}
            self.hooks[self.next_id] = hook
            self.secrets[self.next_id] = body["config"]["secret"]
            return httpx.Response(201, json=hook)

        return answer

    def patch(self, request: httpx.Request) -> httpx.Response:
        hook_id = int(request.url.path.rsplit("/", 1)[1])
        self.calls.append(f"PATCH {hook_id}")
        if hook_id == self.fail_patch_on:
            return httpx.Response(422, json={"message": "Validation Failed"})
        body = json.loads(request.content)
        if "config" in body:
            self.secrets[hook_id] = body["config"]["secret"]
        return httpx.Response(200, json=self.hooks[hook_id])

    def delete(self, request: httpx.Request) -> httpx.Response:
        hook_id = int(request.url.path.rsplit("/", 1)[1])
        self.calls.append(f"DELETE {hook_id}")
        self.hooks.pop(hook_id, None)
        return httpx.Response(204)


async def make_github_source(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    body = {
        "kind": "github",
        "name": "gh",
        "base_url": BASE,
        "credentials": {"token": TOKEN},
        "scope": {"repos": REPOS},
    }
    created = await client.post(ADMIN, json=body, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_registering_twice_updates_the_same_hooks_with_two_requests_per_repository(
    db: Database,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    upstream: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gh = GitHubHooks(upstream)
    source_id = await make_github_source(client, admin_headers)

    first = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert first.status_code == 200, first.text
    assert gh.calls == ["GET octo/repo", "POST octo/repo", "GET octo/other", "POST octo/other"]
    hooks = first.json()["webhooks"]
    assert [(h["target"], h["upstream_id"]) for h in hooks] == [
        ("repo:octo/repo", 101),
        ("repo:octo/other", 102),
    ]
    assert all(h["events"] == ["issues", "pull_request", "sub_issues"] for h in hooks)
    assert all(h["url"] == f"{PUBLIC}/webhooks/github/{source_id}" for h in hooks)
    assert first.json()["webhook_secret_set"] is True  # generated for the hooks
    assert first.json()["webhook_health"] == "ok"

    gh.calls.clear()
    again = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert gh.calls == ["GET octo/repo", "PATCH 101", "GET octo/other", "PATCH 102"]
    assert len(gh.hooks) == 2
    assert [h["registered_at"] for h in again.json()["webhooks"]] == [
        h["registered_at"] for h in hooks
    ]
    secret = gh.secrets[101]
    assert gh.secrets[102] == secret
    async with db.session() as session:
        feed = (await session.execute(text("SELECT after FROM change ORDER BY id"))).all()
    assert "repo:octo/other" in str(feed[-1]) and "webhook_secret" in str(feed[-2])
    for shown in (first.text, again.text, caplog.text, str(feed)):
        assert secret not in shown and TOKEN not in shown

    gh.calls.clear()
    removed = await client.delete(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert removed.json() == {"removed": 2}
    assert gh.calls == ["DELETE 101", "DELETE 102"] and gh.hooks == {}
    after = (await client.get(f"{ADMIN}/{source_id}", headers=admin_headers)).json()
    assert after["webhooks"] == [] and after["webhook_health"] is None


async def test_registration_without_a_public_url_is_a_409_problem(
    client: httpx.AsyncClient, admin_headers: dict[str, str], app: FastAPI
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"public_url": None})
    source_id = await make_github_source(client, admin_headers)
    answer = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "PUBLIC_URL" in answer.json()["detail"]


async def test_an_upstream_refusal_is_a_502_and_nothing_is_stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    upstream.get(f"{BASE}/repos/octo/repo/hooks").mock(
        return_value=httpx.Response(403, json={"message": "Resource not accessible by integration"})
    )
    source_id = await make_github_source(client, admin_headers)
    answer = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert answer.status_code == 502
    assert "Resource not accessible by integration" in answer.json()["detail"]
    after = (await client.get(f"{ADMIN}/{source_id}", headers=admin_headers)).json()
    assert after["webhooks"] == [] and after["webhook_secret_set"] is False


async def test_jira_registers_one_admin_webhook_filtered_by_the_scope(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    site = "https://acme.atlassian.net/rest/webhooks/1.0/webhook"
    listing = upstream.get(site).mock(return_value=httpx.Response(200, json=[]))
    made = upstream.post(site).mock(
        return_value=httpx.Response(201, json={"self": f"{site}/7", "name": "portfolio-sync"})
    )
    gone = upstream.delete(f"{site}/7").mock(return_value=httpx.Response(204))
    created = await client.post(ADMIN, json=jira_body(), headers=admin_headers)
    source_id = created.json()["id"]

    answer = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert listing.call_count == 1 and made.call_count == 1
    sent = json.loads(made.calls[0].request.content)
    assert sent["url"] == f"{PUBLIC}/webhooks/jira/{source_id}"
    assert sent["filters"] == {"issue-related-events-section": '(project in ("KAN"))'}
    assert sent["events"] == ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
    assert sent["secret"] and sent["secret"] not in answer.text and JIRA_TOKEN not in answer.text
    assert answer.json()["webhooks"][0]["upstream_id"] == 7

    await client.delete(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert gone.call_count == 1


async def test_rotation_sets_the_new_secret_upstream_and_both_are_accepted_inside_the_window(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    upstream: respx.MockRouter,
    app: FastAPI,
) -> None:
    gh = GitHubHooks(upstream)
    source_id = await make_github_source(client, admin_headers)
    await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    old = gh.secrets[101]
    gh.calls.clear()

    rotated = await client.post(f"{ADMIN}/{source_id}/webhook-secret/rotate", headers=admin_headers)
    assert rotated.status_code == 200, rotated.text
    assert gh.calls == ["PATCH 101", "PATCH 102"]
    new = gh.secrets[101]
    assert new != old and gh.secrets[102] == new
    assert old not in rotated.text and new not in rotated.text
    until = rotated.json()["previous_webhook_secret_valid_until"]
    assert until is not None

    clock = {"now": utcnow()}
    app.state.webhook_sources = SourceCache(now=lambda: clock["now"])
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 101}).encode()

    async def deliver(secret: str, guid: str) -> int:
        headers = {
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": "101",
            "X-Hub-Signature-256": signed(secret, body),
            "Content-Type": "application/json",
        }
        answer = await client.post(f"/webhooks/github/{source_id}", content=body, headers=headers)
        return answer.status_code

    assert await deliver(old, "d-1") == 200
    assert await deliver(new, "d-2") == 200
    clock["now"] += timedelta(seconds=3601)  # the default grace window is one hour
    assert await deliver(old, "d-3") == 401
    assert await deliver(new, "d-4") == 200


async def test_a_refused_rotation_restores_the_old_secret_and_stores_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    upstream: respx.MockRouter,
    db: Database,
    secret_box: SecretBox,
) -> None:
    gh = GitHubHooks(upstream)
    source_id = await make_github_source(client, admin_headers)
    await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    old = gh.secrets[101]
    gh.fail_patch_on = 102
    gh.calls.clear()

    answer = await client.post(f"{ADMIN}/{source_id}/webhook-secret/rotate", headers=admin_headers)
    assert answer.status_code == 502
    assert gh.calls == ["PATCH 101", "PATCH 102", "PATCH 101"]
    assert gh.secrets[101] == old
    async with db.session() as session:
        source = await session.get(Source, source_id)
        assert source is not None and source.webhook_secret_encrypted is not None
        assert secret_box.decrypt(source.webhook_secret_encrypted) == old
        assert source.webhook_secret_previous_encrypted is None


async def test_rotation_without_registered_hooks_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    source_id = await make_github_source(client, admin_headers)
    answer = await client.post(f"{ADMIN}/{source_id}/webhook-secret/rotate", headers=admin_headers)
    assert answer.status_code == 409 and "register them first" in answer.json()["detail"]


async def test_registering_after_a_scope_change_removes_the_hooks_left_outside_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    gh = GitHubHooks(upstream)
    source_id = await make_github_source(client, admin_headers)
    await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    await client.patch(
        f"{ADMIN}/{source_id}", json={"scope": {"repos": ["octo/repo"]}}, headers=admin_headers
    )
    gh.calls.clear()

    answer = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert gh.calls == ["GET octo/repo", "PATCH 101", "DELETE 102"]
    assert [h["target"] for h in answer.json()["webhooks"]] == ["repo:octo/repo"]
    assert list(gh.hooks) == [101]


async def test_a_jira_oauth_source_is_told_to_register_by_hand(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = jira_body(credentials={"oauth_token": "oauth-secret", "cloud_id": "abc-123"})
    source_id = (await client.post(ADMIN, json=body, headers=admin_headers)).json()["id"]
    answer = await client.post(f"{ADMIN}/{source_id}/webhooks", headers=admin_headers)
    assert answer.status_code == 409 and "basic auth" in answer.json()["detail"]
    assert "oauth-secret" not in answer.text
