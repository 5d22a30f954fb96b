"""Allocation: open work per initiative per group, with unplanned work made visible.

Open means `todo` or `in_progress` and not deleted. An item counts for every initiative it
belongs to (directly or inherited, as in rollups); work belonging to none is `unplanned`.
Labels and components are JSON arrays: an item with two labels counts in both label groups,
while the per-initiative and grand totals count each item once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from schemas.api.rollups import Allocation, AllocationRow, AllocationTotal
from schemas.enums import LinkTarget, StatusCategory
from schemas.tables import Initiative
from service.portfolio.rollups import WORK
from service.rules import membership

GroupBy = Literal["assignee", "label", "component", "source"]
UNPLANNED = "unplanned"
NO_GROUP = "(none)"
_OPEN = (StatusCategory.todo.value, StatusCategory.in_progress.value)


def _open() -> ColumnElement[bool]:
    return WORK.c.status_category.in_(_OPEN) & WORK.c.deleted_at.is_(None)


def _grouped(stmt: Any, group_by: GroupBy, dialect: str) -> tuple[Any, ColumnElement[Any]]:
    """Add the group column to a statement over WORK; arrays are unnested per element."""
    if group_by == "assignee":
        return stmt, func.coalesce(WORK.c.assignee, NO_GROUP)
    if group_by == "source":
        return stmt, cast(WORK.c.source_id, String)
    column = WORK.c.labels if group_by == "label" else WORK.c.components
    if dialect == "postgresql":
        elements = func.jsonb_array_elements_text(column).table_valued("value").alias("element")
    else:
        elements = func.json_each(column).table_valued("value").alias("element")
    return stmt.join(elements, true()), elements.c.value


def _empty_arrays(group_by: GroupBy, dialect: str) -> ColumnElement[bool] | None:
    if group_by not in ("label", "component"):
        return None
    column = WORK.c.labels if group_by == "label" else WORK.c.components
    length = func.jsonb_array_length if dialect == "postgresql" else func.json_array_length
    return func.coalesce(length(column), 0) == 0


async def _rows(session: AsyncSession, stmt: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await session.execute(stmt)]


async def allocation(session: AsyncSession, group_by: GroupBy, *, now: datetime) -> Allocation:
    dialect = session.get_bind().dialect.name
    kind = LinkTarget.initiative.value
    members = membership.members(kind).subquery("members")
    points = func.coalesce(func.sum(WORK.c.estimate), 0.0)
    planned_ids = select(members.c.item_id)
    titles = {
        i: t
        for i, t in await session.execute(select(Initiative.id, Initiative.title))  # type: ignore[call-overload]
    }
    empty = _empty_arrays(group_by, dialect)

    # Per initiative and group.
    base = select().select_from(members).join(WORK, WORK.c.id == members.c.item_id).where(_open())
    stmt, group = _grouped(base, group_by, dialect)
    found = await _rows(
        session,
        stmt.add_columns(members.c.target_id, group, func.count(), points).group_by(
            members.c.target_id, group
        ),
    )
    if empty is not None:
        found += await _rows(
            session,
            select(members.c.target_id, func.count(), points)
            .join(WORK, WORK.c.id == members.c.item_id)
            .where(_open(), empty)
            .group_by(members.c.target_id),
        )
    rows = [
        AllocationRow(
            initiative_id=r[0],
            initiative_title=titles.get(r[0], ""),
            group=str(r[1]) if len(r) == 4 else NO_GROUP,
            open_items=r[-2],
            open_points=float(r[-1]),
        )
        for r in found
    ]
    # Unplanned work, per group.
    loose = select().select_from(WORK).where(_open(), WORK.c.id.not_in(planned_ids))
    stmt, group = _grouped(loose, group_by, dialect)
    unplanned = await _rows(session, stmt.add_columns(group, func.count(), points).group_by(group))
    if empty is not None:
        unplanned += [
            (NO_GROUP, *r)
            for r in await _rows(session, loose.where(empty).add_columns(func.count(), points))
            if r[0]
        ]
    rows += [
        AllocationRow(
            initiative_id=None,
            initiative_title=UNPLANNED,
            group=str(g),
            open_items=n,
            open_points=float(p),
        )
        for g, n, p in unplanned
    ]
    rows.sort(key=lambda r: (r.initiative_id is None, r.initiative_id or 0, r.group))

    by_initiative = [
        AllocationTotal(key=str(t), open_items=n, open_points=float(p))
        for t, n, p in await session.execute(
            select(members.c.target_id, func.count(), points)
            .join(WORK, WORK.c.id == members.c.item_id)
            .where(_open())
            .group_by(members.c.target_id)
            .order_by(members.c.target_id)
        )
    ]
    loose_total = (
        await session.execute(
            select(func.count(), points).where(_open(), WORK.c.id.not_in(planned_ids))
        )
    ).one()
    if loose_total[0]:
        by_initiative.append(
            AllocationTotal(key=UNPLANNED, open_items=loose_total[0], open_points=loose_total[1])
        )
    stmt, group = _grouped(select().select_from(WORK).where(_open()), group_by, dialect)
    by_group = [
        AllocationTotal(key=str(g), open_items=n, open_points=float(p))
        for g, n, p in await session.execute(
            stmt.add_columns(group, func.count(), points).group_by(group).order_by(group)
        )
    ]
    if empty is not None:
        n, p = (await session.execute(select(func.count(), points).where(_open(), empty))).one()
        if n:
            by_group.append(AllocationTotal(key=NO_GROUP, open_items=n, open_points=float(p)))
    n, p = (await session.execute(select(func.count(), points).where(_open()))).one()
    return Allocation(
        group_by=group_by,
        as_of=now,
        rows=rows,
        by_initiative=by_initiative,
        by_group=by_group,
        total=AllocationTotal(key="total", open_items=n, open_points=float(p)),
    )
