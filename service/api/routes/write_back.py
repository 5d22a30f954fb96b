"""Admin: write-back settings per source, the preview, and the log of upstream writes."""

from typing import Literal

from fastapi import APIRouter

from schemas.api.common import Page
from schemas.api.write_back import WriteBackConfig, WriteBackPreview, WriteBackWritePublic
from service.api.deps import AdminDep, CursorDep, LimitDep, PathId, SessionDep, filter_id
from service.api.problems import PROBLEM_RESPONSES
from service.writeback import store

router = APIRouter(prefix="/api/v1/admin", tags=["admin: write-back"], responses=PROBLEM_RESPONSES)


@router.get("/sources/{source_id}/write-back", response_model=WriteBackConfig)
async def get_write_back(source_id: PathId, session: SessionDep, _: AdminDep) -> WriteBackConfig:
    return await store.get_config(session, source_id)


@router.put("/sources/{source_id}/write-back", response_model=WriteBackConfig)
async def put_write_back(
    source_id: PathId, body: WriteBackConfig, session: SessionDep, principal: AdminDep
) -> WriteBackConfig:
    """Turn write-back on or off and set its labels and conflict policy (off by default)."""
    return await store.put_config(session, source_id, body, author=principal.name)


@router.get("/sources/{source_id}/write-back/preview", response_model=WriteBackPreview)
async def preview_write_back(
    source_id: PathId, session: SessionDep, _: AdminDep
) -> WriteBackPreview:
    """The label additions and removals the worker would make now; writes nothing."""
    return await store.preview(session, source_id)


@router.get("/write-back/writes", response_model=Page[WriteBackWritePublic])
async def list_write_back_writes(
    session: SessionDep,
    _: AdminDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    source_id: int | None = filter_id("Only writes to this source."),
    work_item_id: int | None = filter_id("Only writes to this work item."),
    status: Literal["done", "failed"] | None = None,
    operation: Literal["add", "remove", "create_label", "set"] | None = None,
) -> Page[WriteBackWritePublic]:
    rows, next_cursor = await store.list_writes(
        session,
        limit=limit,
        cursor=cursor,
        source_id=source_id,
        work_item_id=work_item_id,
        status=status,
        operation=operation,
    )
    return Page(
        items=[WriteBackWritePublic.model_validate(r) for r in rows], next_cursor=next_cursor
    )
