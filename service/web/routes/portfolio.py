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
    PortfolioFilters,
    TreeFilter,
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
    try:
        portfolio = await tree.portfolio(
            session, ctx, objective_id=filters.objective_id, include_epics=True
        )
    except NotFound as exc:
        errors["objective_id"] = exc.detail
        portfolio = await tree.portfolio(session, ctx, include_epics=True)
    initiative_owner, objective_owner = await reader_queries.owners(session)
    objectives, unaligned = filter_tree(
        portfolio.objectives,
        portfolio.unaligned_initiatives,
        TreeFilter(filters, initiative_owner, objective_owner),
    )
    sources, rules = await reader_queries.setup_counts(session)
    return render(
        request,
        "portfolio.html",
        {
            "tree": portfolio,
            "objectives": objectives,
            "unaligned": unaligned,
            "initiative_owner": initiative_owner,
            "objective_owner": objective_owner,
            "values": typed,
            "errors": errors,
            "filtered": filters.active or filters.objective_id is not None,
            "objective_choices": await reader_queries.objective_choices(session),
            "owner_choices": [(o, o) for o in owner_choices(initiative_owner, objective_owner)],
            "source_count": sources,
            "rule_count": rules,
        },
        status_code=422 if errors else 200,
    )
