"""What a node page shows: the explained rollup, burn-up, linked items and recent changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.history import HistorySeries
from schemas.api.rollups import Rollup
from schemas.tables import Change, WorkItem
from service.feed import queries as feed
from service.portfolio import history
from service.store import work_item_queries
from service.store.work_item_queries import WorkItemFilters
from service.web import reader_queries
from service.web.charts import BurnUpPoint, burn_up_svg
from service.web.reader_queries import Provenance

NodeType = Literal["initiative", "key_result", "objective"]
ITEMS_PER_PAGE = 50
RECENT_CHANGES = 20
# A chart of at most ~120 points: daily up to four months, weekly beyond.
DAILY_UP_TO_DAYS = 120
DEFAULT_WINDOW_DAYS = 90


@dataclass
class Chart:
    svg: Any
    measure: str
    points: list[BurnUpPoint]
    start: date
    end: date
    step: str


@dataclass
class LinkedItems:
    rows: list[tuple[WorkItem, Provenance | None]]
    next_cursor: str | None
    excluded: list[tuple[WorkItem, Any]] = field(default_factory=list)


def chart_window(start_date: date | None, today: date) -> tuple[date, date, Literal["day", "week"]]:
    start = start_date if start_date is not None and start_date < today else None
    start = start or today - timedelta(days=DEFAULT_WINDOW_DAYS)
    return start, today, "day" if (today - start).days <= DAILY_UP_TO_DAYS else "week"


def burn_up_points(series: HistorySeries, measure: str) -> list[BurnUpPoint]:
    """The series as chart points, from its first recorded value on."""
    recorded = [p for p in series.points if p.recorded_at is not None]
    if not recorded:
        return []
    first = series.points.index(recorded[0])
    points = series.points[first:]
    if measure == "points":
        return [BurnUpPoint(p.at, p.total_points, p.done_points) for p in points]
    return [BurnUpPoint(p.at, p.total_count, p.done_count) for p in points]


async def chart(
    session: AsyncSession,
    node_type: NodeType,
    node: Rollup,
    *,
    today: date,
    measure: str,
) -> Chart:
    start, end, step = chart_window(node.start_date, today)
    label = "Points" if measure == "points" else "Items"
    series = await history.series(session, node_type, node.node_id, start=start, end=end, step=step)
    points = burn_up_points(series, measure)
    svg = burn_up_svg(
        points,
        measure=label,
        title=f"Burn-up of {node.title}: scope and done {label.lower()} over time",
        target_date=node.target_date,
    )
    # The caption names the range drawn: from the first recorded point on.
    shown_from = points[0].at if points else start
    return Chart(svg=svg, measure=label, points=points, start=shown_from, end=end, step=step)


async def linked_items(
    session: AsyncSession,
    node_type: Literal["initiative", "key_result"],
    node_id: int,
    cursor: str | None,
) -> LinkedItems:
    """The items counted for the node (directly or inherited), with how each is linked."""
    filters = (
        WorkItemFilters(initiative_id=node_id)
        if node_type == "initiative"
        else WorkItemFilters(key_result_id=node_id)
    )
    rows, next_cursor = await work_item_queries.list_page(
        session, filters, limit=ITEMS_PER_PAGE, cursor=cursor
    )
    ids = [r.id for r in rows if r.id is not None]
    provenance = await reader_queries.provenance_of(session, node_type, node_id, ids)
    excluded = await reader_queries.exclusions(session, node_type, node_id)
    return LinkedItems(
        rows=[(r, provenance.get(r.id or 0)) for r in rows],
        next_cursor=next_cursor,
        excluded=list(excluded),
    )


async def recent_changes(session: AsyncSession, node_type: NodeType, node_id: int) -> list[Change]:
    condition = {
        "initiative": feed.initiative_condition,
        "key_result": feed.key_result_condition,
        "objective": feed.objective_condition,
    }[node_type](node_id)
    return list(await feed.latest_changes(session, condition, limit=RECENT_CHANGES))


def describe_change(change: Change) -> str:
    """One line for a feed entry: what happened, to what, and which fields."""
    what = change.type.replace(".", " ").replace("_", " ")
    after, before = change.after or {}, change.before or {}
    if change.type.startswith("link.") and (after or before):
        side = after or before
        target = f"{side.get('target_type', '')} {side.get('target_id', '')}".replace("_", " ")
        return f"{what}: work item {change.entity_id} ↔ {target} ({side.get('provenance', '')})"
    fields = sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))
    subject = f"{change.entity_type.replace('_', ' ')} {change.entity_id}"
    shown = ", ".join(fields[:6]) + (" …" if len(fields) > 6 else "")
    return f"{what}: {subject}" + (f" ({shown})" if shown and change.before else "")
