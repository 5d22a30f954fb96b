"""The portfolio page: objectives → key results → initiatives (→ epics), filterable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import SessionDep
from service.api.routes.portfolio import ContextDep
from service.portfolio import tree
from service.web.deps import ReaderPage, render

router = APIRouter()


@router.get("/")
async def portfolio_page(
    request: Request, user: ReaderPage, session: SessionDep, ctx: ContextDep
) -> Response:
    portfolio = await tree.portfolio(session, ctx, include_epics=True)
    return render(request, "portfolio.html", {"tree": portfolio})
