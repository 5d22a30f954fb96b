"""Build a digest: what moved in a scope between `since` and `until`.

Sources: the change feed for what happened in the window, the store for the current state, and
`progress_snapshot` rows (written by the rollups) for progress and health at both ends. Where a
node has no snapshots, `progress.changed` / `health.changed` feed entries give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.feed import Digest, DigestItem, ForecastNote, NodeMovement, SlippedNode
from schemas.tables import Change, ProgressSnapshot, WorkItem, WorkItemLink
from service.digests.scope import Scope, resolve
from service.feed.queries import changes_between
from service.portfolio.history import forecast

# Worse is higher; states outside this scale (done, not_started, unknown) are never "worse".
HEALTH_RANK = {"on_track": 0, "at_risk": 1, "off_track": 2}
_CLOSED_INITIATIVE = {"done", "cancelled"}

NodeKey = tuple[str, int]


async def build_digest(
    session: AsyncSession,
    scope_key: str,
    since: datetime,
    until: datetime,
    *,
    forecast_weeks: int = 6,
) -> Digest:
    scope = await resolve(session, scope_key)
    changes = await changes_between(session, since, until, scope.feed_filter())
    movements = await _movements(session, scope, changes, since, until)
    return Digest(
        scope=scope.key,
        title=scope.title,
        since=since,
        until=until,
        movements=movements,
        completed=await _completed(session, scope, changes),
        scope_added=(added := await _scope_added(session, scope, since, until)),
        scope_added_points=sum(i.estimate or 0.0 for i in added),
        slipped=_health_worsened(movements) + _overdue(scope, since, until),
        unplanned=await _unplanned(session, scope, since, until),
        changes=len(changes),
        forecasts=await _forecasts(session, scope, until, forecast_weeks),
    )


async def _forecasts(
    session: AsyncSession, scope: Scope, until: datetime, weeks: int
) -> list[ForecastNote]:
    notes = []
    for initiative_id, initiative in sorted(scope.initiatives.items()):
        if initiative.status in _CLOSED_INITIATIVE:
            continue
        projected = await forecast(
            session,
            initiative_id,
            today=until.date(),
            weeks=weeks,
            target_date=initiative.target_date,
        )
        if projected.status == "forecast":
            notes.append(
                ForecastNote(
                    initiative_id=initiative_id, title=initiative.title, forecast=projected
                )
            )
    return notes


def _nodes(scope: Scope) -> dict[NodeKey, str]:
    nodes: dict[NodeKey, str] = {("objective", i): t for i, t in scope.objectives.items()}
    nodes.update({("key_result", i): k.title for i, k in scope.key_results.items()})
    nodes.update({("initiative", i): n.title for i, n in scope.initiatives.items()})
    return nodes


async def _snapshots_at(
    session: AsyncSession, nodes: Sequence[NodeKey], as_of: datetime
) -> dict[NodeKey, tuple[float | None, str | None]]:
    """Per node, the latest snapshot recorded at or before `as_of` (one scan, newest first)."""
    types = sorted({t for t, _ in nodes})
    ids = sorted({i for _, i in nodes})
    if not nodes:
        return {}
    rows = await session.execute(
        select(
            col(ProgressSnapshot.node_type),
            col(ProgressSnapshot.node_id),
            col(ProgressSnapshot.progress),
            col(ProgressSnapshot.health),
        )
        .where(
            col(ProgressSnapshot.node_type).in_(types),
            col(ProgressSnapshot.node_id).in_(ids),
            col(ProgressSnapshot.recorded_at) <= as_of,
        )
        .order_by(col(ProgressSnapshot.recorded_at).desc(), col(ProgressSnapshot.id).desc())
    )
    wanted = set(nodes)
    found: dict[NodeKey, tuple[float | None, str | None]] = {}
    for node_type, node_id, progress, health in rows:
        key = (node_type, node_id)
        if key in wanted and key not in found:
            found[key] = (progress, health)
    return found


def _feed_values(changes: Sequence[Change]) -> dict[NodeKey, dict[str, Any]]:
    """From progress/health feed entries: each node's first `before` and last `after` values."""
    values: dict[NodeKey, dict[str, Any]] = {}
    for change in changes:
        if change.type not in ("progress.changed", "health.changed"):
            continue
        field = change.type.split(".")[0]
        node = values.setdefault((change.entity_type, change.entity_id), {})
        node.setdefault(f"{field}_before", (change.before or {}).get(field))
        node[f"{field}_after"] = (change.after or {}).get(field)
    return values


async def _movements(
    session: AsyncSession, scope: Scope, changes: Sequence[Change], since: datetime, until: datetime
) -> list[NodeMovement]:
    nodes = _nodes(scope)
    before = await _snapshots_at(session, list(nodes), since)
    after = await _snapshots_at(session, list(nodes), until)
    from_feed = _feed_values(changes)
    movements = []
    for key, title in nodes.items():
        feed = from_feed.get(key, {})
        old, new = before.get(key), after.get(key)
        values: dict[str, Any] = dict.fromkeys(
            ("progress_before", "progress_after", "health_before", "health_after")
        )
        if new is not None:
            values.update(
                progress_before=old[0] if old else None,
                progress_after=new[0],
                health_before=old[1] if old else None,
                health_after=new[1],
            )
        else:
            values.update({k: v for k, v in feed.items() if k in values})
        moved = (
            values["progress_before"] != values["progress_after"]
            or values["health_before"] != values["health_after"]
        )
        if moved:
            movements.append(NodeMovement(node_type=key[0], node_id=key[1], title=title, **values))
    return movements


