from fastapi import APIRouter

from schemas.api.sources import RunPublic
from service.api.deps import AdminDep, BigPathId, SessionDep
from service.api.problems import PROBLEM_RESPONSES
from service.sync import store as sync_store

router = APIRouter(
    prefix="/api/v1/admin/runs", tags=["admin: sync runs"], responses=PROBLEM_RESPONSES
)


@router.get("/{run_id}", response_model=RunPublic)
async def get_run(run_id: BigPathId, session: SessionDep, _: AdminDep) -> RunPublic:
    return RunPublic.model_validate(await sync_store.get_run(session, run_id))
