from fastapi import APIRouter, Response

from schemas.api.common import Page
from schemas.api.portfolio import KeyResultCreate, KeyResultPublic, KeyResultUpdate
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
from service.portfolio import key_results

router = APIRouter(prefix="/api/v1/key-results", tags=["key results"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[KeyResultPublic])
async def list_key_results(
    session: SessionDep,
    _: ReaderDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    objective_id: int | None = filter_id("Only this objective's."),
) -> Page[KeyResultPublic]:
    rows, next_cursor = await key_results.list_page(
        session, limit=limit, cursor=cursor, objective_id=objective_id
    )
    return Page(items=[KeyResultPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", response_model=KeyResultPublic, status_code=201)
async def create_key_result(
    body: KeyResultCreate, session: SessionDep, principal: EditorDep
) -> KeyResultPublic:
    row = await key_results.create(session, body, cause=api_cause(principal))
    return KeyResultPublic.model_validate(row)


@router.get("/{key_result_id}", response_model=KeyResultPublic)
async def get_key_result(
    key_result_id: PathId, session: SessionDep, _: ReaderDep
) -> KeyResultPublic:
    return KeyResultPublic.model_validate(await key_results.get(session, key_result_id))


@router.patch("/{key_result_id}", response_model=KeyResultPublic)
async def update_key_result(
    key_result_id: PathId, body: KeyResultUpdate, session: SessionDep, principal: EditorDep
) -> KeyResultPublic:
    row = await key_results.update(session, key_result_id, body, cause=api_cause(principal))
    return KeyResultPublic.model_validate(row)


@router.delete("/{key_result_id}", status_code=204, response_class=Response)
async def delete_key_result(
    key_result_id: PathId, session: SessionDep, principal: EditorDep
) -> None:
    await key_results.delete(session, key_result_id, cause=api_cause(principal))
