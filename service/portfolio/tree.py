"""Progress of initiatives, key results and objectives, and the portfolio tree built from them.

Every number comes from the aggregate queries in `rollups`; this module only assembles them,
adds health and explanations. Reads never write: history points are recorded by the writes
that move a node (`service.portfolio.progress`).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rollups import (
    Component,
    Excluded,
    Explanation,
    InitiativeNode,
    KeyResultNode,
    ObjectiveNode,
    PortfolioTree,
    Rollup,
)
from schemas.enums import ProgressSource
from schemas.tables import Initiative, InitiativeKeyResult, KeyResult, Objective
from service.errors import NotFound
from service.portfolio import history, rollups, snapshots
from service.portfolio.rollups import HealthPolicy, Tally


@dataclass(frozen=True)
class RollupContext:
    now: datetime
    policy: HealthPolicy
    snapshot_interval_seconds: int = 3600
    forecast_weeks: int = 6


def _work_rollup(
    node_type: Any, node_id: int, title: str, tally: Tally, node: Any, ctx: RollupContext
) -> dict[str, Any]:
    start, target = getattr(node, "start_date", None), getattr(node, "target_date", None)
    progress = tally.progress
    return {
        "node_type": node_type,
        "node_id": node_id,
        "title": title,
        "progress": progress,
        "by_count": tally.by_count,
        "by_points": tally.by_points,
        "health": rollups.health(progress, start, target, ctx.policy),
        "start_date": start,
        "target_date": target,
        # A plain dict: the node's one validation call builds it (and its `excluded` list)
        # in pydantic-core, far cheaper than a Python-level model per part for ~1,000 nodes.
        "explanation": {
            "formula": tally.formula(),
            "counts": tally.counts,
            "points": tally.points,
            "excluded": tally.excluded(),
            "elapsed": rollups.elapsed_share(start, target, ctx.policy.today),
            "health_rule": ctx.policy.describe() if start and target else None,
        },
        "as_of": ctx.now,
    }


async def initiative_nodes(
    session: AsyncSession, initiatives: Sequence[Initiative], ctx: RollupContext
) -> dict[int, InitiativeNode]:
    ids = [i.id for i in initiatives if i.id is not None]
    tallies = await rollups.initiative_tallies(session, ids if len(ids) <= 500 else None)
    return _initiative_nodes(initiatives, tallies, ctx)


def _initiative_nodes(
    initiatives: Sequence[Initiative], tallies: dict[int, Tally], ctx: RollupContext
) -> dict[int, InitiativeNode]:
    return {
        i.id: InitiativeNode(
            **_work_rollup("initiative", i.id, i.title, tallies.get(i.id) or Tally(), i, ctx)
        )
        for i in initiatives
        if i.id is not None
    }


async def key_result_nodes(
    session: AsyncSession, key_results: Sequence[KeyResult], ctx: RollupContext
) -> dict[int, KeyResultNode]:
    linked = [
        k.id
        for k in key_results
        if k.id is not None and k.progress_source == ProgressSource.linked_work.value
    ]
    tallies = (
        await rollups.key_result_tallies(session, linked if len(linked) <= 500 else None)
        if linked
        else {}
    )
    return _key_result_nodes(key_results, tallies, ctx)


def _key_result_nodes(
    key_results: Sequence[KeyResult], tallies: dict[int, Tally], ctx: RollupContext
) -> dict[int, KeyResultNode]:
    nodes: dict[int, KeyResultNode] = {}
    for kr in key_results:
        assert kr.id is not None
        if kr.progress_source == ProgressSource.linked_work.value:
            data = _work_rollup(
                "key_result", kr.id, kr.title, tallies.get(kr.id) or Tally(), kr, ctx
            )
            data["explanation"]["formula"] = (
                "work linked to the key result directly and through its initiatives, each item "
                "once; " + data["explanation"]["formula"]
            )
            nodes[kr.id] = KeyResultNode(**data)
            continue
        progress = rollups.manual_progress(kr.start, kr.target, kr.current)
        nodes[kr.id] = KeyResultNode(
            node_type="key_result",
            node_id=kr.id,
            title=kr.title,
            progress=progress,
            health=rollups.health(progress, kr.start_date, kr.target_date, ctx.policy),
            start_date=kr.start_date,
            target_date=kr.target_date,
            explanation=Explanation(
                formula=(
                    "progress = (current - start) / (target - start), clipped to [0, 1] = "
                    f"({kr.current:g} - {kr.start:g}) / ({kr.target:g} - {kr.start:g})"
                ),
                elapsed=rollups.elapsed_share(kr.start_date, kr.target_date, ctx.policy.today),
                health_rule=ctx.policy.describe() if kr.start_date and kr.target_date else None,
            ),
            as_of=ctx.now,
        )
    return nodes


def objective_node(
    objective: Objective,
    parts: Sequence[Component],
    ctx: RollupContext,
    *,
    key_results: Sequence[KeyResultNode] = (),
    objectives: Sequence[ObjectiveNode] = (),
) -> ObjectiveNode:
    """An objective from its parts (key results and child objectives): their weighted mean."""
    assert objective.id is not None
    counted = [p for p in parts if p.progress is not None and p.weight > 0]
    total_weight = sum(p.weight for p in counted)
    progress = (
        sum(p.weight * (p.progress or 0.0) for p in counted) / total_weight
        if total_weight > 0
        else None
    )
    terms = " + ".join(f"{p.weight:g}*{p.progress:.4g}" for p in counted) or "nothing"
    skipped = len(parts) - len(counted)
    return ObjectiveNode(
        node_type="objective",
        node_id=objective.id,
        title=objective.title,
        progress=progress,
        explanation=Explanation(
            formula=(
                "progress = sum(weight * progress) / sum(weight) over key results and child "
                f"objectives = ({terms}) / {total_weight:g}"
            ),
            components=list(parts),
            excluded=(
                [Excluded(reason="no progress yet or weight 0", count=skipped)] if skipped else []
            ),
        ),
        key_results=list(key_results),
        objectives=list(objectives),
        as_of=ctx.now,
    )


def objective_nodes(
    objectives: Sequence[Objective],
    key_results: dict[int, list[tuple[KeyResult, KeyResultNode]]],
    ctx: RollupContext,
) -> dict[int, ObjectiveNode]:
    """Weighted means, children before parents (objectives nest)."""
    children: dict[int | None, list[Objective]] = defaultdict(list)
    for objective in objectives:
        children[objective.parent_id].append(objective)
    known = {o.id for o in objectives}
    nodes: dict[int, ObjectiveNode] = {}

    def build(objective: Objective, path: frozenset[int]) -> ObjectiveNode:
        assert objective.id is not None
        parts: list[Component] = []
        kr_nodes: list[KeyResultNode] = []
        for kr, kr_node in key_results.get(objective.id, []):
            kr_nodes.append(kr_node)
            parts.append(
                Component(
                    node_type="key_result",
                    node_id=kr_node.node_id,
                    progress=kr_node.progress,
                    weight=kr.weight,
                )
            )
        sub_nodes: list[ObjectiveNode] = []
        for child in children.get(objective.id, []):
            if child.id in path:  # a cycle in stored data: never recurse forever
                continue
            sub = build(child, path | {objective.id})
            sub_nodes.append(sub)
            parts.append(
                Component(
                    node_type="objective",
                    node_id=sub.node_id,
                    progress=sub.progress,
                    weight=child.weight,
                )
            )
        node = objective_node(objective, parts, ctx, key_results=kr_nodes, objectives=sub_nodes)
        nodes[objective.id] = node
        return node

    for objective in objectives:
        if (objective.parent_id is None or objective.parent_id not in known) and objective.id:
            build(objective, frozenset())
    return nodes


async def _all(session: AsyncSession, model: Any) -> list[Any]:
    # Plain rows (attribute access like the model): ORM instances cost ~40 µs each to build.
    table = model.__table__
    return list((await session.execute(select(table).order_by(table.c.id))).all())


async def _kr_initiatives(session: AsyncSession) -> dict[int, list[int]]:
    rows = await session.execute(
        select(
            col(InitiativeKeyResult.key_result_id), col(InitiativeKeyResult.initiative_id)
        ).order_by(col(InitiativeKeyResult.initiative_id))
    )
    result: dict[int, list[int]] = defaultdict(list)
    for kr_id, initiative_id in rows:
        result[kr_id].append(initiative_id)
    return result


async def initiative_progress(
    session: AsyncSession, initiative_id: int, ctx: RollupContext
) -> Rollup:
    initiative = await session.get(Initiative, initiative_id)
    if initiative is None:
        raise NotFound(f"initiative {initiative_id} does not exist")
    node = (await initiative_nodes(session, [initiative], ctx))[initiative_id]
    rollup = Rollup.model_validate(node.model_dump(exclude={"epics"}))
    rollup.forecast = await history.forecast(
        session,
        initiative_id,
        today=ctx.policy.today,
        weeks=ctx.forecast_weeks,
        target_date=initiative.target_date,
    )
    return rollup


async def key_result_progress(
    session: AsyncSession, key_result_id: int, ctx: RollupContext
) -> Rollup:
    kr = await session.get(KeyResult, key_result_id)
    if kr is None:
        raise NotFound(f"key result {key_result_id} does not exist")
    node = (await key_result_nodes(session, [kr], ctx))[key_result_id]
    return Rollup.model_validate(node.model_dump(exclude={"initiatives"}))


async def _objective_forest(
    session: AsyncSession, ctx: RollupContext
) -> tuple[dict[int, ObjectiveNode], list[ObjectiveNode]]:
    """Every objective's node, and the roots."""
    objectives = await _all(session, Objective)
    key_results = await _all(session, KeyResult)
    kr_nodes = await key_result_nodes(session, key_results, ctx)
    return _forest(objectives, key_results, kr_nodes, ctx)


