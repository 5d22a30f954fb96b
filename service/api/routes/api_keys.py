from fastapi import APIRouter

from schemas.api.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from schemas.api.common import Page
from service.api.deps import AdminDep, CursorDep, LimitDep, PathId, SessionDep
from service.api.problems import PROBLEM_RESPONSES
from service.store import api_keys

router = APIRouter(
    prefix="/api/v1/admin/api-keys", tags=["admin: API keys"], responses=PROBLEM_RESPONSES
)


@router.get("", response_model=Page[ApiKeyPublic])
async def list_api_keys(
    session: SessionDep, _: AdminDep, limit: LimitDep = 50, cursor: CursorDep = None
) -> Page[ApiKeyPublic]:
    rows, next_cursor = await api_keys.list_page(session, limit=limit, cursor=cursor)
    return Page(items=[ApiKeyPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", response_model=ApiKeyCreated, status_code=201)
async def create_api_key(body: ApiKeyCreate, session: SessionDep, _: AdminDep) -> ApiKeyCreated:
    row, key = await api_keys.create(session, body.name, body.role)
    return ApiKeyCreated.model_validate(
        ApiKeyPublic.model_validate(row).model_dump() | {"key": key}
    )


@router.post("/{key_id}/revoke", response_model=ApiKeyPublic)
async def revoke_api_key(key_id: PathId, session: SessionDep, _: AdminDep) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(await api_keys.revoke(session, key_id))


@router.delete("/{key_id}", response_model=ApiKeyPublic)
async def delete_api_key(key_id: PathId, session: SessionDep, _: AdminDep) -> ApiKeyPublic:
    """Revokes the key (the row is kept for audit)."""
    return ApiKeyPublic.model_validate(await api_keys.revoke(session, key_id))
