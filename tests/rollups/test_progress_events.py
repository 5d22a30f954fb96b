"""Every write that can move a rollup appends progress/health changes for the nodes it moved,
and only those, with the write's cause."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change, ProgressSnapshot
from service.portfolio.progress import CONFIG, RollupConfig
from service.store.db import Database
from service.store.work_items import reconcile_live_ids, tombstone_work_items
from tests.factories import item, make_source
from tests.rules.support import RULES, initiative, key_result, objective, upsert

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


async def _moves(db: Database, after: int = 0) -> list[tuple[str, str, int, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Change)
            .where(
                col(Change.id) > after,
                col(Change.type).in_(["progress.changed", "health.changed"]),
            )
            .order_by(col(Change.id))
        )
        return [(c.type, c.entity_type, c.entity_id, c.cause) for c in rows.scalars()]


async def _last_id(db: Database) -> int:
    async with db.session() as session:
        return int(
            await session.scalar(select(col(Change.id)).order_by(col(Change.id).desc())) or 0
        )


async def test_each_kind_of_write_moves_exactly_its_nodes(
    db, client, editor_headers, admin_headers
) -> None:
    db.session_info[CONFIG] = RollupConfig(clock=lambda: NOW)
    source = await make_source(db)
    keys = await upsert(db, source, item(1), item(2), item(3, labels=["web"]))
    goal = await objective(client, editor_headers)
    kr = await key_result(client, editor_headers, goal, progress_source="linked_work")
    a = await initiative(client, editor_headers, key_result_ids=[kr])
    b = await initiative(client, editor_headers)
    rule = await client.post(
        RULES,
        json={"name": "web", "conditions": {"labels_any": ["web"]}, "target": {"initiative_id": b}},
        headers=admin_headers,
    )
    assert rule.status_code == 201, rule.text
    # Rule apply: b gained item 3 (0 %), with the rule's provenance as cause.
    assert await _moves(db) == [
        ("progress.changed", "initiative", b, f"rule:{rule.json()['id']}@1")
    ]

    mark = await _last_id(db)
    for n in (1, 2):
        await client.put(
            f"/api/v1/initiatives/{a}/work-items/{keys[f'PROJ-{n}']}", headers=editor_headers
        )
    cause = "api:editor-key"
    # Manual links move a, its key result and the objective; b is left alone.
    assert {m[1:] for m in await _moves(db, mark)} == {
        ("initiative", a, cause),
        ("key_result", kr, cause),
        ("objective", goal, cause),
    }

    mark = await _last_id(db)
    await upsert(db, source, item(1, minutes=5, status_category="done"))  # poll/webhook upsert
    assert {m[1:3] for m in await _moves(db, mark)} == {
        ("initiative", a),
        ("key_result", kr),
        ("objective", goal),
    }
    assert {m[3] for m in await _moves(db, mark)} == {"test"}

    mark = await _last_id(db)
    await upsert(
        db,
        source,
        item(3, minutes=5, labels=["web"], status="Doing", status_category="in_progress"),
    )
    assert {m[1:3] for m in await _moves(db, mark)} == set()  # b: still 0 % done, nothing moved
    async with db.session() as session:
        b_points = (
            (
                await session.execute(
                    select(ProgressSnapshot).where(
                        col(ProgressSnapshot.node_type) == "initiative",
                        col(ProgressSnapshot.node_id) == b,
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(b_points) == 1 and b_points[0].done_count == 0  # same value: same point

    mark = await _last_id(db)
    async with db.session() as session:
        await tombstone_work_items(session, source, ["ext-2"], cause="sync:sweep")
    assert {m[1:] for m in await _moves(db, mark)} >= {("initiative", a, "sync:sweep")}
    mark = await _last_id(db)
    async with db.session() as session:
        await reconcile_live_ids(
            session, source, {"ext-1", "ext-2", "ext-3"}, cause="sync:reconcile"
        )
    assert ("initiative", a, "sync:reconcile") in {m[1:] for m in await _moves(db, mark)}

    # Dates: a falls behind at once (health only), with the reason.
    mark = await _last_id(db)
    await client.patch(
        f"/api/v1/initiatives/{a}",
        json={"start_date": "2026-03-01", "target_date": "2026-03-05"},
        headers=editor_headers,
    )
    moves = await _moves(db, mark)
    assert ("health.changed", "initiative", a, cause) in moves
    async with db.session() as session:
        health = (
            (await session.execute(select(Change).where(col(Change.type) == "health.changed")))
            .scalars()
            .all()[-1]
        )
    assert (health.before, health.after["health"]) == ({"health": None}, "off_track")
    assert health.after["reason"] == "target date 2026-03-05 has passed at 50% progress"

    mark = await _last_id(db)
    await client.put(
        f"/api/v1/initiatives/{a}/work-items/{keys['PROJ-2']}",
        json={"exclude": True},
        headers=editor_headers,
    )
    assert ("progress.changed", "initiative", a, cause) in await _moves(db, mark)

    # Objective structure: moving the objective under a parent moves the parent.
    parent = await objective(client, editor_headers, title="Company")
    mark = await _last_id(db)
    await client.patch(
        f"/api/v1/objectives/{goal}", json={"parent_id": parent}, headers=editor_headers
    )
    assert ("progress.changed", "objective", parent, cause) in await _moves(db, mark)
