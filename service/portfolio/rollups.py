"""Progress rollups with aggregate SQL, and health from progress versus elapsed time.

Membership model: an item counts for a target (initiative or key result) when it is linked
to it (rule or manual link, not excluded), or when it descends (stored `parent_id` chain) from
such an item and has no link of that target type of its own — its own link, or a manual
exclusion, says otherwise. That membership is materialised on write (`service.rules.membership`:
each item's anchor, and item/point tallies per anchor), so a rollup sums a few tally rows per
link: the cost of a read grows with links and nodes, not with items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, cached_property
from typing import Any

from sqlalchemy import (
    BindParameter,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import LinkTarget, StatusCategory
from schemas.tables import InitiativeKeyResult, WorkItem, WorkItemLink
from service.rules.membership import ANCHOR, TALLY
from service.rules.targets import MULTI, TARGET_TALLY

WORK: Table = WorkItem.__table__  # type: ignore[attr-defined]
LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
IKR: Table = InitiativeKeyResult.__table__  # type: ignore[attr-defined]
CATEGORIES = [c.value for c in StatusCategory]
_EPS = 1e-9


@dataclass
class Tally:
    """Aggregated items of one node: counts and points per status category, and exclusions."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    points: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0.0))
    unestimated: int = 0
    deleted: int = 0
    manually_excluded: int = 0

    # Cached: read several times per node once the tally is complete (the tree has ~1,000).
    @cached_property
    def by_count(self) -> float | None:
        denominator = sum(self.counts.values()) - self.counts["cancelled"]
        return self.counts["done"] / denominator if denominator > 0 else None

    @cached_property
    def by_points(self) -> float | None:
        denominator = sum(self.points.values()) - self.points["cancelled"]
        return self.points["done"] / denominator if denominator > 0 else None

    @property
    def progress(self) -> float | None:
        return self.by_points if self.by_points is not None else self.by_count

    def formula(self) -> str:
        c, p = self.counts, self.points
        total, points = sum(c.values()), sum(p.values())
        by_count = (
            f"by_count = done / (total - cancelled) = {c['done']} / ({total} - {c['cancelled']})"
        )
        by_points = (
            f"by_points = done points / (total - cancelled) points = "
            f"{p['done']:g} / ({points:g} - {p['cancelled']:g})"
        )
        basis = "by_points" if self.by_points is not None else "by_count"
        return f"progress = {basis} (by_points when items carry points); {by_count}; {by_points}"

    def excluded(self) -> list[dict[str, Any]]:
        reasons = [
            ("deleted upstream (tombstoned)", self.deleted),
            ("cancelled (left out of both denominators)", self.counts["cancelled"]),
            ("manually excluded from this target", self.manually_excluded),
            ("no estimate (count only, not points)", self.unestimated),
        ]
        return [{"reason": r, "count": n} for r, n in reasons if n]


def _pivot(category: Any, deleted: Any, items: Any, points: Any, estimated: Any) -> list[Any]:
    """SUMs per target, one row each: deleted items, then items and points per live status
    category, then live non-cancelled items without an estimate (what `_add` reads)."""
    live = deleted.is_(False)
    columns = [func.sum(case((deleted.is_(True), items), else_=0))]
    for name in CATEGORIES:
        bucket = and_(live, category == name)
        columns += [
            func.sum(case((bucket, items), else_=0)),
            func.sum(case((bucket, points), else_=0.0)),
        ]
    unestimated = and_(live, category != StatusCategory.cancelled.value)
    columns.append(func.sum(case((unestimated, items - estimated), else_=0)))
    return columns


def _add(tally: Tally, values: Sequence[Any], sign: int = 1) -> None:
    tally.deleted += sign * int(values[0])
    for index, name in enumerate(CATEGORIES):
        tally.counts[name] += sign * int(values[1 + 2 * index])
        tally.points[name] += sign * float(values[2 + 2 * index])
    tally.unestimated += sign * int(values[-1])


def _rounded(tallies: defaultdict[int, Tally]) -> dict[int, Tally]:
    # Tallies are maintained by adding and subtracting deltas: drop float noise (0.30000000004).
    for tally in tallies.values():
        tally.points = {k: round(v, 9) + 0.0 for k, v in tally.points.items()}
    return tallies


