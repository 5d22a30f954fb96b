"""Reading the change feed: by id (the cursor), by event type, by portfolio node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import Change, InitiativeKeyResult, KeyResult, WorkItemLink

CHANGE = Change.__table__  # type: ignore[attr-defined]
# A list of ids or a subquery selecting them.
Ids = Select[Any] | list[int]


@dataclass(frozen=True)
class FeedFilter:
    """`types` entries are exact (`work_item.updated`) or a family (`work_item.*`); empty: all."""

    types: tuple[str, ...] = ()
    initiative_id: int | None = None
    objective_id: int | None = None
    extra: tuple[ColumnElement[bool], ...] = field(default=())


def type_condition(types: Sequence[str]) -> ColumnElement[bool]:
    if not types or "*" in types:
        return true()
    exact = [t for t in types if not t.endswith(".*")]
    families = [t[:-1] for t in types if t.endswith(".*")]
    conditions: list[ColumnElement[bool]] = []
    if exact:
        conditions.append(col(Change.type).in_(exact))
    conditions.extend(col(Change.type).startswith(prefix, autoescape=True) for prefix in families)
    return or_(*conditions)


def type_matches(types: Sequence[str], event_type: str) -> bool:
    if not types or "*" in types:
        return True
    return any(
        event_type == t or (t.endswith(".*") and event_type.startswith(t[:-1])) for t in types
    )


def _linked(target_type: str, target_ids: Ids) -> Select[Any]:
    link = WorkItemLink
    return select(col(link.work_item_id)).where(
        col(link.target_type) == target_type,
        col(link.target_id).in_(target_ids),
        col(link.excluded).is_(False),
    )


def _link_changes(target_type: str, ids: Ids) -> ColumnElement[bool]:
    """`link.added|removed` rows name the work item; the target is in their before/after.

    Matching on the row itself (not the link table) keeps a removal visible after the link is gone.
    """
    sides = [
        and_(
            side["target_type"].as_string() == target_type,
            side["target_id"].as_integer().in_(ids),
        )
        for side in (CHANGE.c.after, CHANGE.c.before)
    ]
    return and_(col(Change.type).startswith("link."), or_(*sides))


def _entity(entity_type: str, ids: Ids) -> ColumnElement[bool]:
    return and_(col(Change.entity_type) == entity_type, col(Change.entity_id).in_(ids))


def initiative_condition(initiative_id: int) -> ColumnElement[bool]:
    """The initiative itself, the work linked to it, and its link changes."""
    ids = [initiative_id]
    return or_(
        _entity("initiative", ids),
        _entity("work_item", _linked("initiative", ids)),
        _link_changes("initiative", ids),
    )


def key_result_condition(key_result_id: int) -> ColumnElement[bool]:
    """The key result itself, the work linked to it directly, and its link changes."""
    ids = [key_result_id]
    return or_(
        _entity("key_result", ids),
        _entity("work_item", _linked("key_result", ids)),
        _link_changes("key_result", ids),
    )


def objective_condition(objective_id: int) -> ColumnElement[bool]:
    """The objective, its key results, their initiatives, and the work linked to either."""
    krs = select(col(KeyResult.id)).where(col(KeyResult.objective_id) == objective_id)
    initiatives = select(col(InitiativeKeyResult.initiative_id)).where(
        col(InitiativeKeyResult.key_result_id).in_(krs)
    )
    return or_(
        _entity("objective", [objective_id]),
        _entity("key_result", krs),
        _entity("initiative", initiatives),
        _entity("work_item", _linked("key_result", krs)),
        _entity("work_item", _linked("initiative", initiatives)),
        _link_changes("key_result", krs),
        _link_changes("initiative", initiatives),
    )


def feed_condition(flt: FeedFilter) -> ColumnElement[bool]:
    conditions = [type_condition(flt.types), *flt.extra]
    if flt.initiative_id is not None:
        conditions.append(initiative_condition(flt.initiative_id))
    if flt.objective_id is not None:
        conditions.append(objective_condition(flt.objective_id))
    return and_(*conditions)


async def list_changes(
    session: AsyncSession, *, after: int, limit: int, flt: FeedFilter | None = None
) -> Sequence[Change]:
    stmt = (
        select(Change)
        .where(col(Change.id) > after, feed_condition(flt or FeedFilter()))
        .order_by(col(Change.id))
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def latest_changes(
    session: AsyncSession, condition: ColumnElement[bool], *, limit: int
) -> Sequence[Change]:
    """The newest entries matching `condition`, newest first (a page's "recent changes")."""
    stmt = select(Change).where(condition).order_by(col(Change.id).desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def changes_between(
    session: AsyncSession, since: datetime, until: datetime, flt: FeedFilter | None = None
) -> Sequence[Change]:
    stmt = (
        select(Change)
        .where(
            col(Change.created_at) >= since,
            col(Change.created_at) <= until,
            feed_condition(flt or FeedFilter()),
        )
        .order_by(col(Change.id))
    )
    return (await session.execute(stmt)).scalars().all()


async def head_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(col(Change.id)))) or 0)


async def feed_length(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Change)) or 0)
