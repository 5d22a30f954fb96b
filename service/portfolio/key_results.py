"""Key results: a metric (start → target) or progress derived from linked work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.portfolio import KeyResultCreate, KeyResultUpdate
from schemas.tables import KeyResult, Objective
from service.errors import Unprocessable
from service.portfolio import touches
from service.portfolio.validation import check_dates, reject_nulls
from service.rules import targets
from service.store import repository
from service.store.pagination import paginate
from service.writeback import outbox

ENTITY = "key_result"
_NOT_NULL = ("objective_id", "title", "start", "target", "current", "progress_source", "weight")


async def get(session: AsyncSession, key_result_id: int) -> KeyResult:
    return await repository.get_or_404(session, KeyResult, key_result_id, "key result")


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None, objective_id: int | None = None
) -> tuple[Sequence[KeyResult], str | None]:
    stmt = select(KeyResult)
    if objective_id is not None:
        stmt = stmt.where(col(KeyResult.objective_id) == objective_id)
    return await paginate(session, stmt, KeyResult.id, limit=limit, cursor=cursor)


async def _check_objective(session: AsyncSession, objective_id: int) -> None:
    if await session.get(Objective, objective_id) is None:
        raise Unprocessable(
            f"objective {objective_id} does not exist",
            errors=[{"loc": ["body", "objective_id"], "msg": "not found", "type": "value_error"}],
        )


async def create(session: AsyncSession, data: KeyResultCreate, *, cause: str) -> KeyResult:
    await _check_objective(session, data.objective_id)
    key_result = await repository.create(
        session, KeyResult(**data.model_dump()), entity=ENTITY, cause=cause
    )
    touches.nodes(session, "key_result", [key_result.id], cause)
    return key_result


async def update(
    session: AsyncSession, key_result_id: int, data: KeyResultUpdate, *, cause: str
) -> KeyResult:
    key_result = await get(session, key_result_id)
    changes = data.model_dump(exclude_unset=True)
    reject_nulls(changes, _NOT_NULL)
    if "objective_id" in changes:
        await _check_objective(session, changes["objective_id"])
    check_dates(
        changes.get("start_date", key_result.start_date),
        changes.get("target_date", key_result.target_date),
    )
    old_objective = key_result.objective_id
    if changes.get("title", key_result.title) != key_result.title:
        await outbox.target_renamed_or_deleted(session, "key_result", key_result_id)
    updated = await repository.update(session, key_result, changes, entity=ENTITY, cause=cause)
    touches.nodes(session, "key_result", [key_result_id], cause)
    touches.nodes(session, "objective", [old_objective], cause)  # it may have lost this part
    return updated


async def delete(session: AsyncSession, key_result_id: int, *, cause: str) -> None:
    key_result = await get(session, key_result_id)
    touches.nodes(session, "objective", [key_result.objective_id], cause)
    await targets.forget(session, "key_result", [key_result_id])
    await outbox.target_renamed_or_deleted(session, "key_result", key_result_id)
    await repository.delete(session, key_result, entity=ENTITY, cause=cause)
