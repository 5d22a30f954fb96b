"""Builders for feed tests: portfolio nodes, links and raw feed rows."""

from __future__ import annotations

from schemas.tables import Initiative, InitiativeKeyResult, KeyResult, Objective, WorkItemLink
from service.store.changes import append_change
from service.store.db import Database


async def portfolio(db: Database) -> dict[str, int]:
    """objective O ← key result K ← initiative I; a second, unrelated initiative J."""
    async with db.session() as session:
        objective = Objective(title="Grow")
        session.add(objective)
        await session.flush()
        assert objective.id is not None
        kr = KeyResult(objective_id=objective.id, title="Revenue")
        initiative, other = Initiative(title="Checkout"), Initiative(title="Unrelated")
        session.add_all([kr, initiative, other])
        await session.flush()
        assert kr.id and initiative.id and other.id
        session.add(InitiativeKeyResult(initiative_id=initiative.id, key_result_id=kr.id))
        return {
            "objective": objective.id,
            "kr": kr.id,
            "initiative": initiative.id,
            "other": other.id,
        }


async def link(db: Database, work_item_id: int, target_type: str, target_id: int) -> None:
    async with db.session() as session:
        session.add(
            WorkItemLink(
                work_item_id=work_item_id,
                target_type=target_type,
                target_id=target_id,
                provenance="manual:test",
                manual=True,
            )
        )


async def change(db: Database, type_: str, entity_type: str, entity_id: int, **kw: object) -> None:
    async with db.session() as session:
        await append_change(session, type_, entity_type, entity_id, cause="api:test", **kw)  # type: ignore[arg-type]
