from datetime import UTC, datetime

from fastapi import APIRouter, Query

from schemas.api.common import Page
from schemas.api.work_items import WorkItemPublic
from schemas.enums import StatusCategory
from service.api.deps import (
    BigPathId,
    CursorDep,
    LimitDep,
    ReaderDep,
    SessionDep,
    filter_id,
    filter_text,
)
from service.api.problems import PROBLEM_RESPONSES
from service.store import work_item_queries
from service.store.work_item_queries import WorkItemFilters

router = APIRouter(prefix="/api/v1/work-items", tags=["work items"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[WorkItemPublic])
async def list_work_items(
    session: SessionDep,
    _: ReaderDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    source_id: int | None = filter_id("Only items of this source."),
    kind: str | None = filter_text("Item kind, e.g. epic.", 32),
    status_category: StatusCategory | None = None,
    initiative_id: int | None = filter_id("Only items linked to this initiative."),
    key_result_id: int | None = filter_id("Only items linked to this key result."),
    updated_since: datetime | None = Query(
        default=None, description="Upstream updated at or after (ISO 8601 with offset)."
    ),
    q: str | None = filter_text("Search in title and key."),
    include_deleted: bool = Query(default=False, description="Include tombstoned items."),
) -> Page[WorkItemPublic]:
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    filters = WorkItemFilters(
        source_id=source_id,
        kind=kind,
        status_category=status_category,
        initiative_id=initiative_id,
        key_result_id=key_result_id,
        updated_since=updated_since,
        q=q,
        include_deleted=include_deleted,
    )
    rows, next_cursor = await work_item_queries.list_page(
        session, filters, limit=limit, cursor=cursor
    )
    return Page(items=[WorkItemPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{item_id}", response_model=WorkItemPublic)
async def get_work_item(item_id: BigPathId, session: SessionDep, _: ReaderDep) -> WorkItemPublic:
    return WorkItemPublic.model_validate(await work_item_queries.get(session, item_id))
