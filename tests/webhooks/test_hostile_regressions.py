"""Inputs the hostile corpus found mishandled: each once, on both backends."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import FatalUpstreamError
from connectors.github.mapping import GitHubSettings, map_issue
from connectors.jira.mapping import MappingConfig
from connectors.jira.mapping import map_issue as map_jira_issue
from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import run_until_drained

from .support import (
    add_source,
    deliveries,
    encode,
    github_headers,
    load_github,
    load_jira,
    work_items,
)


@pytest.mark.parametrize("value", ["sha256=\u0661\u0662", "sha256=caf\u00e9"])
async def test_non_ascii_signature_is_401_not_500(
    value: str, db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    for kind, header in (("github", "X-Hub-Signature-256"), ("jira", "X-Hub-Signature")):
        source_id = await add_source(db, secret_box, kind=kind)
        body = encode(load_github("issues.opened.json"))
        headers = {**github_headers(body, "issues"), header: value}
        response = await client.post(
            f"/webhooks/{kind}/{source_id}",
            content=body,
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        assert response.status_code == 401, response.text
    assert await deliveries(db) == []


async def test_out_of_range_number_is_400_not_503(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    body = b'{"action": "opened", "n": 1e999}'
    refused = await post_signed(client, await add_source(db, secret_box), body)
    assert refused.status_code == 400, refused.text
    assert "out of range" in refused.json()["detail"]
    assert await deliveries(db) == []


async def post_signed(
    client: httpx.AsyncClient, source_id: int, body: bytes, event: str = "issues", **extra: str
) -> httpx.Response:
    headers = {**github_headers(body, event), **extra}
    return await client.post(
        f"/webhooks/github/{source_id}",
        content=body,
        headers=[(k, v.encode()) for k, v in headers.items()],
    )


async def test_lone_surrogate_and_nul_header_are_stored_replaced(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    body = b'{"action": "opened", "x": "a\\ud800b"}'
    source_id = await add_source(db, secret_box)
    response = await post_signed(client, source_id, body, "ping\x00", **{"X-Extra": "a\x00b"})
    assert response.status_code == 202, response.text
    [row] = await deliveries(db)
    assert row.payload["x"] == "a\ufffdb"
    assert row.event == "ping\ufffd"
    assert row.headers["x-extra"] == "a\ufffdb"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("issue", "node_id"), ""),
        (("issue", "node_id"), None),
        (("issue", "node_id"), {"a": 1}),
        (("issue", "number"), True),
        (("issue", "number"), "1"),
        (("repository", "full_name"), 10**30),
    ],
)
async def test_github_delivery_with_a_broken_identity_fails_readably(
    path: tuple[str, str],
    value: object,
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
) -> None:
    source_id = await add_source(db, secret_box, scope={"repos": ["Codertocat/Hello-World"]})
    payload = load_github("issues.opened.json")
    payload[path[0]][path[1]] = value
    body = encode(payload)
    response = await client.post(
        f"/webhooks/github/{source_id}", content=body, headers=github_headers(body, "issues")
    )
    assert response.status_code == 202, response.text
    await run_until_drained(db, max_attempts=8)
    [row] = await deliveries(db)
    assert row.status in ("failed", "ignored"), row
    assert row.error and any(w in row.error for w in ("valid", "scope", "owner/repo")), row.error
    assert await work_items(db) == []


def test_github_mapping_refuses_a_stringified_identity() -> None:
    issue = load_github("issues.opened.json")["issue"]
    for field, value in (("node_id", None), ("node_id", 7), ("number", 1.5)):
        with pytest.raises(ValueError, match="valid"):
            map_issue({**issue, field: value}, GitHubSettings(), repo="o/r")
    with pytest.raises(ValueError, match="owner/repo"):
        map_issue(issue, GitHubSettings(), repo="no-slash")


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("id", {"a": 1}),
        ("id", True),
        ("key", 7),
        ("summary", {"nested": 1}),
        ("summary", 0),
        ("labels", [None]),
        ("labels", [{"a": 1}]),
    ],
)
def test_jira_mapping_refuses_non_text_identity_and_text_fields(where: str, value: object) -> None:
    issue = load_jira("issue_created")["issue"]
    if where in ("id", "key"):
        issue[where] = value
    else:
        issue["fields"][where] = value
    with pytest.raises(FatalUpstreamError) as raised:
        map_jira_issue(issue, MappingConfig())
    assert "Jira issue" in str(raised.value)


def test_jira_mapping_still_takes_a_numeric_id() -> None:
    issue = {**load_jira("issue_created")["issue"], "id": 10021}
    assert map_jira_issue(issue, MappingConfig()).external_id == "10021"