def _forest(
    objectives: Sequence[Objective],
    key_results: Sequence[KeyResult],
    kr_nodes: dict[int, KeyResultNode],
    ctx: RollupContext,
    kr_initiatives: dict[int, list[int]] | None = None,
    init_nodes: dict[int, InitiativeNode] | None = None,
) -> tuple[dict[int, ObjectiveNode], list[ObjectiveNode]]:
    """Objective nodes over built key-result nodes; key results carry their initiatives if given."""
    by_objective: dict[int, list[tuple[KeyResult, KeyResultNode]]] = defaultdict(list)
    for kr in key_results:
        assert kr.id is not None
        node = kr_nodes[kr.id]
        if kr_initiatives is not None and init_nodes is not None:
            node.initiatives = [
                init_nodes[i] for i in kr_initiatives.get(kr.id, []) if i in init_nodes
            ]
        by_objective[kr.objective_id].append((kr, node))
    nodes = objective_nodes(objectives, by_objective, ctx)
    known = set(nodes)
    roots = [
        nodes[o.id]
        for o in objectives
        if o.id in nodes and (o.parent_id is None or o.parent_id not in known)
    ]
    return nodes, roots


async def objective_progress(
    session: AsyncSession, objective_id: int, ctx: RollupContext
) -> Rollup:
    if await session.get(Objective, objective_id) is None:
        raise NotFound(f"objective {objective_id} does not exist")
    nodes, _ = await _objective_forest(session, ctx)
    node = nodes[objective_id]
    return Rollup.model_validate(node.model_dump(exclude={"key_results", "objectives"}))