# The statements below are built once per shape (filtered or not) and reused: composing
# the pivot expressions cost more per tree read than running them. Ids bind at execution.
IDS: BindParameter[Any] = bindparam("ids", expanding=True)


def _params(ids: Sequence[int] | None) -> dict[str, Any]:
    return {} if ids is None else {"ids": list(ids)}


@cache
def _linked(target_type: str, filtered: bool) -> Select[Any]:
    """Per target, its target tally (its linked anchors' tallies, kept on write) pivoted."""
    t = TARGET_TALLY.c
    stmt = (
        select(
            t.target_id, *_pivot(t.status_category, t.deleted, t["items"], t.points, t.estimated)
        )
        .where(t.target_type == target_type)
        .group_by(t.target_id)
    )
    return stmt.where(t.target_id.in_(IDS)) if filtered else stmt


async def _collect(
    session: AsyncSession,
    stmt: Any,
    tallies: defaultdict[int, Tally],
    ids: Sequence[int] | None,
    sign: int = 1,
) -> defaultdict[int, Tally]:
    for target_id, *values in await session.execute(stmt, _params(ids)):
        _add(tallies[target_id], values, sign)
    return tallies


async def _manual_exclusions(
    session: AsyncSession, target_type: str, target_ids: Sequence[int] | None
) -> dict[int, int]:
    stmt = (
        select(LINK.c.target_id, func.count())
        .where(LINK.c.target_type == target_type, LINK.c.excluded.is_(True))
        .group_by(LINK.c.target_id)
    )
    if target_ids is not None:
        stmt = stmt.where(LINK.c.target_id.in_(list(target_ids)))
    return {target_id: n for target_id, n in await session.execute(stmt)}


async def initiative_tallies(
    session: AsyncSession, initiative_ids: Sequence[int] | None = None
) -> dict[int, Tally]:
    """Tallies for the given initiatives (all when None): the tallies of their linked anchors."""
    kind = LinkTarget.initiative.value
    stmt = _linked(kind, initiative_ids is not None)
    tallies = await _collect(session, stmt, defaultdict(Tally), initiative_ids)
    for target_id, n in (await _manual_exclusions(session, kind, initiative_ids)).items():
        tallies[target_id].manually_excluded = n
    return _rounded(tallies)


@cache
def _counted_twice(filtered: bool) -> Select[Any]:
    """Items counted for a key result both directly and through one of its initiatives."""
    kr_anchor = ANCHOR.alias("kr_anchor")
    init_anchor, init_link = ANCHOR.alias("init_anchor"), LINK.alias("init_link")
    direct = (
        select(
            LINK.c.target_id,
            kr_anchor.c.work_item_id,
            kr_anchor.c.status_category,
            kr_anchor.c.estimate,
            kr_anchor.c.deleted,
        )
        .join(
            kr_anchor,
            and_(
                kr_anchor.c.anchor_id == LINK.c.work_item_id,
                kr_anchor.c.target_type == LINK.c.target_type,
            ),
        )
        .where(LINK.c.target_type == LinkTarget.key_result.value, LINK.c.excluded.is_(False))
    )
    if filtered:
        direct = direct.where(LINK.c.target_id.in_(IDS))
    # Evaluated first on purpose: direct key-result work is usually small, initiative work not.
    kr_items = direct.cte("kr_items").prefix_with("MATERIALIZED")
    pairs = (
        select(
            kr_items.c.target_id,
            kr_items.c.work_item_id,
            kr_items.c.status_category,
            kr_items.c.estimate,
            kr_items.c.deleted,
        )
        .distinct()
        .join(
            init_anchor,
            and_(
                init_anchor.c.work_item_id == kr_items.c.work_item_id,
                init_anchor.c.target_type == LinkTarget.initiative.value,
            ),
        )
        .join(
            init_link,
            and_(
                init_link.c.work_item_id == init_anchor.c.anchor_id,
                init_link.c.target_type == LinkTarget.initiative.value,
                init_link.c.excluded.is_(False),
            ),
        )
        .join(
            IKR,
            and_(
                IKR.c.initiative_id == init_link.c.target_id,
                IKR.c.key_result_id == kr_items.c.target_id,
            ),
        )
    )
    both = pairs.subquery("counted_twice")
    estimated = case((both.c.estimate.is_(None), 0), else_=1)
    points = func.coalesce(both.c.estimate, 0.0)
    return select(
        both.c.target_id, *_pivot(both.c.status_category, both.c.deleted, 1, points, estimated)
    ).group_by(both.c.target_id)


