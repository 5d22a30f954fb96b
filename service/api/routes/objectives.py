from fastapi import APIRouter, Response

from schemas.api.common import Page
from schemas.api.portfolio import ObjectiveCreate, ObjectivePublic, ObjectiveUpdate
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
from service.portfolio import objectives

router = APIRouter(prefix="/api/v1/objectives", tags=["objectives"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[ObjectivePublic])
async def list_objectives(
    session: SessionDep,
    _: ReaderDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
    parent_id: int | None = filter_id("Only children of this objective."),
) -> Page[ObjectivePublic]:
    rows, next_cursor = await objectives.list_page(
        session, limit=limit, cursor=cursor, parent_id=parent_id
    )
    return Page(items=[ObjectivePublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", response_model=ObjectivePublic, status_code=201)
async def create_objective(
    body: ObjectiveCreate, session: SessionDep, principal: EditorDep
) -> ObjectivePublic:
    row = await objectives.create(session, body, cause=api_cause(principal))
    return ObjectivePublic.model_validate(row)


@router.get("/{objective_id}", response_model=ObjectivePublic)
async def get_objective(objective_id: PathId, session: SessionDep, _: ReaderDep) -> ObjectivePublic:
    return ObjectivePublic.model_validate(await objectives.get(session, objective_id))


@router.patch("/{objective_id}", response_model=ObjectivePublic)
async def update_objective(
    objective_id: PathId, body: ObjectiveUpdate, session: SessionDep, principal: EditorDep
) -> ObjectivePublic:
    row = await objectives.update(session, objective_id, body, cause=api_cause(principal))
    return ObjectivePublic.model_validate(row)


@router.delete("/{objective_id}", status_code=204, response_class=Response)
async def delete_objective(objective_id: PathId, session: SessionDep, principal: EditorDep) -> None:
    await objectives.delete(session, objective_id, cause=api_cause(principal))