async def progress_at(
    session: AsyncSession, node_type: str, node_id: int, as_of: datetime
) -> Rollup:
    """The value recorded at or before `as_of` (history), as it was explained then."""
    model: type[Initiative] | type[KeyResult] | type[Objective] = {
        "initiative": Initiative,
        "key_result": KeyResult,
        "objective": Objective,
    }[node_type]  # type: ignore[assignment]
    label = node_type.replace("_", " ")
    if await session.get(model, node_id) is None:
        raise NotFound(f"{label} {node_id} does not exist")
    snapshot = await snapshots.at(session, node_type, node_id, as_of)
    if snapshot is None:
        raise NotFound(f"no progress of {label} {node_id} was recorded at or before {as_of}")
    return Rollup.model_validate(snapshot.details | {"as_of": snapshot.recorded_at})


_pause_depth = 0
_pause_restore = False


@asynccontextmanager
async def _gc_paused() -> AsyncIterator[None]:
    """Hold off CPython's cyclic GC while a tree is read and built.

    A tree read keeps ~30,000 objects (rows, tallies, nodes) alive until its response is sent.
    Collections meanwhile promoted them to the oldest generation, which then set off a full
    collection of the whole process heap every few reads: 50-350 ms pauses, the p99 of this
    endpoint. With collection held off they are freed by reference counting while still young.
    Nested and concurrent reads share the pause; the last one out switches collection back on
    (if it was on), also on error or cancellation. The young generations are collected first
    (cheap: little lives there between requests) so that the first collection after the pause
    is a young one again, which the tree survives only into generation 1 before it is freed.
    """
    global _pause_depth, _pause_restore
    if _pause_depth == 0:
        _pause_restore = gc.isenabled()
        if _pause_restore:
            gc.collect(1)
        gc.disable()
    _pause_depth += 1
    try:
        yield
    finally:
        _pause_depth -= 1
        if _pause_depth == 0 and _pause_restore:
            gc.enable()