@cache
def _through_initiatives(filtered: bool) -> Select[Any]:
    """Per key result, the target tallies of its initiatives (an anchor linked to two of them
    is counted twice here; `_multi_linked` takes the extra counts back)."""
    t = TARGET_TALLY.c
    stmt = (
        select(
            IKR.c.key_result_id,
            *_pivot(t.status_category, t.deleted, t["items"], t.points, t.estimated),
        )
        .join(
            TARGET_TALLY,
            and_(t.target_type == LinkTarget.initiative.value, t.target_id == IKR.c.initiative_id),
        )
        .group_by(IKR.c.key_result_id)
    )
    return stmt.where(IKR.c.key_result_id.in_(IDS)) if filtered else stmt


@cache
def _multi_linked(filtered: bool) -> Select[Any]:
    """Per key result, anchors linked to n >= 2 of its initiatives: their tallies n - 1 times."""
    init_kind = LinkTarget.initiative.value
    # Driven from the (few) multi-linked items: their link rows, then the key results.
    pairs = (
        select(
            IKR.c.key_result_id,
            LINK.c.work_item_id.label("anchor_id"),
            (func.count() - 1).label("extra"),
        )
        .select_from(MULTI)
        .join(
            LINK,
            and_(LINK.c.work_item_id == MULTI.c.work_item_id, LINK.c.target_type == init_kind),
        )
        .join(IKR, IKR.c.initiative_id == LINK.c.target_id)
        .where(MULTI.c.target_type == init_kind, LINK.c.excluded.is_(False))
        .group_by(IKR.c.key_result_id, LINK.c.work_item_id)
        .having(func.count() > 1)
    )
    if filtered:
        pairs = pairs.where(IKR.c.key_result_id.in_(IDS))
    extra = pairs.subquery("kr_multi_linked")
    t = TALLY.c
    return (
        select(
            extra.c.key_result_id,
            *_pivot(
                t.status_category,
                t.deleted,
                t["items"] * extra.c.extra,
                t.points * extra.c.extra,
                t.estimated * extra.c.extra,
            ),
        )
        .join(TALLY, and_(t.target_type == init_kind, t.anchor_id == extra.c.anchor_id))
        .group_by(extra.c.key_result_id)
    )


@cache
def _key_result_parts(filtered: bool) -> Any:
    """The four parts of a key result's tally, signed, in one statement (one round trip)."""
    parts = [
        (1, _linked(LinkTarget.key_result.value, filtered)),
        (1, _through_initiatives(filtered)),
        (-1, _multi_linked(filtered)),
        (-1, _counted_twice(filtered)),
    ]
    return union_all(
        *(select(literal(sign).label("sign"), *stmt.subquery().c) for sign, stmt in parts)
    )


async def key_result_tallies(
    session: AsyncSession, key_result_ids: Sequence[int] | None = None
) -> dict[int, Tally]:
    """Work linked to each key result directly and through its initiatives, each item once.

    Direct work plus the work of the initiatives' linked anchors (each anchor once per key
    result), minus the items counted both ways.
    """
    kr_kind = LinkTarget.key_result.value
    tallies: defaultdict[int, Tally] = defaultdict(Tally)
    for sign, target_id, *values in await session.execute(
        _key_result_parts(key_result_ids is not None), _params(key_result_ids)
    ):
        _add(tallies[target_id], values, sign)
    for target_id, n in (await _manual_exclusions(session, kr_kind, key_result_ids)).items():
        tallies[target_id].manually_excluded = n
    return _rounded(tallies)


