"""Progress and health move on write: the nodes a write moved are recomputed in its transaction.

Writers say what they touched — targets whose tallies changed (`service.rules.targets`), link
targets, edited nodes — with `service.portfolio.touches`. Just before the transaction
commits (`service.store.db.before_commit`), `settle` resolves those to the initiatives and key
results they count for, adds their ancestors (key results of an initiative, the objective of a
key result, its parent objectives), recomputes only those nodes, and for each one whose value
differs from its newest history point appends `progress.changed` and/or `health.changed` to
the change feed and records a history point. Reads compute and never write.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.rollups import Component, Rollup
from schemas.enums import LinkTarget
from schemas.tables import Initiative, InitiativeKeyResult, KeyResult, Objective, WorkItemLink
from schemas.types import utcnow
from service.config import Settings
from service.portfolio import rollups, snapshots, touches, tree
from service.portfolio.rollups import HealthPolicy
from service.portfolio.snapshots import Latest, NodeKey, Value
from service.store.changes import append_changes, change_row
from service.store.db import Database

LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
IKR: Table = InitiativeKeyResult.__table__  # type: ignore[attr-defined]
KR: Table = KeyResult.__table__  # type: ignore[attr-defined]
INITIATIVE: Table = Initiative.__table__  # type: ignore[attr-defined]
OBJECTIVE: Table = Objective.__table__  # type: ignore[attr-defined]
CONFIG = "rollup_config"
_CHUNK = 500


@dataclass(frozen=True)
class RollupConfig:
    """What recomputing on write needs from the settings (and a clock tests can pin)."""

    at_risk_margin: float = 0.15
    off_track_margin: float = 0.30
    snapshot_interval_seconds: int = 3600
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_settings(cls, settings: Settings) -> RollupConfig:
        return cls(
            at_risk_margin=settings.health_at_risk_margin,
            off_track_margin=settings.health_off_track_margin,
            snapshot_interval_seconds=settings.snapshot_interval_seconds,
        )

    def context(self) -> tree.RollupContext:
        now = self.clock()
        policy = HealthPolicy(
            today=now.date(),
            at_risk_margin=self.at_risk_margin,
            off_track_margin=self.off_track_margin,
        )
        return tree.RollupContext(
            now=now, policy=policy, snapshot_interval_seconds=self.snapshot_interval_seconds
        )


def config_of(session: AsyncSession) -> RollupConfig:
    config: RollupConfig | None = session.info.get(CONFIG)
    return config or RollupConfig()


def configure(db: Database, settings: Settings) -> None:
    """Writes through `db` recompute rollups with these settings (unless already configured)."""
    db.session_info.setdefault(CONFIG, RollupConfig.from_settings(settings))


@dataclass
class SettleStats:
    """Time spent settling, split by whether any node moved (the sync benchmark reports it)."""

    calls_idle: int = 0
    seconds_idle: float = 0.0
    calls_moved: int = 0
    seconds_moved: float = 0.0
    nodes_moved: int = 0


STATS = SettleStats()


async def settle(session: AsyncSession) -> None:
    """Recompute the nodes this transaction moved; feed entries and history for those that did."""
    started = time.perf_counter()
    moved = await _settle(session)
    elapsed = time.perf_counter() - started
    if moved:
        STATS.calls_moved += 1
        STATS.seconds_moved += elapsed
        STATS.nodes_moved += moved
    else:
        STATS.calls_idle += 1
        STATS.seconds_idle += elapsed


async def _settle(session: AsyncSession) -> int:
    touched = touches.take(session)
    if touched is None:
        return 0
    cause = touched.cause or "write"
    nodes = set(touched.nodes)
    if not nodes:
        return 0
    ctx = config_of(session).context()
    try:
        computed = await compute(session, await _with_ancestors(session, nodes), ctx)
        return len(await publish(session, computed, ctx, cause=cause))
    finally:
        session.info.pop(_OBJECTIVES, None)


async def _with_ancestors(session: AsyncSession, nodes: set[NodeKey]) -> set[NodeKey]:
    initiatives = {i for t, i in nodes if t == LinkTarget.initiative.value}
    key_results = {i for t, i in nodes if t == LinkTarget.key_result.value}
    objectives = {i for t, i in nodes if t == "objective"}
    if initiatives:
        rows = await session.execute(
            select(IKR.c.key_result_id).where(IKR.c.initiative_id.in_(sorted(initiatives)))
        )
        key_results |= set(rows.scalars())
    if key_results:
        rows = await session.execute(
            select(KR.c.objective_id).where(KR.c.id.in_(sorted(key_results)))
        )
        objectives |= set(rows.scalars())
    if objectives:
        parents: dict[int, int | None] = {o.id: o.parent_id for o in await _all_objectives(session)}
        frontier = set(objectives)
        while frontier:
            frontier = {p for o in frontier if (p := parents.get(o)) is not None} - objectives
            objectives |= frontier
    return (
        {("initiative", i) for i in initiatives}
        | {("key_result", k) for k in key_results}
        | {("objective", o) for o in objectives}
    )


def value_of(node: Rollup, *, counted: Sequence[Value] = ()) -> Value:
    """A node's history value. Objectives carry the summed scope of the parts they average."""
    counts, points = node.explanation.counts, node.explanation.points
    if node.node_type == "objective":
        done_count = sum(v.done_count for v in counted)
        total_count = sum(v.total_count for v in counted)
        done_points = sum(v.done_points for v in counted)
        total_points = sum(v.total_points for v in counted)
    else:
        done_count = counts.get("done", 0)
        total_count = sum(counts.values()) - counts.get("cancelled", 0)
        done_points = points.get("done", 0.0)
        total_points = sum(points.values()) - points.get("cancelled", 0.0)
    return Value.of(
        progress=node.progress,
        by_count=node.by_count,
        by_points=node.by_points,
        health=node.health,
        done_count=done_count,
        total_count=total_count,
        done_points=done_points,
        total_points=total_points,
    )


