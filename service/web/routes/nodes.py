"""Initiative, key result and objective pages, and the editors' link and exclude actions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import LinkTarget
from schemas.tables import Initiative, KeyResult, Objective
from service.api.deps import BigPathId, PathId, SessionDep
from service.api.routes.portfolio import ContextDep
from service.errors import NotFound, ServiceError
from service.portfolio import links, tree
from service.portfolio.tree import RollupContext
from service.web import node_view, reader_queries
from service.web.deps import CsrfForm, EditorPage, ReaderPage, WebUser, redirect, render
from service.web.forms import service_errors, values_of

router = APIRouter()

LinkedType = Literal["initiative", "key_result"]
_PATHS = {"initiative": "/initiatives", "key_result": "/key-results", "objective": "/objectives"}
_MODELS: dict[str, Any] = {
    "initiative": Initiative,
    "key_result": KeyResult,
    "objective": Objective,
}


def _measure(request: Request) -> str:
    return "points" if request.query_params.get("measure") == "points" else "items"


async def _row(session: AsyncSession, node_type: str, node_id: int) -> Any:
    row = await session.get(_MODELS[node_type], node_id)
    if row is None:
        raise NotFound(f"{node_type.replace('_', ' ')} {node_id} does not exist")
    return row


async def _rollup(session: AsyncSession, node_type: str, node_id: int, ctx: RollupContext) -> Any:
    if node_type == "initiative":
        return await tree.initiative_progress(session, node_id, ctx)
    if node_type == "key_result":
        return await tree.key_result_progress(session, node_id, ctx)
    return await tree.objective_progress(session, node_id, ctx)


async def _page(
    request: Request,
    session: AsyncSession,
    ctx: RollupContext,
    node_type: node_view.NodeType,
    node_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    row = await _row(session, node_type, node_id)
    node = await _rollup(session, node_type, node_id, ctx)
    context: dict[str, Any] = {
        "node_type": node_type,
        "row": row,
        "node": node,
        "base_path": f"{_PATHS[node_type]}/{node_id}",
        "chart": await node_view.chart(
            session,
            node_type,
            node,
            today=ctx.now.date(),
            measure=_measure(request),
        ),
        "changes": await node_view.recent_changes(session, node_type, node_id),
        "describe_change": node_view.describe_change,
        "values": values or {},
        "errors": errors or {},
    }
    if node_type == "initiative" or node_type == "key_result":
        context["items"] = await node_view.linked_items(
            session,
            node_type,
            node_id,
            request.query_params.get("cursor"),
        )
    if node_type == "initiative":
        context["key_results"] = await reader_queries.key_results_of_initiative(session, node_id)
    if node_type in ("key_result", "objective"):
        parts = node.explanation.components or []
        context["component_titles"] = await _component_titles(session, parts)
    return render(request, "node.html", context, status_code=status_code)


async def _component_titles(session: AsyncSession, parts: list[Any]) -> dict[tuple[str, int], str]:
    titles: dict[tuple[str, int], str] = {}
    for part in parts:
        row = await session.get(_MODELS[part.node_type], part.node_id)
        if row is not None:
            titles[(part.node_type, part.node_id)] = row.title
    return titles


@router.get("/initiatives/{node_id}")
async def initiative_page(
    request: Request, node_id: PathId, user: ReaderPage, session: SessionDep, ctx: ContextDep
) -> Response:
    return await _page(request, session, ctx, "initiative", node_id)


@router.get("/key-results/{node_id}")
async def key_result_page(
    request: Request, node_id: PathId, user: ReaderPage, session: SessionDep, ctx: ContextDep
) -> Response:
    return await _page(request, session, ctx, "key_result", node_id)


@router.get("/objectives/{node_id}")
async def objective_page(
    request: Request, node_id: PathId, user: ReaderPage, session: SessionDep, ctx: ContextDep
) -> Response:
    return await _page(request, session, ctx, "objective", node_id)


async def _link(
    request: Request,
    session: AsyncSession,
    ctx: RollupContext,
    user: WebUser,
    form: Any,
    node_type: LinkedType,
    node_id: int,
) -> Response:
    await _row(session, node_type, node_id)
    values = values_of(form)
    action = values.get("action", "link")
    reference = values.get("item", "").strip()
    if not reference:
        errors = {"item": "enter a work item key (e.g. PROJ-12) or id"}
        return await _page(
            request, session, ctx, node_type, node_id, values=values, errors=errors, status_code=422
        )
    try:
        item_id = await reader_queries.find_item(session, reference)
        await links.put_manual(
            session,
            LinkTarget(node_type),
            node_id,
            item_id,
            exclude=action == "exclude",
            author=user.cause,
        )
    except ServiceError as exc:
        errors = service_errors(exc)
        if "__all__" in errors:
            errors = {"item": errors["__all__"]}
        return await _page(
            request,
            session,
            ctx,
            node_type,
            node_id,
            values=values,
            errors=errors,
            status_code=exc.status,
        )
    return redirect(f"{_PATHS[node_type]}/{node_id}#items")


async def _exclude(
    session: AsyncSession, user: WebUser, node_type: LinkedType, node_id: int, item_id: int
) -> Response:
    await links.put_manual(
        session, LinkTarget(node_type), node_id, item_id, exclude=True, author=user.cause
    )
    return redirect(f"{_PATHS[node_type]}/{node_id}#items")


async def _remove(
    session: AsyncSession, user: WebUser, node_type: LinkedType, node_id: int, item_id: int
) -> Response:
    await links.delete_manual(session, LinkTarget(node_type), node_id, item_id, author=user.cause)
    return redirect(f"{_PATHS[node_type]}/{node_id}#items")


@router.post("/initiatives/{node_id}/links")
async def initiative_link(
    request: Request,
    node_id: PathId,
    user: EditorPage,
    form: CsrfForm,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    return await _link(request, session, ctx, user, form, "initiative", node_id)


@router.post("/key-results/{node_id}/links")
async def key_result_link(
    request: Request,
    node_id: PathId,
    user: EditorPage,
    form: CsrfForm,
    session: SessionDep,
    ctx: ContextDep,
) -> Response:
    return await _link(request, session, ctx, user, form, "key_result", node_id)


@router.post("/initiatives/{node_id}/links/{item_id}/exclude")
async def initiative_exclude(
    node_id: PathId, item_id: BigPathId, user: EditorPage, form: CsrfForm, session: SessionDep
) -> Response:
    return await _exclude(session, user, "initiative", node_id, item_id)


@router.post("/key-results/{node_id}/links/{item_id}/exclude")
async def key_result_exclude(
    node_id: PathId, item_id: BigPathId, user: EditorPage, form: CsrfForm, session: SessionDep
) -> Response:
    return await _exclude(session, user, "key_result", node_id, item_id)


@router.post("/initiatives/{node_id}/links/{item_id}/remove")
async def initiative_remove(
    node_id: PathId, item_id: BigPathId, user: EditorPage, form: CsrfForm, session: SessionDep
) -> Response:
    return await _remove(session, user, "initiative", node_id, item_id)


@router.post("/key-results/{node_id}/links/{item_id}/remove")
async def key_result_remove(
    node_id: PathId, item_id: BigPathId, user: EditorPage, form: CsrfForm, session: SessionDep
) -> Response:
    return await _remove(session, user, "key_result", node_id, item_id)