async def portfolio(
    session: AsyncSession,
    ctx: RollupContext,
    *,
    objective_id: int | None = None,
    include_epics: bool = False,
) -> PortfolioTree:
    """Objectives → key results → initiatives (→ epics), progress and health at every node.

    Every read comes first (a constant number of queries), then the tree is built in one
    synchronous pass.
    """
    if objective_id is not None and await session.get(Objective, objective_id) is None:
        raise NotFound(f"objective {objective_id} does not exist")
    async with _gc_paused():
        return await _portfolio(session, ctx, objective_id, include_epics)


async def _portfolio(
    session: AsyncSession, ctx: RollupContext, objective_id: int | None, include_epics: bool
) -> PortfolioTree:
    initiatives = await _all(session, Initiative)
    key_results = await _all(session, KeyResult)
    objectives = await _all(session, Objective)
    init_tallies = await rollups.initiative_tallies(session)
    linked = [k.id for k in key_results if k.progress_source == ProgressSource.linked_work.value]
    kr_tallies = await rollups.key_result_tallies(session) if linked else {}
    epics: dict[int, list[tuple[int, str, str]]] = {}
    epic_tallies: dict[int, Tally] = {}
    if include_epics:
        epics = await rollups.linked_epics(session, [i.id for i in initiatives])
        epic_tallies = await rollups.epic_tallies(
            session, [e[0] for group in epics.values() for e in group]
        )
    kr_initiatives = await _kr_initiatives(session)
    init_nodes = _initiative_nodes(initiatives, init_tallies, ctx)
    for initiative_id, node in init_nodes.items():
        if include_epics:
            node.epics = [
                Rollup(
                    **_work_rollup(
                        "epic",
                        eid,
                        f"{key} {title}",
                        epic_tallies.get(eid) or Tally(),
                        None,
                        ctx,
                    )
                )
                for eid, key, title in epics.get(initiative_id, [])
            ]
    aligned = {i for initiative_ids in kr_initiatives.values() for i in initiative_ids}
    kr_nodes = _key_result_nodes(key_results, kr_tallies, ctx)
    nodes, roots = _forest(objectives, key_results, kr_nodes, ctx, kr_initiatives, init_nodes)
    if objective_id is not None:
        roots = [nodes[objective_id]]
    unaligned = (
        [n for i, n in init_nodes.items() if i not in aligned] if objective_id is None else []
    )
    return PortfolioTree(as_of=ctx.now, objectives=roots, unaligned_initiatives=unaligned)