async def epic_tallies(session: AsyncSession, epic_ids: Sequence[int]) -> dict[int, Tally]:
    """Each linked epic with the descendants that follow its initiative link (its anchor tally)."""
    tallies: defaultdict[int, Tally] = defaultdict(Tally)
    ids = sorted(set(epic_ids))
    for start in range(0, len(ids), 500):
        await _collect(session, _anchor_tallies(), tallies, ids[start : start + 500])
    return _rounded(tallies)


@cache
def _anchor_tallies() -> Select[Any]:
    t = TALLY.c
    return (
        select(
            t.anchor_id, *_pivot(t.status_category, t.deleted, t["items"], t.points, t.estimated)
        )
        .where(t.target_type == LinkTarget.initiative.value, t.anchor_id.in_(IDS))
        .group_by(t.anchor_id)
    )


async def linked_epics(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, list[tuple[int, str, str]]]:
    """Live epics linked directly to each initiative: (id, key, title)."""
    result: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    if not initiative_ids:
        return result
    rows = await session.execute(
        select(LINK.c.target_id, WORK.c.id, WORK.c.key, WORK.c.title)
        .join(WORK, WORK.c.id == LINK.c.work_item_id)
        .where(
            LINK.c.target_type == LinkTarget.initiative.value,
            LINK.c.excluded.is_(False),
            LINK.c.target_id.in_(list(initiative_ids)),
            WORK.c.kind == "epic",
            WORK.c.deleted_at.is_(None),
        )
        .order_by(WORK.c.id)
    )
    for target_id, item_id, key, title in rows:
        result[target_id].append((item_id, key, title))
    return result


@dataclass(frozen=True)
class HealthPolicy:
    today: date
    at_risk_margin: float = 0.15
    off_track_margin: float = 0.30

    def describe(self) -> str:
        return (
            f"done when progress >= 1; not_started before start_date; off_track when past "
            f"target_date, or progress < elapsed - {self.off_track_margin:g}; at_risk when "
            f"progress < elapsed - {self.at_risk_margin:g}; otherwise on_track"
        )


def elapsed_share(start: date | None, target: date | None, today: date) -> float | None:
    if start is None or target is None:
        return None
    if target <= start:
        return 1.0 if today >= target else 0.0
    return min(1.0, max(0.0, (today - start).days / (target - start).days))


def health(
    progress: float | None, start: date | None, target: date | None, policy: HealthPolicy
) -> str | None:
    """Health from progress vs. elapsed time; None when the node has no dates."""
    if progress is not None and progress >= 1 - _EPS:
        return "done"
    elapsed = elapsed_share(start, target, policy.today)
    if elapsed is None or start is None or target is None:
        return None
    if policy.today < start:
        return "not_started"
    value = progress or 0.0
    if policy.today > target or value < elapsed - policy.off_track_margin - _EPS:
        return "off_track"
    if value < elapsed - policy.at_risk_margin - _EPS:
        return "at_risk"
    return "on_track"


def health_reason(
    progress: float | None, start: date | None, target: date | None, policy: HealthPolicy
) -> str:
    """Why `health` gives what it gives, in words with the numbers compared."""
    if progress is not None and progress >= 1 - _EPS:
        return "all counted work is done"
    elapsed = elapsed_share(start, target, policy.today)
    if elapsed is None or start is None or target is None:
        return "no start and target date: health is not measured"
    if policy.today < start:
        return f"starts on {start.isoformat()}"
    value = progress or 0.0
    if policy.today > target:
        return f"target date {target.isoformat()} has passed at {value:.0%} progress"
    compared = f"progress {value:.0%} against {elapsed:.0%} of the time elapsed"
    if value < elapsed - policy.off_track_margin - _EPS:
        return f"{compared} (more than {policy.off_track_margin:.0%} behind)"
    if value < elapsed - policy.at_risk_margin - _EPS:
        return f"{compared} (more than {policy.at_risk_margin:.0%} behind)"
    return f"{compared} (within {policy.at_risk_margin:.0%})"


def manual_progress(start: float, target: float, current: float) -> float | None:
    if target == start:
        return 1.0 if current >= target else 0.0
    return min(1.0, max(0.0, (current - start) / (target - start)))
