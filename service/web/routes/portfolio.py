"""The portfolio page: objectives → key results → initiatives (→ epics), filterable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import SessionDep
from service.api.routes.portfolio import ContextDep
from service.errors import NotFound
from service.portfolio import tree
from service.web import reader_queries
from service.web.deps import ReaderPage, render
from service.web.forms import parse, values_of
from service.web.portfolio_view import (
    EPICS_BY_DEFAULT_UP_TO,
    PortfolioFilters,
    TreeFilter,
    ViewBuilder,
    filter_tree,
    owner_choices,
)

router = APIRouter()


@router.get("/")
async def portfolio_page(
    request: Request, user: ReaderPage, session: SessionDep, ctx: ContextDep
) -> Response:
    typed = values_of(request.query_params)
    filters, errors = parse(PortfolioFilters, request.query_params)
    if filters is None:
        filters = PortfolioFilters()
    initiative_owner, objective_owner = await reader_queries.owners(session)
    epics = filters.epics_shown(len(initiative_owner))
    typed["epics"] = "shown" if epics else "hidden"
    try:
        portfolio = await tree.portfolio(
            session, ctx, objective_id=filters.objective_id, include_epics=epics
        )
    except NotFound as exc:
        errors["objective_id"] = exc.detail
        portfolio = await tree.portfolio(session, ctx, include_epics=epics)
    objectives, unaligned = filter_tree(
        portfolio.objectives,
        portfolio.unaligned_initiatives,
        TreeFilter(filters, initiative_owner, objective_owner),
    )
    views = ViewBuilder(initiative_owner, objective_owner)
    sources, rules = await reader_queries.setup_counts(session)
    return render(
        request,
        "portfolio.html",
        {
            "tree": portfolio,
            "objectives": [views.objective(o) for o in objectives],
            "unaligned": [views.initiative(i) for i in unaligned],
            "values": typed,
            "errors": errors,
            "filtered": filters.active or filters.objective_id is not None,
            "objective_choices": await reader_queries.objective_choices(session),
            "owner_choices": [(o, o) for o in owner_choices(initiative_owner, objective_owner)],
            "source_count": sources,
            "rule_count": rules,
            "epics_default_up_to": EPICS_BY_DEFAULT_UP_TO,
        },
        status_code=422 if errors else 200,
    )