@dataclass
class Computed:
    """Fresh nodes with their values, and the newest stored point of each."""

    nodes: dict[NodeKey, tuple[Rollup, Value]] = field(default_factory=dict)
    last: dict[NodeKey, Latest] = field(default_factory=dict)


async def _rows(session: AsyncSession, table: Table, ids: Iterable[int]) -> list[Any]:
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        result = await session.execute(
            select(table).where(table.c.id.in_(wanted[start : start + _CHUNK])).order_by(table.c.id)
        )
        rows.extend(result.all())
    return rows


async def compute(session: AsyncSession, nodes: set[NodeKey], ctx: tree.RollupContext) -> Computed:
    """Fresh values of `nodes`; an objective averages its parts' fresh or newest stored values."""
    out = Computed()
    wanted_objectives = {i for t, i in nodes if t == "objective"}
    objectives = {o.id: o for o in (await _all_objectives(session))}
    children: dict[int | None, list[Any]] = defaultdict(list)
    for objective in objectives.values():
        children[objective.parent_id].append(objective)
    kr_rows = await _key_results_of(session, wanted_objectives)
    wanted_krs = {i for t, i in nodes if t == "key_result"}
    known_krs = {k.id for k in kr_rows}
    kr_rows += await _rows(session, KR, wanted_krs - known_krs)
    out.last = await snapshots.latest(
        session,
        [
            *nodes,
            *(("key_result", k.id) for k in kr_rows),
            *(("objective", o.id) for o in objectives.values()),
        ],
    )
    # Parts of a recomputed objective that have no stored value yet are computed too.
    fresh_krs = [k for k in kr_rows if k.id in wanted_krs or ("key_result", k.id) not in out.last]
    initiative_rows = await _rows(session, INITIATIVE, (i for t, i in nodes if t == "initiative"))
    for node_id, initiative_node in (
        await tree.initiative_nodes(session, initiative_rows, ctx)
    ).items():
        out.nodes[("initiative", node_id)] = (initiative_node, value_of(initiative_node))
    for node_id, kr_node in (await tree.key_result_nodes(session, fresh_krs, ctx)).items():
        out.nodes[("key_result", node_id)] = (kr_node, value_of(kr_node))
    krs_of: dict[int, list[Any]] = defaultdict(list)
    for kr in kr_rows:
        krs_of[kr.objective_id].append(kr)

    def value(key: NodeKey) -> Value | None:
        if key in out.nodes:
            return out.nodes[key][1]
        stored = out.last.get(key)
        return stored.value if stored is not None else None

    def build(objective: Any, path: frozenset[int]) -> Value | None:
        key = ("objective", objective.id)
        if key in out.nodes or (key not in wanted and key in out.last):
            return value(key)
        parts: list[tuple[Component, Value | None]] = []
        for kr in krs_of.get(objective.id, []):
            kr_value = value(("key_result", kr.id))
            parts.append((_part("key_result", kr.id, kr_value, kr.weight), kr_value))
        for child in children.get(objective.id, []):
            if child.id in path:
                continue
            child_value = build(child, path | {objective.id})
            parts.append((_part("objective", child.id, child_value, child.weight), child_value))
        node = tree.objective_node(objective, [p for p, _ in parts], ctx)
        counted = [v for p, v in parts if v is not None and p.progress is not None and p.weight > 0]
        out.nodes[key] = (node, value_of(node, counted=counted))
        return out.nodes[key][1]

    wanted = {("objective", i) for i in wanted_objectives}
    if wanted_objectives:
        # Objectives whose parts have no stored value need all of their subtree's key results.
        missing = {o.id for o in objectives.values() if ("objective", o.id) not in out.last}
        known = {k.id for k in kr_rows}
        more = [k for k in await _key_results_of(session, missing) if k.id not in known]
        if more:
            kr_rows += more
            for kr in more:
                krs_of[kr.objective_id].append(kr)
            for node_id, kr_node in (await tree.key_result_nodes(session, more, ctx)).items():
                out.nodes[("key_result", node_id)] = (kr_node, value_of(kr_node))
        for objective_id in sorted(wanted_objectives):
            if objective_id in objectives:
                build(objectives[objective_id], frozenset())
    return out


