"""Write-back admin API (settings, preview, write log, metrics) and the worker's failure path,
with the GitHub upstream mocked by respx."""

import pytest
import respx

from connectors.testing import FakeTime
from service.security import SecretBox
from service.store.db import Database
from service.writeback.worker import WriteBackWorker
from tests.factories import item
from tests.rules.support import initiative, rule, upsert

from .support import add_source, enable, outbox, path

TOKEN = "ghp_apiWorkerToken0123456789"
GH = "https://api.github.com"


async def github_source(db: Database, box: SecretBox) -> int:
    return await add_source(db, box, "github", GH, {"token": TOKEN}, repos=["octo/repo"])


async def linked_github_item(
    db: Database, client, admin_headers, box: SecretBox
) -> tuple[int, dict[str, int]]:
    """A GitHub source with `octo/repo#1` linked by a rule to initiative "Checkout revamp"."""
    source = await github_source(db, box)
    target = await initiative(client, admin_headers, title="Checkout revamp")
    await rule(client, admin_headers, {"source_id": source}, initiative_id=target)
    return source, await upsert(db, source, item(1, key="octo/repo#1", labels=[]))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label_prefix": "has space"}, "label_prefix"),
        ({"label_color": "purple"}, "label_color"),
        ({"policy": "whoever"}, "policy"),
        ({"fields": ["x"]}, "fields"),
    ],
)
async def test_bad_settings_are_refused_and_nothing_changes(
    db, client, admin_headers, secret_box, body, field
) -> None:
    source = await github_source(db, secret_box)
    response = await client.put(path(source), json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in str(response.json()["errors"])
    assert (await client.get(path(source), headers=admin_headers)).json()["enabled"] is False


async def test_unknown_source_and_roles(
    db, client, admin_headers, editor_headers, secret_box
) -> None:
    missing = await client.get(path(999), headers=admin_headers)
    assert missing.status_code == 404 and "source 999" in missing.json()["detail"]
    source = await github_source(db, secret_box)
    assert (await client.get(path(source), headers=editor_headers)).status_code == 403
    forbidden = await client.put(path(source), json={"enabled": True}, headers=editor_headers)
    assert forbidden.status_code == 403
    assert (await client.get(path(source, "/preview"), headers=editor_headers)).status_code == 403
    bad = await client.get(
        "/api/v1/admin/write-back/writes", params={"status": "maybe"}, headers=admin_headers
    )
    assert bad.status_code == 422


async def test_a_refused_write_is_logged_retried_later_and_counted(
    db, client, admin_headers, secret_box
) -> None:
    source, keys = await linked_github_item(db, client, admin_headers, secret_box)
    await enable(client, admin_headers, source)
    preview = (await client.get(path(source, "/preview"), headers=admin_headers)).json()
    assert preview["items"] == [
        {
            "work_item_id": keys["octo/repo#1"],
            "key": "octo/repo#1",
            "field": "labels",
            "add": ["initiative:checkout-revamp"],
            "remove": [],
        }
    ]
    fake = FakeTime()
    worker = WriteBackWorker(db, secret_box, sleep=fake.sleep, clock=fake.clock)
    with respx.mock(assert_all_called=True) as mock:
        create = mock.post(f"{GH}/repos/octo/repo/labels").respond(201, json={})
        add = mock.post(f"{GH}/repos/octo/repo/issues/1/labels").respond(
            403, json={"message": "Resource not accessible by personal access token"}
        )
        report = await worker.run_once()
    assert (create.call_count, add.call_count) == (1, 1)
    assert (report.items, report.writes, report.failed) == (1, 2, 1)
    row = (await outbox(db))[keys["octo/repo#1"]]
    assert (row.status, row.attempts, row.written) == ("failed", 1, [])
    assert "not accessible" in (row.error or "") and TOKEN not in (row.error or "")
    # Not due before its backoff: a second pass sends nothing (respx would fail on a request).
    with respx.mock(assert_all_called=False):
        assert (await worker.run_once()).items == 0

    log = (
        await client.get(
            "/api/v1/admin/write-back/writes",
            params={"source_id": source, "status": "failed"},
            headers=admin_headers,
        )
    ).json()["items"]
    assert [(w["operation"], w["value"], w["before"], w["after"]) for w in log] == [
        ("add", "initiative:checkout-revamp", [], ["initiative:checkout-revamp"])
    ]
    assert TOKEN not in str(log)
    done = await client.get(
        "/api/v1/admin/write-back/writes",
        params={"source_id": source, "operation": "create_label"},
        headers=admin_headers,
    )
    assert [w["status"] for w in done.json()["items"]] == ["done"]
    metrics = (await client.get("/metrics")).text
    assert (
        f'portfolio_sync_write_back_writes_total{{operation="add",source="{source}",status="failed"}}'
        in metrics
    )


async def test_the_jira_property_is_refused_for_a_github_source(
    db, client, admin_headers, secret_box
) -> None:
    source = await github_source(db, secret_box)
    response = await client.put(
        path(source), json={"enabled": True, "jira_property": True}, headers=admin_headers
    )
    assert response.status_code == 422 and "Jira only" in str(response.json()["errors"])
    assert (await client.get(path(source), headers=admin_headers)).json()["enabled"] is False


async def test_one_replica_writes_at_a_time(db, client, admin_headers, secret_box) -> None:
    source = await github_source(db, secret_box)
    target = await initiative(client, admin_headers, title="T")
    await rule(client, admin_headers, {"source_id": source}, initiative_id=target)
    await enable(client, admin_headers, source)
    fake = FakeTime()
    a, b = (
        WriteBackWorker(db, secret_box, sleep=fake.sleep, clock=fake.clock, min_write_interval=0)
        for _ in range(2)
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{GH}/repos/octo/repo/labels").respond(201, json={})
        add = mock.post(url__regex=rf"{GH}/repos/octo/repo/issues/\d+/labels").respond(200, json=[])
        await upsert(db, source, item(1, key="octo/repo#1", labels=[]))
        assert (await a.run_if_leader("replica-a", ttl_seconds=60)).items == 1
        await upsert(db, source, item(2, key="octo/repo#2", labels=[]))
        assert (await b.run_if_leader("replica-b", ttl_seconds=60)).items == 0
        assert (await a.run_if_leader("replica-a", ttl_seconds=60)).items == 1
    assert add.call_count == 2


async def test_rules_on_written_labels_are_refused_both_ways(
    db, client, admin_headers, secret_box
) -> None:
    source = await github_source(db, secret_box)
    target = await initiative(client, admin_headers, title="T")
    looping = {"labels_any": ["initiative:t"]}
    existing = await rule(client, admin_headers, looping, initiative_id=target)
    refused = await client.put(path(source), json={"enabled": True}, headers=admin_headers)
    assert refused.status_code == 422
    assert f"mapping rules [{existing['id']}]" in refused.json()["detail"]
    # Another prefix is fine; then a rule on that prefix is refused, on create and on edit.
    await enable(client, admin_headers, source, label_prefix="portfolio/")
    body = {
        "name": "loop",
        "conditions": {"labels_all": ["portfolio/t"]},
        "target": {"initiative_id": target},
    }
    created = await client.post("/api/v1/admin/mapping-rules", json=body, headers=admin_headers)
    assert created.status_code == 422 and "portfolio/t" in created.json()["detail"]
    edited = await client.patch(
        f"/api/v1/admin/mapping-rules/{existing['id']}",
        json={"conditions": {"labels_any": ["portfolio/x"]}},
        headers=admin_headers,
    )
    assert edited.status_code == 422
