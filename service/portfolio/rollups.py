"""Progress rollups with aggregate SQL, and health from progress versus elapsed time.

Membership model: an item counts for a target (initiative or key result) when it is linked
to it (rule or manual link, not excluded), or when it descends (stored `parent_id` chain) from
such an item and has no link of that target type of its own — its own link, or a manual
exclusion, says otherwise. Inheritance is computed here at read time; nothing is materialised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import CTE, Select, Table, case, exists, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import LinkTarget, StatusCategory
from schemas.tables import InitiativeKeyResult, WorkItem, WorkItemLink

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

    @property
    def by_count(self) -> float | None:
        denominator = sum(self.counts.values()) - self.counts["cancelled"]
        return self.counts["done"] / denominator if denominator > 0 else None

    @property
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


def effective_items(target_type: str, seed: Select[Any], name: str) -> CTE:
    """(target_id, item_id) for every seeded item and its descendants that inherit the link."""
    tree = seed.cte(name, recursive=True)
    child = WORK.alias(f"{name}_child")
    own = LINK.alias(f"{name}_own")
    return tree.union(
        select(tree.c.target_id, child.c.id)
        .join(child, child.c.parent_id == tree.c.item_id)
        .where(~exists().where(own.c.work_item_id == child.c.id, own.c.target_type == target_type))
    )


def link_seed(target_type: str, target_ids: Sequence[int] | None) -> Select[Any]:
    seed = select(LINK.c.target_id.label("target_id"), LINK.c.work_item_id.label("item_id")).where(
        LINK.c.target_type == target_type, LINK.c.excluded.is_(False)
    )
    if target_ids is not None:
        seed = seed.where(LINK.c.target_id.in_(list(target_ids)))
    return seed


async def _aggregate(session: AsyncSession, members: Any) -> dict[int, Tally]:
    """GROUP BY node and status category over (target_id, item_id) membership rows."""
    deleted = case((WORK.c.deleted_at.is_(None), 0), else_=1)
    stmt = (
        select(
            members.c.target_id,
            WORK.c.status_category,
            deleted,
            func.count(),
            func.coalesce(func.sum(WORK.c.estimate), 0.0),
            func.count(WORK.c.estimate),
        )
        .join(WORK, WORK.c.id == members.c.item_id)
        .group_by(members.c.target_id, WORK.c.status_category, deleted)
    )
    tallies: dict[int, Tally] = defaultdict(Tally)
    for target_id, category, is_deleted, count, points, estimated in await session.execute(stmt):
        tally = tallies[target_id]
        if is_deleted:
            tally.deleted += count
            continue
        tally.counts[category] = tally.counts.get(category, 0) + count
        tally.points[category] = tally.points.get(category, 0.0) + float(points)
        if category != StatusCategory.cancelled.value:
            tally.unestimated += count - estimated
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
    """Tallies for the given initiatives (all when None), in one aggregate query."""
    kind = LinkTarget.initiative.value
    tree = effective_items(kind, link_seed(kind, initiative_ids), "initiative_items")
    tallies = await _aggregate(session, tree)
    for target_id, n in (await _manual_exclusions(session, kind, initiative_ids)).items():
        tallies[target_id].manually_excluded = n
    return tallies


async def key_result_tallies(
    session: AsyncSession, key_result_ids: Sequence[int] | None = None
) -> dict[int, Tally]:
    """Work linked to each key result directly and through its initiatives, each item once."""
    kr_kind, init_kind = LinkTarget.key_result.value, LinkTarget.initiative.value
    direct = effective_items(kr_kind, link_seed(kr_kind, key_result_ids), "kr_items")
    init_seed = link_seed(init_kind, None)
    if key_result_ids is not None:
        init_seed = init_seed.where(
            LINK.c.target_id.in_(
                select(IKR.c.initiative_id).where(IKR.c.key_result_id.in_(list(key_result_ids)))
            )
        )
    via = effective_items(init_kind, init_seed, "kr_initiative_items")
    through = select(IKR.c.key_result_id.label("target_id"), via.c.item_id).join(
        IKR, IKR.c.initiative_id == via.c.target_id
    )
    if key_result_ids is not None:
        through = through.where(IKR.c.key_result_id.in_(list(key_result_ids)))
    members = union(select(direct.c.target_id, direct.c.item_id), through).subquery("kr_members")
    tallies = await _aggregate(session, members)
    for target_id, n in (await _manual_exclusions(session, kr_kind, key_result_ids)).items():
        tallies[target_id].manually_excluded = n
    return tallies


async def epic_tallies(session: AsyncSession, epic_ids: Sequence[int]) -> dict[int, Tally]:
    """Each epic with the descendants that follow its initiative link."""
    if not epic_ids:
        return {}
    seed = select(WORK.c.id.label("target_id"), WORK.c.id.label("item_id")).where(
        WORK.c.id.in_(list(epic_ids))
    )
    return await _aggregate(
        session, effective_items(LinkTarget.initiative.value, seed, "epic_items")
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


def manual_progress(start: float, target: float, current: float) -> float | None:
    if target == start:
        return 1.0 if current >= target else 0.0
    return min(1.0, max(0.0, (current - start) / (target - start)))
