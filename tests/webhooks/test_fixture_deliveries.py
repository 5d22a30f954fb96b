"""Every recorded example, correctly signed, is stored once and applied through the upsert."""

from __future__ import annotations

import httpx
import pytest

from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import drain_once

from .support import (
    GITHUB_FIXTURES,
    add_source,
    deliveries,
    github_event_of,
    load_github,
    load_jira,
    post_github,
    post_jira,
    work_items,
)

UPSERTS = {
    "issues.assigned.json",
    "issues.closed.json",
    "issues.demilestoned.json",
    "issues.edited.json",
    "issues.labeled.json",
    "issues.milestoned.json",
    "issues.opened.json",
    "issues.opened.with-organization.json",
    "issues.reopened.json",
    "net.issues.reopened.json",
    "net.issues.typed.json",
    "pull_request.closed.json",
    "pull_request.opened.json",
}
TOMBSTONES = {"issues.deleted.json", "issues.transferred.json"}
PINGS = {"ping.json", "ping.with-organization.json"}
IGNORED = {
    "issue_comment.created.json",
    "label.created.json",
    "milestone.closed.json",
    "milestone.created.json",
    "net.projects_v2_item.edited.json",
    "net.projects_v2_item.edited.with-number.json",
    "projects_v2_item.created.json",
    "projects_v2_item.edited.json",
}
ALL = sorted(UPSERTS | TOMBSTONES | PINGS | IGNORED)


def test_the_table_covers_every_github_fixture() -> None:
    assert sorted(p.name for p in GITHUB_FIXTURES.glob("*.json")) == ALL


@pytest.mark.parametrize("name", ALL)
async def test_github_example_is_stored_and_applied(
    name: str,
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
    reader_headers: dict[str, str],
) -> None:
    source_id = await add_source(db, secret_box)
    payload = load_github(name)

    response = await post_github(client, source_id, payload, github_event_of(name))

    assert response.status_code == (200 if name in PINGS else 202), response.text
    ack = response.json()
    assert ack["duplicate"] is False
    assert ack["status"] == ("ignored" if name in PINGS | IGNORED else "pending")
    await drain_once(db)
    [row] = await deliveries(db)
    assert row.status == ("processed" if name in UPSERTS | TOMBSTONES else "ignored")
    assert row.event == github_event_of(name)
    listed = await client.get(
        "/api/v1/work-items", params={"source_id": source_id}, headers=reader_headers
    )
    items = listed.json()["items"]
    if name in UPSERTS:
        expected = (payload.get("issue") or payload.get("pull_request"))["title"]
        assert [i["title"] for i in items] == [expected]
    else:
        assert items == []


async def test_github_tombstone_hides_an_applied_issue(
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
    reader_headers: dict[str, str],
) -> None:
    source_id = await add_source(db, secret_box)
    opened = load_github("issues.opened.json")
    deleted = load_github("issues.deleted.json")
    assert opened["issue"]["node_id"] == deleted["issue"]["node_id"]
    await post_github(client, source_id, opened, "issues")
    await drain_once(db)
    await post_github(client, source_id, deleted, "issues")
    await drain_once(db)

    params = {"source_id": source_id}
    visible = await client.get("/api/v1/work-items", params=params, headers=reader_headers)
    assert visible.json()["items"] == []
    kept = await client.get(
        "/api/v1/work-items", params={**params, "include_deleted": True}, headers=reader_headers
    )
    [item] = kept.json()["items"]
    assert item["deleted_at"] is not None


@pytest.mark.parametrize("name", ["issue_created", "issue_updated"])
async def test_jira_capture_is_stored_and_applied(
    name: str,
    db: Database,
    client: httpx.AsyncClient,
    secret_box: SecretBox,
    reader_headers: dict[str, str],
) -> None:
    source_id = await add_source(db, secret_box, kind="jira")
    payload = load_jira(name)

    response = await post_jira(client, source_id, payload, identifier=f"jira-{name}")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert await drain_once(db) == 1
    [row] = await deliveries(db)
    assert (row.status, row.event, row.delivery_id) == (
        "processed",
        f"jira:{name}",
        f"jira-{name}",
    )
    listed = await client.get(
        "/api/v1/work-items", params={"source_id": source_id}, headers=reader_headers
    )
    [item] = listed.json()["items"]
    assert (item["key"], item["external_id"]) == ("KAN-22", "10021")
    assert item["title"] == payload["issue"]["fields"]["summary"]


async def test_jira_delete_tombstones_and_newer_update_wins(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box, kind="jira")
    created, updated = load_jira("issue_created"), load_jira("issue_updated")
    await post_jira(client, source_id, updated, identifier="u")
    await post_jira(client, source_id, created, identifier="c")  # older, arrives late
    await drain_once(db)
    [item] = await work_items(db)
    assert item.title == updated["issue"]["fields"]["summary"]
    assert item.upstream_updated_at.isoformat().startswith("2024-12-29T03:13:45")

    deleted = {**updated, "webhookEvent": "jira:issue_deleted", "timestamp": 1735442999000}
    await post_jira(client, source_id, deleted, identifier="d")
    await drain_once(db)
    [item] = await work_items(db)
    assert item.deleted_at is not None


async def test_jira_without_identifier_dedupes_on_the_body(
    db: Database, client: httpx.AsyncClient, secret_box: SecretBox
) -> None:
    source_id = await add_source(db, secret_box, kind="jira")
    payload = load_jira("issue_created")
    first = await post_jira(client, source_id, payload)
    again = await post_jira(client, source_id, payload)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["delivery_id"].startswith("sha256:")
    assert again.json()["duplicate"] is True
    assert len(await deliveries(db)) == 1
