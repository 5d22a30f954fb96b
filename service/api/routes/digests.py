from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from schemas.api.common import Page
from schemas.api.feed import (
    Digest,
    DigestScheduleCreate,
    DigestSchedulePublic,
    DigestScheduleUpdate,
)
from service.api.deps import AdminDep, CursorDep, LimitDep, PathId, ReaderDep, SessionDep
from service.api.problems import PROBLEM_RESPONSES
from service.digests import schedules
from service.digests.service import digest

router = APIRouter(tags=["digests"], responses=PROBLEM_RESPONSES)
SCHEDULES = "/api/v1/admin/digest-schedules"


@router.get(
    "/api/v1/digests",
    response_model=Digest,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
)
async def get_digest(
    session: SessionDep,
    _: ReaderDep,
    scope: Annotated[
        str,
        Query(
            max_length=40,
            pattern=r"^(portfolio|initiative:[0-9]+|objective:[0-9]+)$",
            description="`portfolio`, `initiative:<id>` or `objective:<id>`",
        ),
    ] = "portfolio",
    since: Annotated[
        datetime | None, Query(description="Start of the window (default: 7 days ago).")
    ] = None,
    format: Annotated[Literal["markdown", "json"], Query()] = "json",
) -> Response | Digest:
    """What moved in a scope since `since`: progress and health, completed, added, slipped."""
    result, markdown = await digest(session, scope, since)
    if format == "markdown":
        return Response(markdown, media_type="text/markdown; charset=utf-8")
    return result


@router.get(SCHEDULES, response_model=Page[DigestSchedulePublic], tags=["admin: digests"])
async def list_schedules(
    session: SessionDep, _: AdminDep, limit: LimitDep = 50, cursor: CursorDep = None
) -> Page[DigestSchedulePublic]:
    rows, next_cursor = await schedules.list_page(session, limit=limit, cursor=cursor)
    return Page(
        items=[DigestSchedulePublic.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post(
    SCHEDULES, response_model=DigestSchedulePublic, status_code=201, tags=["admin: digests"]
)
async def create_schedule(
    body: DigestScheduleCreate, session: SessionDep, _: AdminDep
) -> DigestSchedulePublic:
    """Each run delivers a `digest.ready` event (with a Markdown `text`) to the subscription."""
    return DigestSchedulePublic.model_validate(await schedules.create(session, body))


@router.get(
    SCHEDULES + "/{schedule_id}", response_model=DigestSchedulePublic, tags=["admin: digests"]
)
async def get_schedule(
    schedule_id: PathId, session: SessionDep, _: AdminDep
) -> DigestSchedulePublic:
    return DigestSchedulePublic.model_validate(await schedules.get(session, schedule_id))


@router.patch(
    SCHEDULES + "/{schedule_id}", response_model=DigestSchedulePublic, tags=["admin: digests"]
)
async def update_schedule(
    schedule_id: PathId, body: DigestScheduleUpdate, session: SessionDep, _: AdminDep
) -> DigestSchedulePublic:
    return DigestSchedulePublic.model_validate(await schedules.update(session, schedule_id, body))


@router.delete(
    SCHEDULES + "/{schedule_id}",
    status_code=204,
    response_class=Response,
    tags=["admin: digests"],
)
async def delete_schedule(schedule_id: PathId, session: SessionDep, _: AdminDep) -> None:
    await schedules.delete(session, schedule_id)
