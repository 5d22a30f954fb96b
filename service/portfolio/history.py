"""A node's history as a gap-free series (a burn-up), and an initiative's completion forecast."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.history import Forecast, HistoryPoint, HistorySeries, Step
from schemas.enums import LinkTarget, StatusCategory
from schemas.tables import Initiative, KeyResult, Objective, ProgressSnapshot, WorkItem
from service.errors import NotFound, Unprocessable
from service.portfolio import snapshots
from service.rules.membership import LINK, members

WORK: Table = WorkItem.__table__  # type: ignore[attr-defined]
SNAPSHOT: Table = ProgressSnapshot.__table__  # type: ignore[attr-defined]
MAX_POINTS = 1000
_MODELS: dict[str, Any] = {
    "initiative": Initiative,
    "key_result": KeyResult,
    "objective": Objective,
}
TRIALS = 2000
MAX_WEEKS = 520
MIN_HISTORY_WEEKS = 3


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, UTC)


async def series(
    session: AsyncSession,
    node_type: str,
    node_id: int,
    *,
    start: date,
    end: date,
    step: Step = "day",
) -> HistorySeries:
    """One point per day (or week) from `start` to `end`: the value in force at its end."""
    label = node_type.replace("_", " ")
    if await session.get(_MODELS[node_type], node_id) is None:
        raise NotFound(f"{label} {node_id} does not exist")
    if end < start:
        raise Unprocessable(f"`to` ({end}) lies before `from` ({start})")
    stride = 7 if step == "week" else 1
    days = [start + timedelta(days=n) for n in range(0, (end - start).days + 1, stride)]
    if days[-1] != end:
        days.append(end)  # the last point is always `to`
    if len(days) > MAX_POINTS:
        raise Unprocessable(
            f"{len(days)} points asked for; at most {MAX_POINTS} (use step=week or a shorter range)"
        )
    before, rows = await snapshots.between(
        session, node_type, node_id, _end_of(start - timedelta(days=1)), _end_of(end)
    )
    current = before
    pending = list(rows)
    points = []
    for day in days:
        while pending and pending[0].recorded_at <= _end_of(day):
            current = pending.pop(0)
        points.append(_point(day, current))
    return HistorySeries(
        node_type=node_type,
        node_id=node_id,
        start=start,
        end=end,
        step=step,
        points=points,
    )


def _point(day: date, row: ProgressSnapshot | None) -> HistoryPoint:
    if row is None:
        return HistoryPoint(
            at=day,
            recorded_at=None,
            progress=None,
            health=None,
            done_count=0,
            total_count=0,
            done_points=0.0,
            total_points=0.0,
        )
    return HistoryPoint(
        at=day,
        recorded_at=row.recorded_at,
        progress=row.progress,
        health=row.health,
        done_count=row.done_count,
        total_count=row.total_count,
        done_points=row.done_points,
        total_points=row.total_points,
    )


async def forecast(
    session: AsyncSession,
    initiative_id: int,
    *,
    today: date,
    weeks: int,
    target_date: date | None,
) -> Forecast:
    """Projected completion from the initiative's own weekly throughput (Monte Carlo, seeded)."""
    member = members(LinkTarget.initiative.value).where(LINK.c.target_id == initiative_id)
    ids = member.subquery().c.item_id
    live = WORK.c.deleted_at.is_(None)
    done = WORK.c.status_category == StatusCategory.done.value
    open_ = and_(live, ~done, WORK.c.status_category != StatusCategory.cancelled.value)
    window_start = today - timedelta(days=7 * weeks)
    row = (
        await session.execute(
            select(
                func.count().filter(open_),
                func.min(WORK.c.upstream_created_at),
            ).where(WORK.c.id.in_(select(ids)))
        )
    ).one()
    remaining, first_item = int(row[0] or 0), row[1]
    finished = await session.execute(
        select(func.coalesce(WORK.c.resolved_at, WORK.c.upstream_updated_at)).where(
            WORK.c.id.in_(select(ids)),
            live,
            done,
            func.coalesce(WORK.c.resolved_at, WORK.c.upstream_updated_at)
            >= datetime.combine(window_start, time.min, UTC),
        )
    )
    first_point = await session.scalar(
        select(func.min(SNAPSHOT.c.recorded_at)).where(
            SNAPSHOT.c.node_type == "initiative", SNAPSHOT.c.node_id == initiative_id
        )
    )
    known = [d.date() for d in (first_item, first_point) if d is not None]
    history_weeks = min(weeks, (today - min(known)).days // 7) if known else 0
    samples = [0] * max(history_weeks, 0)
    for (at,) in finished:
        age = (today - at.date()).days // 7
        if 0 <= age < history_weeks:
            samples[history_weeks - 1 - age] += 1
    return project(
        initiative_id,
        samples=samples,
        remaining=remaining,
        today=today,
        weeks=weeks,
        target_date=target_date,
    )


def project(
    seed: int,
    *,
    samples: Sequence[int],
    remaining: int,
    today: date,
    weeks: int,
    target_date: date | None,
) -> Forecast:
    """p50 / p85 completion dates from weekly throughput samples; deterministic per input."""
    base: dict[str, Any] = {
        "weeks": weeks,
        "samples": list(samples),
        "remaining": remaining,
        "target_date": target_date,
    }
    if remaining == 0:
        return Forecast(status="done", detail="no open items remain", **base)
    if len(samples) < MIN_HISTORY_WEEKS or not any(samples):
        why = (
            f"{len(samples)} week(s) of history, {MIN_HISTORY_WEEKS} needed"
            if len(samples) < MIN_HISTORY_WEEKS
            else f"no item was done in the last {len(samples)} weeks"
        )
        return Forecast(status="insufficient_data", detail=f"insufficient data: {why}", **base)
    rng = random.Random(f"{seed}:{remaining}:{','.join(map(str, samples))}")
    runs = []
    for _ in range(TRIALS):
        left, elapsed = remaining, 0
        while left > 0 and elapsed < MAX_WEEKS:
            left -= rng.choice(samples)
            elapsed += 1
        runs.append(elapsed)
    runs.sort()
    p50 = today + timedelta(weeks=runs[math.ceil(0.50 * TRIALS) - 1])
    p85 = today + timedelta(weeks=runs[math.ceil(0.85 * TRIALS) - 1])
    late = target_date is not None and p85 > target_date
    detail = f"projected {p50.isoformat()}, p85 {p85.isoformat()}"
    if target_date is not None:
        detail += f"; target {target_date.isoformat()}"
    detail += f" (from {sum(samples)} items done in {len(samples)} weeks, {remaining} remaining" + (
        "; p85 lies past the target date)" if late else ")"
    )
    return Forecast(status="forecast", p50=p50, p85=p85, past_target=late, detail=detail, **base)
