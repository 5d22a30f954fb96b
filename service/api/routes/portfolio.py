from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from schemas.api.common import MAX_ID
from schemas.api.history import HistorySeries, Step
from schemas.api.rollups import Allocation, PortfolioTree, Rollup
from schemas.api.rules import ItemLinkPublic, LinkPublic, ManualLinkRequest
from schemas.enums import LinkTarget
from schemas.types import utcnow
from service.api.deps import (
    BigPathId,
    EditorDep,
    PathId,
    ReaderDep,
    SessionDep,
    SettingsDep,
    filter_id,
)
from service.api.problems import PROBLEM_RESPONSES
from service.portfolio import allocation, history, links, tree
from service.portfolio.allocation import GroupBy
from service.portfolio.rollups import HealthPolicy

router = APIRouter(prefix="/api/v1", tags=["portfolio"], responses=PROBLEM_RESPONSES)


async def get_context(request: Request, settings: SettingsDep) -> tree.RollupContext:
    # Tests pin "now" by setting app.state.clock; production uses the wall clock.
    clock = getattr(request.app.state, "clock", None)
    now = clock() if clock is not None else utcnow()
    policy = HealthPolicy(
        today=now.date(),
        at_risk_margin=settings.health_at_risk_margin,
        off_track_margin=settings.health_off_track_margin,
    )
    return tree.RollupContext(
        now=now,
        policy=policy,
        snapshot_interval_seconds=settings.snapshot_interval_seconds,
        forecast_weeks=settings.forecast_weeks,
    )


ContextDep = Annotated[tree.RollupContext, Depends(get_context)]
AsOf = Annotated[
    datetime | None,
    Query(description="Return the value recorded at or before this time (ISO 8601)."),
]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_HISTORY_TYPES = {
    "initiatives": "initiative",
    "key-results": "key_result",
    "objectives": "objective",
}


def _history_route(collection: str) -> None:
    node_type = _HISTORY_TYPES[collection]
    label = node_type.replace("_", " ")

    async def node_history(
        node_id: Annotated[int, Path(ge=1, le=MAX_ID, description=f"The {label} id.")],
        session: SessionDep,
        _: ReaderDep,
        start: Annotated[date, Query(alias="from", description="First day (UTC).")],
        end: Annotated[date | None, Query(alias="to", description="Last day (UTC); today.")] = None,
        step: Annotated[Step, Query(description="One point per day or per week.")] = "day",
    ) -> HistorySeries:
        return await history.series(
            session, node_type, node_id, start=start, end=end or utcnow().date(), step=step
        )

    node_history.__doc__ = (
        f"Burn-up series of a {label}: done and scope (counts and points), progress and health "
        "at the end of each day or week, carried forward between recorded points (no gaps)."
    )
    router.add_api_route(
        f"/{collection}/{{node_id}}/history",
        node_history,
        methods=["GET"],
        response_model=HistorySeries,
        response_model_by_alias=True,
        name=f"{node_type}_history",
    )


for _collection in _HISTORY_TYPES:
    _history_route(_collection)


@router.get("/initiatives/{initiative_id}/progress", response_model=Rollup)
async def initiative_progress(
    initiative_id: PathId, session: SessionDep, _: ReaderDep, ctx: ContextDep, as_of: AsOf = None
) -> Rollup:
    """Progress (by count and by points) and health of an initiative, explained."""
    if as_of is not None:
        return await tree.progress_at(session, "initiative", initiative_id, _utc(as_of))
    return await tree.initiative_progress(session, initiative_id, ctx)


@router.get("/key-results/{key_result_id}/progress", response_model=Rollup)
async def key_result_progress(
    key_result_id: PathId, session: SessionDep, _: ReaderDep, ctx: ContextDep, as_of: AsOf = None
) -> Rollup:
    """Manual metric or linked-work progress of a key result, with health, explained."""
    if as_of is not None:
        return await tree.progress_at(session, "key_result", key_result_id, _utc(as_of))
    return await tree.key_result_progress(session, key_result_id, ctx)


