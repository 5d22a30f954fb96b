"""Every write path appends to the feed in its transaction; a rolled-back write appends nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import Change
from service.store.db import Database
from service.store.work_items import reconcile_live_ids, tombstone_work_items, upsert_work_items
from tests.factories import item, make_source


async def _feed(db: Database) -> list[tuple[str, str, int, str]]:
    async with db.session() as session:
        rows = (await session.execute(select(Change).order_by(col(Change.id)))).scalars().all()
    return [(r.type, r.entity_type, r.entity_id, r.cause) for r in rows]


async def test_work_item_writes_append_created_updated_deleted_restored(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        created = await upsert_work_items(session, source_id, [item(1), item(2)], cause="sync:7")
    async with db.session() as session:
        await upsert_work_items(
            session, source_id, [item(1, minutes=5, title="Renamed")], cause="webhook:d-1"
        )
        # Unchanged content appends nothing.
        await upsert_work_items(session, source_id, [item(2)], cause="sync:8")
    async with db.session() as session:
        await tombstone_work_items(session, source_id, ["ext-2"], cause="webhook:d-2")
    async with db.session() as session:
        await reconcile_live_ids(session, source_id, {"ext-2"}, cause="sync:9")

    one, two = created.changed_ids
    assert await _feed(db) == [
        ("work_item.created", "work_item", one, "sync:7"),
        ("work_item.created", "work_item", two, "sync:7"),
        ("work_item.updated", "work_item", one, "webhook:d-1"),
        ("work_item.deleted", "work_item", two, "webhook:d-2"),
        ("work_item.deleted", "work_item", one, "sync:9"),
        ("work_item.restored", "work_item", two, "sync:9"),
    ]
    async with db.session() as session:
        update = (
            await session.execute(select(Change).where(col(Change.type) == "work_item.updated"))
        ).scalar_one()
    assert update.before == {
        "title": "Item 1",
        "upstream_updated_at": item(1).upstream_updated_at.isoformat(),
    }
    assert update.after is not None and update.after["title"] == "Renamed"


async def test_portfolio_writes_append_with_api_cause(
    client: httpx.AsyncClient, editor_headers: dict[str, str], db: Database
) -> None:
    objective = (
        await client.post("/api/v1/objectives", json={"title": "Grow"}, headers=editor_headers)
    ).json()
    kr = (
        await client.post(
            "/api/v1/key-results",
            json={"objective_id": objective["id"], "title": "Revenue", "target": 10},
            headers=editor_headers,
        )
    ).json()
    initiative = (
        await client.post(
            "/api/v1/initiatives",
            json={"title": "Checkout", "key_result_ids": [kr["id"]]},
            headers=editor_headers,
        )
    ).json()
    await client.patch(
        f"/api/v1/key-results/{kr['id']}", json={"current": 3}, headers=editor_headers
    )
    await client.patch(
        f"/api/v1/initiatives/{initiative['id']}", json={"status": "active"}, headers=editor_headers
    )
    await client.delete(f"/api/v1/initiatives/{initiative['id']}", headers=editor_headers)
    await client.delete(f"/api/v1/key-results/{kr['id']}", headers=editor_headers)
    await client.patch(
        f"/api/v1/objectives/{objective['id']}", json={"owner": "ana"}, headers=editor_headers
    )
    await client.delete(f"/api/v1/objectives/{objective['id']}", headers=editor_headers)

    cause = "api:editor-key"
    feed = await _feed(db)
    # New nodes only get a first point; the objective moved when its key result appeared
    # (0 %), when the metric moved (both, 30 %) and when the key result was deleted (none).
    assert [row for row in feed if row[0] == "progress.changed"] == [
        ("progress.changed", "objective", objective["id"], cause),
        ("progress.changed", "key_result", kr["id"], cause),
        ("progress.changed", "objective", objective["id"], cause),
        ("progress.changed", "objective", objective["id"], cause),
    ]
    assert [row for row in feed if row[0] != "progress.changed"] == [
        ("objective.created", "objective", objective["id"], cause),
        ("key_result.created", "key_result", kr["id"], cause),
        ("initiative.created", "initiative", initiative["id"], cause),
        ("key_result.updated", "key_result", kr["id"], cause),
        ("initiative.updated", "initiative", initiative["id"], cause),
        ("initiative.deleted", "initiative", initiative["id"], cause),
        ("key_result.deleted", "key_result", kr["id"], cause),
        ("objective.updated", "objective", objective["id"], cause),
        ("objective.deleted", "objective", objective["id"], cause),
    ]
    async with db.session() as session:
        kr_update = (
            await session.execute(select(Change).where(col(Change.type) == "key_result.updated"))
        ).scalar_one()
    assert (kr_update.before, kr_update.after) == ({"current": 0.0}, {"current": 3.0})


async def test_rolled_back_write_appends_nothing(db: Database) -> None:
    source_id = await make_source(db)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            result = await upsert_work_items(session, source_id, [item(1)], cause="sync:1")
            assert result.created == 1
            in_transaction = await session.scalar(select(func.count()).select_from(Change))
            assert in_transaction == 1  # appended in the same transaction ...
            raise RuntimeError("the page failed after the upsert")
    assert await _feed(db) == []  # ... and gone with it


async def test_failed_api_write_appends_nothing(
    client: httpx.AsyncClient, editor_headers: dict[str, str], db: Database
) -> None:
    response = await client.post(
        "/api/v1/initiatives",
        json={"title": "Orphan", "key_result_ids": [424242]},
        headers=editor_headers,
    )
    assert response.status_code == 422
    assert await _feed(db) == []


async def test_rule_links_append_link_added_and_removed_with_rule_cause(
    client: httpx.AsyncClient, admin_headers: dict[str, str], db: Database
) -> None:
    initiative = (
        await client.post("/api/v1/initiatives", json={"title": "Checkout"}, headers=admin_headers)
    ).json()
    source_id = await make_source(db)
    rule = await client.post(
        "/api/v1/admin/mapping-rules",
        json={
            "name": "backend",
            "conditions": {"labels_any": ["backend"]},
            "target": {"initiative_id": initiative["id"]},
        },
        headers=admin_headers,
    )
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    async with db.session() as session:
        written = await upsert_work_items(session, source_id, [item(1)], cause="sync:3")
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(1, minutes=1, labels=[])], cause="sync:4")
    (item_id,) = written.changed_ids
    links = [c for c in await _feed(db) if c[0].startswith("link.")]
    assert links == [
        ("link.added", "work_item", item_id, f"rule:{rule_id}@1"),
        ("link.removed", "work_item", item_id, f"rule:{rule_id}@1"),
    ]
