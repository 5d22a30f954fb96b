import logging
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import text

from schemas.enums import SyncMode
from schemas.types import utcnow
from service.store.db import Database
from service.sync import leases
from service.sync.runner import SyncRunner
from tests.sync.fakes import BASE, REPO, TOKEN, FakeGitHub

ADMIN = "/api/v1/admin/sources"
JIRA_TOKEN = "ATATT3xJiraSecretToken"
WEBHOOK_SECRET = "whsec-very-secret"


def github_body(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "github",
        "name": "gh",
        "base_url": BASE,
        "credentials": {"token": TOKEN},
        "scope": {"repos": [REPO]},
        "webhook_secret": WEBHOOK_SECRET,
        **overrides,
    }


def jira_body(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "jira",
        "name": "jira",
        "base_url": "https://acme.atlassian.net",
        "credentials": {"email": "bot@example.com", "api_token": JIRA_TOKEN},
        "scope": {"projects": ["KAN"]},
        **overrides,
    }


def assert_no_secrets(text: str) -> None:
    for secret in (TOKEN, JIRA_TOKEN, WEBHOOK_SECRET):
        assert secret not in text


async def test_source_crud_keeps_secrets_write_only(
    db: Database,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await client.post(ADMIN, json=github_body(), headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["credentials_set"] is True and body["webhook_secret_set"] is True
    assert "credentials" not in body and "webhook_secret" not in body
    assert body["last_success_at"] is None and body["last_run"] is None

    source = f"{ADMIN}/{body['id']}"
    patched = await client.patch(
        source,
        json={"credentials": {"token": "ghp_rotated_value_1234567890"}, "webhook_secret": None},
        headers=admin_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["credentials_set"] is True
    assert patched.json()["webhook_secret_set"] is False
    listed = await client.get(ADMIN, headers=admin_headers)
    fetched = await client.get(source, headers=admin_headers)
    assert [s["name"] for s in listed.json()["items"]] == ["gh"]
    for response in (created, patched, listed, fetched):
        assert_no_secrets(response.text)
        assert "ghp_rotated_value_1234567890" not in response.text

    async with db.session() as session:
        feed = (await session.execute(text("SELECT type, before, after FROM change"))).all()
    assert [row[0] for row in feed] == ["source.created", "source.updated"]
    assert "secrets_changed" in repr(feed[1])
    assert_no_secrets(repr(feed))
    assert (await client.delete(source, headers=admin_headers)).status_code == 204
    assert (await client.get(source, headers=admin_headers)).status_code == 404
    assert_no_secrets(caplog.text)
    for record in caplog.records:
        assert_no_secrets(repr(record.__dict__))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (github_body(credentials={}), "credentials.token"),
        (github_body(credentials={"token": "t", "password": "x"}), "credentials.password"),
        (jira_body(credentials={"email": "a@b.c"}), "credentials.api_token"),
        (jira_body(credentials={"oauth_token": "o"}), "credentials.cloud_id"),
        (github_body(scope={}), "scope"),
        (jira_body(scope={"projects": []}), "scope"),
    ],
)
async def test_bad_credentials_or_scope_are_422_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(ADMIN, json=body, headers=admin_headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["detail"].startswith(f"{field}:")
    assert problem["errors"][0]["loc"] == ["body", *field.split(".")]
    assert_no_secrets(response.text)


async def test_jira_oauth_credentials_are_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = jira_body(credentials={"oauth_token": "oauth-secret", "cloud_id": "abc-123"})
    response = await client.post(ADMIN, json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    assert "oauth-secret" not in response.text


async def test_duplicate_name_is_409_and_non_admin_is_403(
    client: httpx.AsyncClient, admin_headers: dict[str, str], editor_headers: dict[str, str]
) -> None:
    assert (await client.post(ADMIN, json=github_body(), headers=admin_headers)).status_code == 201
    again = await client.post(ADMIN, json=github_body(), headers=admin_headers)
    assert again.status_code == 409
    assert (await client.get(ADMIN, headers=editor_headers)).status_code == 403


async def test_sync_runs_in_the_background_and_is_reported(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    upstream: respx.MockRouter,
) -> None:
    github = FakeGitHub(120)
    upstream.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=github)
    source = (await client.post(ADMIN, json=github_body(), headers=admin_headers)).json()

    accepted = await client.post(
        f"{ADMIN}/{source['id']}/sync", json={"mode": "full"}, headers=admin_headers
    )
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    await app.state.sync_runner.wait(run_id)

    run = (await client.get(f"/api/v1/admin/runs/{run_id}", headers=admin_headers)).json()
    assert run["status"] == "succeeded" and run["mode"] == "full"
    # 2 list pages and nothing else: the listing is the full run's delete sweep
    assert (run["items_created"], run["pages"], run["requests"]) == (120, 2, 2)
    runs = (await client.get(f"{ADMIN}/{source['id']}/runs", headers=admin_headers)).json()
    assert [r["id"] for r in runs["items"]] == [run_id]
    detail = (await client.get(f"{ADMIN}/{source['id']}", headers=admin_headers)).json()
    assert detail["last_success_at"] is not None and detail["lag_seconds"] >= 0
    assert detail["next_run_at"] > detail["last_success_at"][:10]
    assert detail["rate_limit"]["core"]["remaining"] == 4000 - 2
    assert detail["last_run"]["id"] == run_id
    items = (
        await client.get(
            "/api/v1/work-items", params={"source_id": source["id"]}, headers=admin_headers
        )
    ).json()
    assert len(items["items"]) == 50 and items["next_cursor"]
    for response in (accepted, detail, run):
        assert_no_secrets(str(response))


async def test_sync_while_running_is_409_with_the_running_run_id(
    db: Database, client: httpx.AsyncClient, admin_headers: dict[str, str], app: FastAPI
) -> None:
    source = (await client.post(ADMIN, json=github_body(), headers=admin_headers)).json()
    other = SyncRunner(db, app.state.settings, app.state.secret_box, holder="other-replica")
    async with db.session() as session:
        running = await other.request(session, source["id"], SyncMode.full, trigger="schedule")

    response = await client.post(f"{ADMIN}/{source['id']}/sync", headers=admin_headers)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["running_run_id"] == running.id
    assert f"run {running.id}" in response.json()["detail"]
    async with db.session() as session:
        await leases.release(session, source["id"], "other-replica")
        assert await leases.acquire(session, source["id"], "x", ttl_seconds=1, now=utcnow())


async def test_unknown_source_and_run_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await client.post(f"{ADMIN}/999/sync", headers=admin_headers)).status_code == 404
    assert (await client.get("/api/v1/admin/runs/999", headers=admin_headers)).status_code == 404
    assert (await client.get(f"{ADMIN}/999/runs", headers=admin_headers)).status_code == 404


async def test_check_reports_what_github_shows(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    upstream.get(f"{BASE}/repos/{REPO}").respond(
        200, json={"full_name": REPO, "private": True, "has_issues": True}
    )
    upstream.get(f"{BASE}/repos/{REPO}/milestones").respond(
        200, json=[{"number": 1, "title": "v1", "state": "open", "due_on": None}]
    )
    source = (await client.post(ADMIN, json=github_body(), headers=admin_headers)).json()

    response = await client.post(f"{ADMIN}/{source['id']}/test", headers=admin_headers)

    assert response.status_code == 200, response.text
    assert response.json()["found"]["repos"][0]["full_name"] == REPO
    detail = (await client.get(f"{ADMIN}/{source['id']}", headers=admin_headers)).json()
    assert detail["discovered"]["milestones"][REPO][0]["title"] == "v1"


async def test_check_upstream_refusal_is_a_502_problem_with_the_upstream_message(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    upstream.get(f"{BASE}/repos/{REPO}").respond(401, json={"message": "Bad credentials"})
    source = (await client.post(ADMIN, json=github_body(), headers=admin_headers)).json()

    response = await client.post(f"{ADMIN}/{source['id']}/test", headers=admin_headers)

    assert response.status_code == 502
    problem = response.json()
    assert "HTTP 401" in problem["detail"] and "Bad credentials" in problem["detail"]
    assert problem["upstream_status"] == 401
    assert_no_secrets(response.text)


async def test_jira_check_stores_discovered_fields_without_overriding_the_admin(
    client: httpx.AsyncClient, admin_headers: dict[str, str], upstream: respx.MockRouter
) -> None:
    from tests.connectors.jira.jira_support import MYSELF, load

    site = "https://acme.atlassian.net/rest/api/3"
    upstream.get(f"{site}/myself").respond(200, json=MYSELF)
    upstream.get(f"{site}/project/KAN").respond(
        200, json={"id": "10000", "key": "KAN", "name": "Kanban"}
    )
    upstream.get(f"{site}/field").respond(200, json=load("field.company-managed.json"))
    body = jira_body(settings={"sprint_field": "customfield_99999"})
    source = (await client.post(ADMIN, json=body, headers=admin_headers)).json()

    response = await client.post(f"{ADMIN}/{source['id']}/test", headers=admin_headers)

    assert response.status_code == 200, response.text
    assert response.json()["found"]["projects"][0]["key"] == "KAN"
    detail = (await client.get(f"{ADMIN}/{source['id']}", headers=admin_headers)).json()
    assert detail["settings"] == {
        "sprint_field": "customfield_99999",
        "story_points_field": "customfield_10016",
        "epic_link_field": "customfield_10014",
    }
    assert detail["discovered"]["fields"]["story_points"]["id"] == "customfield_10016"
    assert_no_secrets(response.text + str(detail))