def _item(row: WorkItem) -> DigestItem:
    return DigestItem(
        work_item_id=row.id or 0, key=row.key, title=row.title, estimate=row.estimate, url=row.url
    )


async def _items(session: AsyncSession, ids: Sequence[int]) -> list[DigestItem]:
    if not ids:
        return []
    rows = await session.execute(
        select(WorkItem)
        .where(col(WorkItem.id).in_(list(ids)), col(WorkItem.deleted_at).is_(None))
        .order_by(col(WorkItem.id))
    )
    return [_item(r) for r in rows.scalars()]


async def _scoped_item_ids(session: AsyncSession, scope: Scope) -> set[int]:
    rows = await session.execute(
        select(col(WorkItemLink.work_item_id)).where(scope.link_condition())
    )
    return set(rows.scalars())


async def _completed(
    session: AsyncSession, scope: Scope, changes: Sequence[Change]
) -> list[DigestItem]:
    """Moved to `done` during the window, and still done now."""
    moved = {
        c.entity_id
        for c in changes
        if c.entity_type == "work_item"
        and (c.after or {}).get("status_category") == "done"
        and (c.before or {}).get("status_category") != "done"
    }
    in_scope = moved & await _scoped_item_ids(session, scope)
    items = await _items(session, sorted(in_scope))
    done = await session.execute(
        select(col(WorkItem.id)).where(
            col(WorkItem.id).in_([i.work_item_id for i in items]),
            col(WorkItem.status_category) == "done",
        )
    )
    still_done = set(done.scalars())
    return [i for i in items if i.work_item_id in still_done]


async def _scope_added(
    session: AsyncSession, scope: Scope, since: datetime, until: datetime
) -> list[DigestItem]:
    rows = await session.execute(
        select(col(WorkItemLink.work_item_id)).where(
            scope.link_condition(),
            col(WorkItemLink.created_at) >= since,
            col(WorkItemLink.created_at) <= until,
        )
    )
    return await _items(session, sorted(set(rows.scalars())))


def _health_worsened(movements: Sequence[NodeMovement]) -> list[SlippedNode]:
    slipped = []
    for m in movements:
        old, new = HEALTH_RANK.get(m.health_before or ""), HEALTH_RANK.get(m.health_after or "")
        if old is not None and new is not None and new > old:
            slipped.append(
                SlippedNode(
                    node_type=m.node_type,
                    node_id=m.node_id,
                    title=m.title,
                    reason=f"health worsened: {m.health_before} → {m.health_after}",
                )
            )
    return slipped


def _overdue(scope: Scope, since: datetime, until: datetime) -> list[SlippedNode]:
    """Target dates that passed during the window on nodes not finished."""
    first, last = since.date(), until.date()
    slipped = []
    for node_id, initiative in sorted(scope.initiatives.items()):
        due = initiative.target_date
        if due and first <= due < last and initiative.status not in _CLOSED_INITIATIVE:
            slipped.append(
                SlippedNode(
                    node_type="initiative",
                    node_id=node_id,
                    title=initiative.title,
                    reason=f"overdue since {due.isoformat()} (status {initiative.status})",
                )
            )
    for node_id, kr in sorted(scope.key_results.items()):
        due = kr.target_date
        reached = (kr.current >= kr.target) if kr.target >= kr.start else (kr.current <= kr.target)
        if due and first <= due < last and kr.progress_source == "manual" and not reached:
            slipped.append(
                SlippedNode(
                    node_type="key_result",
                    node_id=node_id,
                    title=kr.title,
                    reason=f"overdue since {due.isoformat()} ({kr.current:g} of {kr.target:g})",
                )
            )
    return slipped


async def _unplanned(
    session: AsyncSession, scope: Scope, since: datetime, until: datetime
) -> list[DigestItem]:
    """Work created in the window that no initiative or key result claims.

    For a node scope: such items whose parent item is in the scope (work that appeared under
    planned work without being planned itself).
    """
    created = select(col(Change.entity_id)).where(
        col(Change.type) == "work_item.created",
        col(Change.created_at) >= since,
        col(Change.created_at) <= until,
    )
    linked = select(col(WorkItemLink.work_item_id)).where(col(WorkItemLink.excluded).is_(False))
    stmt = select(col(WorkItem.id)).where(
        col(WorkItem.id).in_(created),
        col(WorkItem.id).not_in(linked),
        col(WorkItem.deleted_at).is_(None),
    )
    if not scope.is_portfolio:
        parents = select(col(WorkItemLink.work_item_id)).where(scope.link_condition())
        stmt = stmt.where(col(WorkItem.parent_id).in_(parents))
    found = {i for i in (await session.execute(stmt)).scalars() if i is not None}
    return await _items(session, sorted(found))
