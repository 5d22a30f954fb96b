"""Progress history: points written by the writes that move a node, coalesced per interval;
`?as_of=` and the gap-free history series read them; reads never write."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import Change, ProgressSnapshot
from service.portfolio.progress import CONFIG, RollupConfig
from service.store.db import Database
from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pin(db: Database, when: datetime) -> None:
    db.session_info[CONFIG] = RollupConfig(clock=lambda: when)


async def _points(db: Database, node_type: str = "initiative") -> list[ProgressSnapshot]:
    async with db.session() as session:
        rows = await session.execute(
            select(ProgressSnapshot)
            .where(col(ProgressSnapshot.node_type) == node_type)
            .order_by(col(ProgressSnapshot.id))
        )
        return list(rows.scalars())


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ProgressSnapshot)) or 0)


async def _linked(db, client, headers) -> tuple[int, int, dict[str, int]]:
    source = await make_source(db)
    keys = await upsert(db, source, item(1), item(2))
    target = await initiative(client, headers)
    for key in keys:
        response = await client.put(
            f"/api/v1/initiatives/{target}/work-items/{keys[key]}", headers=headers
        )
        assert response.status_code == 200, response.text
    return source, target, keys


async def test_writes_record_points_coalesced_per_interval(db, client, editor_headers) -> None:
    pin(db, T1)
    source, _target, _ = await _linked(db, client, editor_headers)
    points = await _points(db)
    # Created empty, then two links in the same hour: one point, the last value won.
    assert [(p.done_count, p.total_count, p.progress) for p in points] == [(0, 2, 0.0)]

    pin(db, T1 + timedelta(minutes=10))
    await upsert(db, source, item(1, minutes=5, status_category="done"))
    points = await _points(db)
    assert [(p.done_count, p.total_count, p.progress) for p in points] == [(1, 2, 0.5)]

    pin(db, T1 + timedelta(hours=2))
    await upsert(db, source, item(3, minutes=6))  # new scope, not linked: no move
    await upsert(db, source, item(2, minutes=7, status_category="done"))
    points = await _points(db)
    assert [(p.done_count, p.total_count, p.progress) for p in points] == [
        (1, 2, 0.5),
        (2, 2, 1.0),
    ]
    assert points[1].health == "done" and points[1].by_count == 1.0
    assert points[1].details["explanation"]["counts"]["done"] == 2


async def test_reads_never_write(db, client, editor_headers) -> None:
    pin(db, T1)
    _, target, _ = await _linked(db, client, editor_headers)
    before = await _count(db)
    async with db.session() as session:
        feed = await session.scalar(select(func.count()).select_from(Change))
    for path in (
        "/api/v1/portfolio",
        f"/api/v1/initiatives/{target}/progress",
        f"/api/v1/initiatives/{target}/history?from=2026-03-01",
    ):
        assert (await client.get(path, headers=editor_headers)).status_code == 200
    assert await _count(db) == before
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Change)) == feed


async def test_as_of_reads_the_history(db, client, editor_headers) -> None:
    pin(db, T1)
    source, target, _ = await _linked(db, client, editor_headers)
    pin(db, T1 + timedelta(hours=2))
    await upsert(db, source, item(1, minutes=5, status_category="done"))
    path = f"/api/v1/initiatives/{target}/progress"

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


async def test_history_series_is_gap_free_and_carries_forward(db, client, editor_headers) -> None:
    pin(db, T1)
    source, target, _ = await _linked(db, client, editor_headers)
    pin(db, T1 + timedelta(days=3))
    await upsert(db, source, item(1, minutes=5, status_category="done"))
    path = f"/api/v1/initiatives/{target}/history"

    days = await client.get(
        path, params={"from": "2026-02-28", "to": "2026-03-07"}, headers=editor_headers
    )
    assert days.status_code == 200, days.text
    body = days.json()
    assert (body["from"], body["to"], body["step"]) == ("2026-02-28", "2026-03-07", "day")
    series = [(p["at"], p["done_count"], p["total_count"]) for p in body["points"]]
    assert series == [
        ("2026-02-28", 0, 0),  # before the first point: nothing
        ("2026-03-01", 0, 0),
        ("2026-03-02", 0, 2),
        ("2026-03-03", 0, 2),  # carried forward
        ("2026-03-04", 0, 2),
        ("2026-03-05", 1, 2),
        ("2026-03-06", 1, 2),
        ("2026-03-07", 1, 2),
    ]
    assert body["points"][0]["recorded_at"] is None
    assert body["points"][5]["progress"] == 0.5

    weeks = await client.get(
        path,
        params={"from": "2026-02-23", "to": "2026-03-10", "step": "week"},
        headers=editor_headers,
    )
    assert [(p["at"], p["done_count"]) for p in weeks.json()["points"]] == [
        ("2026-02-23", 0),
        ("2026-03-02", 0),
        ("2026-03-09", 1),
        ("2026-03-10", 1),  # `to` is always the last point
    ]


async def test_history_rejects_bad_ranges_and_unknown_nodes(db, client, reader_headers) -> None:
    bad = await client.get(
        "/api/v1/objectives/1/history", params={"from": "2026-03-01"}, headers=reader_headers
    )
    assert bad.status_code == 404 and "objective 1 does not exist" in bad.json()["detail"]
    response = await client.get(
        "/api/v1/key-results/1/history", params={"from": "x"}, headers=reader_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
