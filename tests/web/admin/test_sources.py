"""Admin source pages: create and edit with write-only secrets, field errors, Sync now, roles."""

from __future__ import annotations

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import func, select

from schemas.tables import Source
from service.runtime import sync_runner
from service.security import SecretBox
from service.sources import store as sources
from service.store.db import Database
from tests.sync.fakes import BASE, REPO, TOKEN, FakeGitHub
from tests.web.admin.conftest import post_form

WEBHOOK_SECRET = "whsec-page-secret-value"
GITHUB_FORM = {
    "kind": "github",
    "name": "gh-web",
    "base_url": BASE,
    "token": TOKEN,
    "github_repos": REPO,
    "poll_interval_seconds": "600",
    "webhook_secret": WEBHOOK_SECRET,
    "enabled": "on",
}


async def _source_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Source)) or 0)


async def _create(admin: httpx.AsyncClient, **overrides: str) -> int:
    response = await post_form(admin, "/admin/sources/new", GITHUB_FORM | overrides)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return int(location.split("/")[3].split("?")[0])


async def test_invalid_form_shows_field_errors_keeps_typed_values_never_secrets(
    admin: httpx.AsyncClient,
    db: Database,
) -> None:
    form = GITHUB_FORM | {"name": "bad name!", "github_org": "acme-typed"}
    response = await post_form(admin, "/admin/sources/new", form)
    assert response.status_code == 422
    page = response.text
    assert 'id="e-name"' in page and 'aria-invalid="true"' in page
    assert 'value="acme-typed"' in page and f'value="{BASE}"' in page
    assert TOKEN not in page and WEBHOOK_SECRET not in page
    assert await _source_count(db) == 0


async def test_missing_credential_is_shown_beside_its_field(
    admin: httpx.AsyncClient,
    db: Database,
) -> None:
    response = await post_form(admin, "/admin/sources/new", GITHUB_FORM | {"token": ""})
    assert response.status_code == 422
    assert 'id="e-token"' in response.text and "non-empty string is required" in response.text
    assert await _source_count(db) == 0


async def test_private_base_url_is_refused_beside_the_field(
    admin: httpx.AsyncClient,
) -> None:
    response = await post_form(
        admin, "/admin/sources/new", GITHUB_FORM | {"base_url": "https://internal.example"}
    )
    assert response.status_code == 422
    assert 'id="e-base_url"' in response.text and "private" in response.text


async def test_create_then_edit_with_blank_secrets_keeps_them(
    admin: httpx.AsyncClient,
    db: Database,
    secret_box: SecretBox,
) -> None:
    source_id = await _create(admin)
    detail = await admin.get(f"/admin/sources/{source_id}")
    assert detail.status_code == 200
    assert "gh-web" in detail.text and "stored (encrypted, never shown)" in detail.text
    edit = await admin.get(f"/admin/sources/{source_id}/edit")
    assert TOKEN not in edit.text and WEBHOOK_SECRET not in edit.text
    assert 'value="600"' in edit.text and f'value="{REPO}"' in edit.text

    changed = {
        "kind": "github",
        "name": "gh-renamed",
        "base_url": BASE,
        "github_repos": f"{REPO}, octo/other",
        "poll_interval_seconds": "900",
        "enabled": "on",
    }
    response = await post_form(admin, f"/admin/sources/{source_id}/edit", changed)
    assert response.status_code == 303, response.text
    async with db.session() as session:
        source = await sources.get(session, source_id)
        assert (source.name, source.poll_interval_seconds) == ("gh-renamed", 900)
        assert source.scope == {"repos": [REPO, "octo/other"]}
        assert sources.credentials_of(secret_box, source) == {"token": TOKEN}
        assert sources.webhook_secret_of(secret_box, source) == WEBHOOK_SECRET


async def test_sync_now_starts_a_run_whose_page_shows_it_succeeded(
    admin: httpx.AsyncClient,
    admin_app: FastAPI,
    upstream: respx.MockRouter,
) -> None:
    github = FakeGitHub(30)
    upstream.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=github)
    source_id = await _create(admin)
    page = f"/admin/sources/{source_id}"
    response = await post_form(admin, page, {"mode": "full"}, f"{page}/sync")
    assert response.status_code == 303
    run_path = response.headers["location"]
    run_id = int(run_path.rsplit("/", 1)[1])
    await sync_runner(admin_app).wait(run_id)
    run = await admin.get(run_path)
    assert run.status_code == 200
    assert "The run succeeded." in run.text and "data-refresh-seconds" not in run.text
    assert "30 created" in run.text
    assert github.reads  # the run really read the upstream
    detail = await admin.get(page)
    assert f'href="/admin/runs/{run_id}"' in detail.text


async def test_post_without_csrf_token_is_refused_and_changes_nothing(
    admin: httpx.AsyncClient,
    db: Database,
) -> None:
    response = await admin.post("/admin/sources/new", data=GITHUB_FORM)
    assert response.status_code == 403
    assert "security token" in response.text
    assert await _source_count(db) == 0


@pytest.mark.parametrize("path", ["/admin/sources", "/admin/sources/new"])
async def test_a_reader_gets_the_403_page(
    reader: httpx.AsyncClient,
    path: str,
) -> None:
    response = await reader.get(path)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "needs the admin role" in response.text
