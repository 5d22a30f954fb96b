from typing import Annotated

from fastapi import APIRouter, Query

from schemas.api.feed import ChangePage, ChangePublic
from service.api.deps import (
    DatabaseDep,
    LimitDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    filter_id,
    filter_text,
)
from service.api.problems import PROBLEM_RESPONSES
from service.feed import reader

router = APIRouter(prefix="/api/v1/changes", tags=["change feed"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=ChangePage)
async def list_changes(
    session: SessionDep,
    db: DatabaseDep,
    settings: SettingsDep,
    _: ReaderDep,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Cursor: the `next_cursor` of the last page.")
    ] = 0,
    limit: LimitDep = 100,
    types: str | None = filter_text(
        "Comma-separated event types; `work_item.*` matches a family.", max_length=2000
    ),
    initiative_id: int | None = filter_id("The initiative, its linked work and its links."),
    objective_id: int | None = filter_id(
        "The objective, its key results, their initiatives and the work linked to them."
    ),
    wait: Annotated[
        float, Query(ge=0, le=30, description="Hold an empty answer up to this many seconds.")
    ] = 0,
) -> ChangePage:
    """The change feed in commit order; resumable from `next_cursor`, never skipping a change."""
    flt = reader.parse_filter(types, initiative_id, objective_id)
    rows, seen = await reader.read(session, after=after, limit=limit, flt=flt)
    if not rows and wait > 0:
        # The request's transaction ends here: a waiting reader must hold no lock (on SQLite
        # every transaction holds the write lock) and must see what commits meanwhile.
        await session.commit()
        rows = await reader.wait(
            db,
            after=after,
            limit=limit,
            flt=flt,
            wait=wait,
            poll=settings.feed_poll_seconds,
            seen=seen,
        )
    return ChangePage(
        items=[ChangePublic.model_validate(r) for r in rows],
        next_cursor=rows[-1].id if rows else after,
    )
