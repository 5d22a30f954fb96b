"""Progress snapshots: recorded on change, at most one per interval; ?as_of= reads them."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from schemas.tables import ProgressSnapshot
from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _count(db) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ProgressSnapshot)) or 0)


async def test_as_of_returns_the_older_value(db, client, app, editor_headers) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, item(1), item(2))
    target = await initiative(client, editor_headers)
    for key in keys:
        await client.put(
            f"/api/v1/initiatives/{target}/work-items/{keys[key]}", headers=editor_headers
        )
    path = f"/api/v1/initiatives/{target}/progress"

    app.state.clock = lambda: T1
    assert (await client.get(path, headers=editor_headers)).json()["progress"] == 0.0
    assert await client.get(path, headers=editor_headers)  # same value: nothing new
    assert await _count(db) == 1

    await upsert(db, source, item(1, minutes=5, status_category="done"))
    app.state.clock = lambda: T1 + timedelta(minutes=10)
    assert (await client.get(path, headers=editor_headers)).json()["progress"] == 0.5
    assert await _count(db) == 1  # changed, but within the hour
    app.state.clock = lambda: T1 + timedelta(hours=2)
    await client.get(path, headers=editor_headers)
    assert await _count(db) == 2

    then = await client.get(
        path, params={"as_of": (T1 + timedelta(hours=1)).isoformat()}, headers=editor_headers
    )
    assert then.status_code == 200, then.text
    assert then.json()["progress"] == 0.0
    assert then.json()["as_of"].startswith("2026-03-02T09:00")
    assert then.json()["explanation"]["counts"]["todo"] == 2
    now = await client.get(
        path, params={"as_of": (T1 + timedelta(hours=3)).isoformat()}, headers=editor_headers
    )
    assert now.json()["progress"] == 0.5
    before = await client.get(
        path, params={"as_of": (T1 - timedelta(days=1)).isoformat()}, headers=editor_headers
    )
    assert before.status_code == 404
    assert "no progress" in before.json()["detail"]


async def test_portfolio_tree_records_every_node_once(db, client, app, editor_headers) -> None:
    await initiative(client, editor_headers)
    await initiative(client, editor_headers)
    app.state.clock = lambda: T1
    await client.get("/api/v1/portfolio", headers=editor_headers)
    await client.get("/api/v1/portfolio", headers=editor_headers)
    assert await _count(db) == 2
