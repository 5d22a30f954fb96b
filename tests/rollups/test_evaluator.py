"""Time-driven health: the scheduled pass notices what time alone changed, one replica at a time."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change
from service.portfolio import evaluator
from service.portfolio.progress import CONFIG, RollupConfig
from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

START = datetime(2026, 3, 2, 12, tzinfo=UTC)


def pin(db, when: datetime) -> None:
    db.session_info[CONFIG] = RollupConfig(clock=lambda: when)


async def _health_changes(db) -> list[tuple[str, int, str | None, str | None, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Change).where(col(Change.type) == "health.changed").order_by(col(Change.id))
        )
        return [
            (c.entity_type, c.entity_id, c.before["health"], c.after["health"], c.cause)
            for c in rows.scalars()
        ]


async def test_a_node_falls_behind_with_time_alone(db, client, editor_headers) -> None:
    pin(db, START)
    source = await make_source(db)
    keys = await upsert(db, source, item(1))
    target = await initiative(
        client, editor_headers, start_date="2026-03-02", target_date="2026-03-22"
    )
    await client.put(
        f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-1']}", headers=editor_headers
    )
    assert await _health_changes(db) == []  # on_track from its first point

    pin(db, START + timedelta(days=4))  # 20 % of the time gone, nothing done
    assert await evaluator.run_once(db, "replica-a", every_seconds=3600) == [("initiative", target)]
    assert await _health_changes(db) == [("initiative", target, "on_track", "at_risk", "schedule")]
    async with db.session() as session:
        change = (
            await session.execute(select(Change).where(col(Change.type) == "health.changed"))
        ).scalar_one()
    assert "progress 0% against 20% of the time elapsed" in change.after["reason"]

    # Nothing moved since: a second pass appends nothing; another replica is kept out while
    # the holder's lease runs (until its next pass is due).
    assert await evaluator.run_once(db, "replica-a", every_seconds=3600) == []
    pin(db, START + timedelta(days=4, minutes=10))
    assert await evaluator.run_once(db, "replica-b", every_seconds=3600) == []
    # Once the holder stops renewing (its lease lapsed), another replica takes over.
    pin(db, START + timedelta(days=8))
    assert await evaluator.run_once(db, "replica-b", every_seconds=3600) == [("initiative", target)]
    assert (await _health_changes(db))[-1][2:] == ("at_risk", "off_track", "schedule")


def test_next_pass_is_hourly_or_just_after_midnight() -> None:
    noon = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert evaluator.next_due(noon, 3600) == noon + timedelta(hours=1)
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert evaluator.next_due(late, 3600) == datetime(2026, 3, 3, 0, 0, 5, tzinfo=UTC)
