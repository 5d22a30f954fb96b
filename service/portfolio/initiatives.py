"""Initiatives: the bets that move key results, and the unit work is linked to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.portfolio import InitiativeCreate, InitiativePublic, InitiativeUpdate
from schemas.tables import Initiative, InitiativeKeyResult, KeyResult
from service.errors import Unprocessable
from service.portfolio import touches
from service.portfolio.validation import check_dates, reject_nulls
from service.rules import targets
from service.store import repository
from service.store.pagination import paginate
from service.writeback import outbox

ENTITY = "initiative"
_NOT_NULL = ("title", "status")


async def get(session: AsyncSession, initiative_id: int) -> Initiative:
    return await repository.get_or_404(session, Initiative, initiative_id, "initiative")


async def key_result_ids(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {i: [] for i in initiative_ids}
    if not initiative_ids:
        return result
    rows = await session.execute(
        select(col(InitiativeKeyResult.initiative_id), col(InitiativeKeyResult.key_result_id))
        .where(col(InitiativeKeyResult.initiative_id).in_(initiative_ids))
        .order_by(col(InitiativeKeyResult.key_result_id))
    )
    for initiative_id, key_result_id in rows:
        result[initiative_id].append(key_result_id)
    return result


async def to_public(
    session: AsyncSession, initiatives: Sequence[Initiative]
) -> list[InitiativePublic]:
    links = await key_result_ids(session, [i.id for i in initiatives if i.id is not None])
    return [
        InitiativePublic.model_validate(
            i.model_dump() | {"key_result_ids": links.get(i.id or 0, [])}
        )
        for i in initiatives
    ]


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None, key_result_id: int | None = None
) -> tuple[Sequence[Initiative], str | None]:
    stmt = select(Initiative)
    if key_result_id is not None:
        stmt = stmt.join(
            InitiativeKeyResult, col(InitiativeKeyResult.initiative_id) == col(Initiative.id)
        ).where(col(InitiativeKeyResult.key_result_id) == key_result_id)
    return await paginate(session, stmt, Initiative.id, limit=limit, cursor=cursor)


async def _check_key_results(session: AsyncSession, ids: list[int]) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return wanted
    found = set(
        (
            await session.execute(select(col(KeyResult.id)).where(col(KeyResult.id).in_(wanted)))
        ).scalars()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Unprocessable(
            f"key results do not exist: {missing}",
            errors=[{"loc": ["body", "key_result_ids"], "msg": "not found", "type": "value_error"}],
        )
    return wanted


async def _set_key_results(session: AsyncSession, initiative_id: int, ids: list[int]) -> None:
    await session.execute(
        sql_delete(InitiativeKeyResult).where(
            col(InitiativeKeyResult.initiative_id) == initiative_id
        )
    )
    if ids:
        await session.execute(
            insert(InitiativeKeyResult),
            [{"initiative_id": initiative_id, "key_result_id": k} for k in ids],
        )


async def create(session: AsyncSession, data: InitiativeCreate, *, cause: str) -> Initiative:
    ids = await _check_key_results(session, data.key_result_ids)
    initiative = Initiative(**data.model_dump(exclude={"key_result_ids"}))
    session.add(initiative)
    await session.flush()
    assert initiative.id is not None
    await _set_key_results(session, initiative.id, ids)
    await repository.create(
        session, initiative, entity=ENTITY, cause=cause, extra={"key_result_ids": ids}
    )
    touches.nodes(session, "initiative", [initiative.id], cause)
    return initiative


async def update(
    session: AsyncSession, initiative_id: int, data: InitiativeUpdate, *, cause: str
) -> Initiative:
    initiative = await get(session, initiative_id)
    changes = data.model_dump(exclude_unset=True)
    reject_nulls(changes, _NOT_NULL)
    check_dates(
        changes.get("start_date", initiative.start_date),
        changes.get("target_date", initiative.target_date),
    )
    old_ids = (await key_result_ids(session, [initiative_id]))[initiative_id]
    new_ids = old_ids
    if "key_result_ids" in changes:
        new_ids = await _check_key_results(session, changes.pop("key_result_ids") or [])
        if new_ids != old_ids:
            await _set_key_results(session, initiative_id, new_ids)
    touches.nodes(session, "initiative", [initiative_id], cause)
    touches.nodes(session, "key_result", set(old_ids) | set(new_ids), cause)
    if changes.get("title", initiative.title) != initiative.title:
        await outbox.target_renamed_or_deleted(session, "initiative", initiative_id)
    return await repository.update(
        session,
        initiative,
        changes,
        entity=ENTITY,
        cause=cause,
        before_extra={"key_result_ids": old_ids},
        after_extra={"key_result_ids": new_ids},
    )


async def delete(session: AsyncSession, initiative_id: int, *, cause: str) -> None:
    initiative = await get(session, initiative_id)
    key_results = (await key_result_ids(session, [initiative_id]))[initiative_id]
    touches.nodes(session, "key_result", key_results, cause)
    await targets.forget(session, "initiative", [initiative_id])
    await outbox.target_renamed_or_deleted(session, "initiative", initiative_id)
    await repository.delete(session, initiative, entity=ENTITY, cause=cause)
