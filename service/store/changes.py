"""The change feed: appended in the same transaction as the change it describes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.tables import Change
from schemas.types import utcnow


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compact before/after of the fields that differ."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return (
        {k: _jsonable(before.get(k)) for k in keys},
        {k: _jsonable(after.get(k)) for k in keys},
    )


def change_row(
    type_: str,
    entity_type: str,
    entity_id: int,
    *,
    cause: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "before": {k: _jsonable(v) for k, v in before.items()} if before is not None else None,
        "after": {k: _jsonable(v) for k, v in after.items()} if after is not None else None,
        "cause": cause,
        "created_at": utcnow(),
    }


async def append_changes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Change), rows)


async def append_change(
    session: AsyncSession,
    type_: str,
    entity_type: str,
    entity_id: int,
    *,
    cause: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await append_changes(
        session,
        [change_row(type_, entity_type, entity_id, cause=cause, before=before, after=after)],
    )
