from fastapi import APIRouter, Response

from schemas.api.common import Page
from schemas.api.portfolio import InitiativeCreate, InitiativePublic, InitiativeUpdate
from service.api.deps import (
    CursorDep,
    EditorDep,
    LimitDep,
    PathId,
    ReaderDep,
    SessionDep,
    api_cause,
    filter_id,
)
from service.api.problems import PROBLEM_RESPONSES
from service.portfolio import initiatives

router = APIRouter(prefix="/api/v1/initiatives", tags=["initiatives"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[InitiativePublic])
async def list_initiatives(
    session: SessionDep,
    _: ReaderDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    key_result_id: int | None = filter_id("Only those linked to it."),
) -> Page[InitiativePublic]:
    rows, next_cursor = await initiatives.list_page(
        session, limit=limit, cursor=cursor, key_result_id=key_result_id
    )
    return Page(items=await initiatives.to_public(session, rows), next_cursor=next_cursor)


@router.post("", response_model=InitiativePublic, status_code=201)
async def create_initiative(
    body: InitiativeCreate, session: SessionDep, principal: EditorDep
) -> InitiativePublic:
    row = await initiatives.create(session, body, cause=api_cause(principal))
    return (await initiatives.to_public(session, [row]))[0]


@router.get("/{initiative_id}", response_model=InitiativePublic)
async def get_initiative(
    initiative_id: PathId, session: SessionDep, _: ReaderDep
) -> InitiativePublic:
    row = await initiatives.get(session, initiative_id)
    return (await initiatives.to_public(session, [row]))[0]


@router.patch("/{initiative_id}", response_model=InitiativePublic)
async def update_initiative(
    initiative_id: PathId, body: InitiativeUpdate, session: SessionDep, principal: EditorDep
) -> InitiativePublic:
    row = await initiatives.update(session, initiative_id, body, cause=api_cause(principal))
    return (await initiatives.to_public(session, [row]))[0]


@router.delete("/{initiative_id}", status_code=204, response_class=Response)
async def delete_initiative(
    initiative_id: PathId, session: SessionDep, principal: EditorDep
) -> None:
    await initiatives.delete(session, initiative_id, cause=api_cause(principal))
