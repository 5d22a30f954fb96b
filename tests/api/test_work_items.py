"""Work items read API: filters, search, tombstones, detail."""

from service.store.db import Database
from service.store.work_items import tombstone_work_items, upsert_work_items
from tests.factories import item, make_source


async def _seed(db: Database) -> tuple[int, int]:
    jira = await make_source(db, "jira")
    github = await make_source(db, "github", kind="github")
    async with db.session() as session:
        await upsert_work_items(
            session,
            jira,
            [
                item(1, kind="epic", title="Checkout epic"),
                item(2, title="Pay button", status_category="done", status="Done", minutes=30),
                item(3, title="Refund flow", parent_key="PROJ-1"),
            ],
            cause="t",
        )
        await upsert_work_items(
            session,
            github,
            [item(9, key="acme/web#9", kind="pull_request", title="Fix pay")],
            cause="t",
        )
        await tombstone_work_items(session, jira, ["ext-3"], cause="t")
    return jira, github


async def test_filters(client, reader_headers, db: Database) -> None:
    _jira, github = await _seed(db)

    async def keys(**params: object) -> list[str]:
        response = await client.get("/api/v1/work-items", params=params, headers=reader_headers)
        assert response.status_code == 200, response.text
        return [i["key"] for i in response.json()["items"]]

    assert await keys() == ["PROJ-1", "PROJ-2", "acme/web#9"]
    assert await keys(include_deleted=True) == ["PROJ-1", "PROJ-2", "PROJ-3", "acme/web#9"]
    assert await keys(source_id=github) == ["acme/web#9"]
    assert await keys(kind="epic") == ["PROJ-1"]
    assert await keys(status_category="done") == ["PROJ-2"]
    assert await keys(q="PAY") == ["PROJ-2", "acme/web#9"]
    assert await keys(q="acme/web") == ["acme/web#9"]
    assert await keys(q="100%") == []
    assert await keys(updated_since="2026-03-01T12:10:00Z") == ["PROJ-2"]


async def test_detail_shape_and_404(client, reader_headers, db: Database) -> None:
    await _seed(db)
    listed = (await client.get("/api/v1/work-items", headers=reader_headers)).json()["items"]
    detail = await client.get(f"/api/v1/work-items/{listed[0]['id']}", headers=reader_headers)
    body = detail.json()
    for name in (
        "id",
        "source_id",
        "external_id",
        "key",
        "kind",
        "title",
        "status",
        "status_category",
        "parent_id",
        "parent_key",
        "labels",
        "components",
        "assignee",
        "estimate",
        "url",
        "upstream_created_at",
        "upstream_updated_at",
        "resolved_at",
        "deleted_at",
    ):
        assert name in body
    assert "raw" not in body and "content_hash" not in body
    missing = await client.get("/api/v1/work-items/999999", headers=reader_headers)
    assert missing.status_code == 404


async def test_bad_filter_values_are_422(client, reader_headers) -> None:
    response = await client.get(
        "/api/v1/work-items", params={"status_category": "maybe"}, headers=reader_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "status_category"]
