"""Work items: search with the API's filters and cursor paging; one item with links and history."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import Id, NoNul
from schemas.enums import StatusCategory
from service.api.deps import BigPathId, SessionDep
from service.errors import Unprocessable
from service.portfolio import links
from service.store import work_item_queries
from service.store.work_item_queries import WorkItemFilters
from service.web import reader_queries
from service.web.deps import ReaderPage, render
from service.web.forms import parse, values_of

router = APIRouter()

PAGE_SIZE = 50
_Text = Annotated[str | None, NoNul]


class WorkItemSearch(BaseModel):
    """The search form: the filters of `GET /api/v1/work-items`, validated the same way."""

    model_config = ConfigDict(extra="ignore")

    q: _Text = Field(default=None, max_length=200)
    source_id: Id | None = None
    kind: _Text = Field(default=None, max_length=32)
    status_category: StatusCategory | None = None
    initiative_id: Id | None = None
    cursor: _Text = Field(default=None, max_length=200)

    def filters(self) -> WorkItemFilters:
        return WorkItemFilters(
            source_id=self.source_id,
            kind=self.kind,
            status_category=self.status_category,
            initiative_id=self.initiative_id,
            q=self.q,
        )

    def query(self, **changes: Any) -> str:
        values = self.model_dump(exclude_none=True, mode="json") | changes
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@router.get("/work-items")
async def work_items_page(request: Request, user: ReaderPage, session: SessionDep) -> Response:
    typed = values_of(request.query_params)
    search, errors = parse(WorkItemSearch, request.query_params)
    rows: list[Any] = []
    next_cursor = None
    if search is not None:
        try:
            found, next_cursor = await work_item_queries.list_page(
                session, search.filters(), limit=PAGE_SIZE, cursor=search.cursor
            )
            rows = list(found)
        except Unprocessable as exc:  # a cursor that is not one of ours
            errors = {"cursor": exc.detail}
    sources = await reader_queries.source_choices(session)
    return render(
        request,
        "work_items.html",
        {
            "rows": rows,
            "values": typed,
            "errors": errors,
            "search": search,
            "next_query": search.query(cursor=next_cursor) if search and next_cursor else None,
            "first_query": search.query(cursor=None) if search and search.cursor else None,
            "source_choices": sources,
            "source_names": dict(sources),
            "initiative_choices": await reader_queries.initiative_choices(session),
            "kind_choices": [(k, k) for k in await reader_queries.kind_choices(session)],
            "status_choices": [(c.value, c.value.replace("_", " ")) for c in StatusCategory],
        },
        status_code=422 if errors else 200,
    )


@router.get("/work-items/{item_id}")
async def work_item_page(
    request: Request, item_id: BigPathId, user: ReaderPage, session: SessionDep
) -> Response:
    item = await work_item_queries.get(session, item_id)
    item_links = await links.item_links(session, item_id)
    titles = await reader_queries.target_titles(
        session, [(link.target_type, link.target_id) for link in item_links]
    )
    parent = await work_item_queries.get(session, item.parent_id) if item.parent_id else None
    sources = dict(await reader_queries.source_choices(session))
    return render(
        request,
        "work_item.html",
        {
            "item": item,
            "parent": parent,
            "source_name": sources.get(item.source_id, str(item.source_id)),
            "links": item_links,
            "titles": titles,
            "changes": await reader_queries.item_history(session, item_id),
        },
    )