async def _key_results_of(session: AsyncSession, objective_ids: Iterable[int]) -> list[Any]:
    wanted = sorted(set(objective_ids))
    if not wanted:
        return []
    result = await session.execute(
        select(KR).where(KR.c.objective_id.in_(wanted)).order_by(KR.c.id)
    )
    return list(result.all())


_OBJECTIVES = "rollups_objectives"


async def _all_objectives(session: AsyncSession) -> list[Any]:
    """All objectives (few), read once per settle: ancestors and objective values share them."""
    cached: list[Any] | None = session.info.get(_OBJECTIVES)
    if cached is None:
        result = await session.execute(select(OBJECTIVE).order_by(OBJECTIVE.c.id))
        cached = session.info[_OBJECTIVES] = list(result.all())
    return cached


def _part(node_type: str, node_id: int, value: Value | None, weight: float) -> Component:
    return Component(
        node_type=node_type,
        node_id=node_id,
        progress=value.progress if value is not None else None,
        weight=weight,
    )


def _details(node: Rollup) -> dict[str, Any]:
    return node.model_dump(
        mode="json", exclude={"epics", "key_results", "initiatives", "objectives", "forecast"}
    )


async def publish(
    session: AsyncSession, computed: Computed, ctx: tree.RollupContext, *, cause: str
) -> list[NodeKey]:
    """Feed entries and history points for the computed nodes whose value moved."""
    changes: list[dict[str, Any]] = []
    points: list[tuple[NodeKey, Value, dict[str, Any]]] = []
    for key, (node, new) in sorted(computed.nodes.items()):
        stored = computed.last.get(key)
        old = stored.value if stored is not None else None
        if old == new:
            continue
        points.append((key, new, _details(node)))
        changes.extend(_entries(key, node, old, new, ctx, cause))
    await append_changes(session, changes)
    await snapshots.record(
        session,
        points,
        computed.last,
        now=ctx.now,
        interval_seconds=ctx.snapshot_interval_seconds,
    )
    return [key for key, _, _ in points]


def _entries(
    key: NodeKey,
    node: Rollup,
    old: Value | None,
    new: Value,
    ctx: tree.RollupContext,
    cause: str,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if old is None:
        return rows  # a node's first point (new node, or first write since the upgrade): no move
    node_type, node_id = key
    before = (old.progress, old.by_count, old.by_points)
    after = (new.progress, new.by_count, new.by_points)
    if before != after:
        rows.append(
            change_row(
                "progress.changed",
                node_type,
                node_id,
                cause=cause,
                before=dict(zip(("progress", "by_count", "by_points"), before, strict=True)),
                after=dict(zip(("progress", "by_count", "by_points"), after, strict=True))
                | {"done_count": new.done_count, "total_count": new.total_count},
            )
        )
    if old.health != new.health:
        rows.append(
            change_row(
                "health.changed",
                node_type,
                node_id,
                cause=cause,
                before={"health": old.health},
                after={
                    "health": new.health,
                    "reason": rollups.health_reason(
                        node.progress, node.start_date, node.target_date, ctx.policy
                    ),
                },
            )
        )
    return rows