@router.get("/objectives/{objective_id}/progress", response_model=Rollup)
async def objective_progress(
    objective_id: PathId, session: SessionDep, _: ReaderDep, ctx: ContextDep, as_of: AsOf = None
) -> Rollup:
    """Weighted mean of the objective's key results and child objectives, explained."""
    if as_of is not None:
        return await tree.progress_at(session, "objective", objective_id, _utc(as_of))
    return await tree.objective_progress(session, objective_id, ctx)


@router.get("/portfolio", response_model=PortfolioTree)
async def portfolio_tree(
    session: SessionDep,
    _: ReaderDep,
    ctx: ContextDep,
    objective_id: int | None = filter_id("Only this objective's subtree."),
    include_epics: bool = Query(default=False, description="Add each initiative's epics."),
) -> PortfolioTree:
    """Objectives → key results → initiatives (→ epics) with progress and health."""
    return await tree.portfolio(
        session, ctx, objective_id=objective_id, include_epics=include_epics
    )


@router.get("/portfolio/allocation", response_model=Allocation)
async def portfolio_allocation(
    session: SessionDep, _: ReaderDep, ctx: ContextDep, group_by: GroupBy = "assignee"
) -> Allocation:
    """Open items and points per initiative per group; unlinked work shows as `unplanned`."""
    return await allocation.allocation(session, group_by, now=ctx.now)


@router.get("/work-items/{item_id}/links", response_model=list[ItemLinkPublic])
async def work_item_links(
    item_id: BigPathId, session: SessionDep, _: ReaderDep
) -> list[ItemLinkPublic]:
    """The item's stored links and those it inherits from its nearest linked ancestor."""
    return await links.item_links(session, item_id)


_Body = Annotated[ManualLinkRequest | None, Body()]


async def _put(
    target: LinkTarget,
    target_id: int,
    item_id: int,
    body: ManualLinkRequest | None,
    session: SessionDep,
    principal: EditorDep,
) -> LinkPublic:
    link = await links.put_manual(
        session,
        target,
        target_id,
        item_id,
        exclude=body.exclude if body is not None else False,
        author=principal.name,
    )
    return LinkPublic.model_validate(link)


@router.put("/initiatives/{initiative_id}/work-items/{item_id}", response_model=LinkPublic)
async def link_to_initiative(
    initiative_id: PathId,
    item_id: BigPathId,
    session: SessionDep,
    principal: EditorDep,
    body: _Body = None,
) -> LinkPublic:
    """Link by hand (`{"exclude": true}` keeps it out instead); manual beats rules."""
    return await _put(LinkTarget.initiative, initiative_id, item_id, body, session, principal)


@router.delete(
    "/initiatives/{initiative_id}/work-items/{item_id}", status_code=204, response_class=Response
)
async def unlink_from_initiative(
    initiative_id: PathId, item_id: BigPathId, session: SessionDep, principal: EditorDep
) -> None:
    await links.delete_manual(
        session, LinkTarget.initiative, initiative_id, item_id, author=principal.name
    )


@router.put("/key-results/{key_result_id}/work-items/{item_id}", response_model=LinkPublic)
async def link_to_key_result(
    key_result_id: PathId,
    item_id: BigPathId,
    session: SessionDep,
    principal: EditorDep,
    body: _Body = None,
) -> LinkPublic:
    """Link by hand (`{"exclude": true}` keeps it out instead); manual beats rules."""
    return await _put(LinkTarget.key_result, key_result_id, item_id, body, session, principal)


@router.delete(
    "/key-results/{key_result_id}/work-items/{item_id}", status_code=204, response_class=Response
)
async def unlink_from_key_result(
    key_result_id: PathId, item_id: BigPathId, session: SessionDep, principal: EditorDep
) -> None:
    await links.delete_manual(
        session, LinkTarget.key_result, key_result_id, item_id, author=principal.name
    )
