"""Objectives: nestable (company → team), each owning key results."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.portfolio import ObjectiveCreate, ObjectiveUpdate
from schemas.tables import KeyResult, Objective
from service.errors import Conflict, Unprocessable
from service.portfolio import touches
from service.portfolio.validation import reject_nulls
from service.store import repository
from service.store.pagination import paginate

ENTITY = "objective"


async def get(session: AsyncSession, objective_id: int) -> Objective:
    return await repository.get_or_404(session, Objective, objective_id, "objective")


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None, parent_id: int | None = None
) -> tuple[Sequence[Objective], str | None]:
    stmt = select(Objective)
    if parent_id is not None:
        stmt = stmt.where(col(Objective.parent_id) == parent_id)
    return await paginate(session, stmt, Objective.id, limit=limit, cursor=cursor)


async def _check_parent(session: AsyncSession, objective_id: int | None, parent_id: int) -> None:
    seen = {objective_id}
    current: int | None = parent_id
    while current is not None:
        if current in seen:
            raise Unprocessable(
                "parent_id would make the objective its own ancestor",
                errors=[{"loc": ["body", "parent_id"], "msg": "cycle", "type": "value_error"}],
            )
        seen.add(current)
        parent = await session.get(Objective, current)
        if parent is None:
            raise Unprocessable(
                f"parent objective {current} does not exist",
                errors=[{"loc": ["body", "parent_id"], "msg": "not found", "type": "value_error"}],
            )
        current = parent.parent_id


async def create(session: AsyncSession, data: ObjectiveCreate, *, cause: str) -> Objective:
    if data.parent_id is not None:
        await _check_parent(session, None, data.parent_id)
    objective = await repository.create(
        session, Objective(**data.model_dump()), entity=ENTITY, cause=cause
    )
    touches.nodes(session, "objective", [objective.id], cause)
    return objective


async def update(
    session: AsyncSession, objective_id: int, data: ObjectiveUpdate, *, cause: str
) -> Objective:
    objective = await get(session, objective_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("parent_id") is not None:
        await _check_parent(session, objective_id, changes["parent_id"])
    reject_nulls(changes, ("title",))
    if "weight" in changes and changes["weight"] is None:
        changes.pop("weight")
    old_parent = objective.parent_id
    updated = await repository.update(session, objective, changes, entity=ENTITY, cause=cause)
    touches.nodes(session, "objective", [objective_id, old_parent], cause)
    return updated


async def delete(session: AsyncSession, objective_id: int, *, cause: str) -> None:
    objective = await get(session, objective_id)
    has_children = await session.scalar(
        select(exists().where(col(Objective.parent_id) == objective_id))
    )
    has_key_results = await session.scalar(
        select(exists().where(col(KeyResult.objective_id) == objective_id))
    )
    if has_children or has_key_results:
        raise Conflict(
            f"objective {objective_id} still has child objectives or key results; "
            "delete or move them first"
        )
    touches.nodes(session, "objective", [objective.parent_id], cause)
    await repository.delete(session, objective, entity=ENTITY, cause=cause)
