"""GitHub sources authenticated as a GitHub App: validation, a sync, and no secret anywhere."""

import logging
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import text

from connectors.github import app as github_app
from connectors.http import utc_now
from service.store.db import Database
from tests.connectors.github.test_app import private_key
from tests.sync.fakes import BASE, REPO, FakeGitHub, stamp

from .test_sources_api import ADMIN

TOKEN = "ghs_InstallationTokenNeverShown0123"


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    github_app.forget_installations()
    yield
    github_app.forget_installations()


def app_body(**credentials: object) -> dict[str, object]:
    return {
        "kind": "github",
        "name": "gh-app",
        "base_url": BASE,
        "credentials": {"app_id": "123", "private_key": private_key(), **credentials},
        "scope": {"repos": [REPO]},
    }


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"app_id": "123", "private_key": "-----BEGIN RSA PRIVATE KEY-----\nxx\n"}, "private_key"),
        ({"app_id": "my-app", "private_key": None}, "private_key"),
        ({"app_id": "abc"}, "app_id"),
        ({"installation_id": "x"}, "installation_id"),
        ({"client_secret": "y"}, "client_secret"),
    ],
)
async def test_bad_app_credentials_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    credentials: dict[str, object],
    field: str,
) -> None:
    body = app_body()
    body["credentials"] = {**body["credentials"], **credentials}  # type: ignore[dict-item]
    body["credentials"] = {k: v for k, v in body["credentials"].items() if v is not None}  # type: ignore[attr-defined]
    answer = await client.post(ADMIN, json=body, headers=admin_headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"credentials.{field}")
    assert "PRIVATE KEY" not in answer.text


async def test_an_app_source_syncs_with_one_exchange_and_never_shows_the_key_or_token(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    upstream: respx.MockRouter,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    github = FakeGitHub(120)
    issues = upstream.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=github)
    lookup = upstream.get(f"{BASE}/repos/{REPO}/installation").mock(
        return_value=httpx.Response(200, json={"id": 77})
    )
    expires = stamp(utc_now() + timedelta(hours=1))
    exchange = upstream.post(f"{BASE}/app/installations/77/access_tokens").mock(
        return_value=httpx.Response(201, json={"token": TOKEN, "expires_at": expires})
    )
    created = await client.post(ADMIN, json=app_body(), headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["auth"] == "github_app"
    source_id = created.json()["id"]

    runs = []
    for mode in ("full", "incremental"):
        accepted = await client.post(
            f"{ADMIN}/{source_id}/sync", json={"mode": mode}, headers=admin_headers
        )
        await app.state.sync_runner.wait(accepted.json()["run_id"])
        runs.append(
            await client.get(
                f"/api/v1/admin/runs/{accepted.json()['run_id']}", headers=admin_headers
            )
        )
    assert [r.json()["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0].json()["items_created"] == 120
    # One look-up and one exchange for both runs; every issues request carried the token.
    assert lookup.call_count == 1 and exchange.call_count == 1
    # look-up + exchange, then what a PAT full run sends: the two pages it reads (its sweep)
    assert runs[0].json()["requests"] == 2 + 2
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    assert issues.call_count == 2 + 1  # the incremental run: one conditional request

    detail = await client.get(f"{ADMIN}/{source_id}", headers=admin_headers)
    async with db.session() as session:
        stored = (await session.execute(text("SELECT * FROM sync_run"))).all()
        sources = (await session.execute(text("SELECT * FROM source"))).all()
    key_line = private_key().splitlines()[1]
    for shown in (
        created.text,
        detail.text,
        *(r.text for r in runs),
        str(stored),
        str(sources),
        caplog.text,
    ):
        assert TOKEN not in shown and key_line not in shown
