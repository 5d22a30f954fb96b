"""Generic create/update/delete for portfolio entities, each recorded on the change feed."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from schemas.types import utcnow
from service.errors import NotFound
from service.store.changes import append_change, diff

M = TypeVar("M", bound=SQLModel)

_SKIP = {"created_at", "updated_at"}


def snapshot(obj: SQLModel) -> dict[str, Any]:
    return {k: v for k, v in obj.model_dump().items() if k not in _SKIP}


async def get_or_404(session: AsyncSession, model: type[M], entity_id: int, label: str) -> M:
    obj = await session.get(model, entity_id)
    if obj is None:
        raise NotFound(f"{label} {entity_id} does not exist")
    return obj


async def create(
    session: AsyncSession, obj: M, *, entity: str, cause: str, extra: dict[str, Any] | None = None
) -> M:
    session.add(obj)
    await session.flush()
    after = snapshot(obj) | (extra or {})
    await append_change(session, f"{entity}.created", entity, _id(obj), cause=cause, after=after)
    return obj


async def update(
    session: AsyncSession,
    obj: M,
    changes: dict[str, Any],
    *,
    entity: str,
    cause: str,
    before_extra: dict[str, Any] | None = None,
    after_extra: dict[str, Any] | None = None,
) -> M:
    """Apply a partial update; append `<entity>.updated` only if something really changed."""
    before = snapshot(obj) | (before_extra or {})
    for field, value in changes.items():
        setattr(obj, field, value)
    after = snapshot(obj) | (after_extra or {})
    old, new = diff(before, after)
    if new:
        obj.updated_at = utcnow()
        session.add(obj)
        await session.flush()
        await append_change(
            session, f"{entity}.updated", entity, _id(obj), cause=cause, before=old, after=new
        )
    return obj


async def delete(session: AsyncSession, obj: SQLModel, *, entity: str, cause: str) -> None:
    before = snapshot(obj)
    entity_id = _id(obj)
    await session.delete(obj)
    await session.flush()
    await append_change(session, f"{entity}.deleted", entity, entity_id, cause=cause, before=before)


def _id(obj: SQLModel) -> int:
    value = getattr(obj, "id", None)
    assert isinstance(value, int)
    return value
