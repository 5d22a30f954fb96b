"""What the receiver refuses, and that a refused delivery leaves no trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from schemas.tables import Change, WebhookDelivery, WorkItem
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database

from .support import (
    add_source,
    count,
    deliveries,
    encode,
    github_headers,
    jira_headers,
    load_github,
    load_jira,
    post_github,
)


async def assert_nothing_stored(db: Database) -> None:
    for table in (WebhookDelivery, WorkItem, Change):
        assert await count(db, table) == 0, table


def is_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


@pytest.mark.parametrize(
    "case", ["bad signature", "wrong secret", "missing header", "sha1 only", "body changed"]
)
async def test_unverified_github_delivery_is_refused_and_not_stored(
    case: str, db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    body = encode(load_github("issues.opened.json"))
    headers = github_headers(body, "issues")
    if case == "bad signature":
        headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    elif case == "wrong secret":
        headers = github_headers(body, "issues", secret="not the secret")
    elif case == "missing header":
        del headers["X-Hub-Signature-256"]
    elif case == "sha1 only":
        headers["X-Hub-Signature"] = headers.pop("X-Hub-Signature-256").replace("sha256", "sha1")
    else:
        body = body.replace(b"Spelling error", b"Spelling errors")

    response = await client.post(f"/webhooks/github/{source_id}", content=body, headers=headers)

    is_problem(response, 401)
    await assert_nothing_stored(db)


@pytest.mark.parametrize("case", ["wrong secret", "missing header", "github header name"])
async def test_unverified_jira_delivery_is_refused(
    case: str, db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box, kind="jira")
    body = encode(load_jira("issue_created"))
    headers = jira_headers(body, identifier="x")
    if case == "wrong secret":
        headers = jira_headers(body, identifier="x", secret="nope")
    elif case == "missing header":
        del headers["X-Hub-Signature"]
    else:
        headers["X-Hub-Signature-256"] = headers.pop("X-Hub-Signature")

    response = await client.post(f"/webhooks/jira/{source_id}", content=body, headers=headers)

    is_problem(response, 401)
    await assert_nothing_stored(db)


async def test_source_without_secret_refuses_everything(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box, secret=None)
    body = encode(load_github("issues.opened.json"))
    # Even a body "signed" with an empty secret must not pass.
    headers = github_headers(body, "issues", secret="")
    response = await client.post(f"/webhooks/github/{source_id}", content=body, headers=headers)
    is_problem(response, 401)
    assert "no webhook secret" in response.json()["detail"]
    await assert_nothing_stored(db)


@pytest.mark.parametrize("route", ["github", "jira"])
async def test_unknown_source_or_wrong_kind_is_404(
    route: str, db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    other_kind = "jira" if route == "github" else "github"
    wrong_kind = await add_source(db, secret_box, kind=other_kind)
    body = encode(load_github("issues.opened.json"))
    headers = {**github_headers(body, "issues"), **jira_headers(body, identifier="x")}
    for source_id in (wrong_kind, wrong_kind + 1000):
        response = await client.post(
            f"/webhooks/{route}/{source_id}", content=body, headers=headers
        )
        is_problem(response, 404)
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"[1, 2]", "JSON object"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
async def test_malformed_or_empty_body_is_400(
    body: bytes, detail: str, db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    response = await client.post(
        f"/webhooks/github/{source_id}", content=body, headers=github_headers(body, "issues")
    )
    is_problem(response, 400)
    assert detail in response.json()["detail"]
    await assert_nothing_stored(db)


async def test_missing_github_event_or_delivery_header_is_400(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    body = encode(load_github("issues.opened.json"))
    for header in ("X-GitHub-Event", "X-GitHub-Delivery"):
        headers = github_headers(body, "issues")
        del headers[header]
        response = await client.post(f"/webhooks/github/{source_id}", content=body, headers=headers)
        is_problem(response, 400)
        assert header in response.json()["detail"]
    await assert_nothing_stored(db)


@pytest.fixture
async def small_client(
    db: Database, settings: Settings, secret_box: SecretBox
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"webhook_max_body_bytes": 2048}),
        database=db,
        secret_box=secret_box,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_oversize_body_is_413_declared_or_streamed(
    db: Database, small_client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    body = encode({"action": "opened", "padding": "x" * 4096})
    headers = github_headers(body, "issues")
    declared = await small_client.post(
        f"/webhooks/github/{source_id}", content=body, headers=headers
    )
    is_problem(declared, 413)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    streamed = await small_client.post(
        f"/webhooks/github/{source_id}", content=chunks(), headers=headers
    )
    is_problem(streamed, 413)
    await assert_nothing_stored(db)


async def test_body_at_the_cap_is_accepted(
    db: Database, small_client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    payload = {"action": "created", "pad": ""}
    payload["pad"] = "x" * (2048 - len(encode(payload)))
    body = encode(payload)
    assert len(body) == 2048
    response = await small_client.post(
        f"/webhooks/github/{source_id}", content=body, headers=github_headers(body, "label")
    )
    assert response.status_code == 202, response.text


async def test_stored_headers_never_keep_the_signature(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box)
    body = encode(load_github("issues.opened.json"))
    headers = {**github_headers(body, "issues"), "Authorization": "Bearer abc", "Cookie": "c=1"}
    response = await client.post(f"/webhooks/github/{source_id}", content=body, headers=headers)
    assert response.status_code == 202
    [row] = await deliveries(db)
    assert row.headers["x-hub-signature-256"] == "[redacted]"
    assert row.headers["authorization"] == "[redacted]"
    assert row.headers["cookie"] == "[redacted]"
    assert row.headers["x-github-event"] == "issues"
    assert headers["X-Hub-Signature-256"].split("=")[1] not in str(row.headers)


async def test_out_of_scope_and_disabled_are_stored_as_ignored(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    narrow = await add_source(db, secret_box, scope={"repos": ["someone/else"]})
    org = await add_source(db, secret_box, scope={"org": "codertocat"})
    disabled = await add_source(db, secret_box, enabled=False)
    payload = load_github("issues.opened.json")
    statuses = [
        (await post_github(client, source, payload, "issues")).json()["status"]
        for source in (narrow, org, disabled)
    ]
    assert statuses == ["ignored", "pending", "ignored"]
    rows = await deliveries(db)
    assert "outside the source scope" in (rows[0].error or "")
    assert "disabled" in (rows[2].error or "")


@pytest.mark.parametrize(
    ("scope", "status"),
    [({"projects": ["OTHER"]}, "ignored"), ({"jql": "labels = x"}, "pending")],
)
async def test_jira_scope_by_project_key_or_jql_only(
    scope: dict[str, object],
    status: str,
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
) -> None:
    source_id = await add_source(db, secret_box, kind="jira", scope=scope)
    body = encode(load_jira("issue_created"))
    response = await client.post(
        f"/webhooks/jira/{source_id}", content=body, headers=jira_headers(body, identifier="1")
    )
    assert response.status_code == 202
    assert response.json()["status"] == status
