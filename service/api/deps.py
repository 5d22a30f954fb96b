"""Typed dependency aliases: sessions, callers and their roles, paging parameters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.common import MAX_ID
from schemas.enums import Role
from service.config import Settings
from service.errors import Forbidden, Unauthorized
from service.security import SecretBox
from service.sources.ssrf import Resolver
from service.store import api_keys
from service.store.api_keys import Principal
from service.store.db import Database
from service.store.pagination import DEFAULT_LIMIT, MAX_LIMIT

logger = logging.getLogger(__name__)

_RANK = {Role.reader: 0, Role.editor: 1, Role.admin: 2}

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


# Dependencies are coroutines: FastAPI runs plain `def` dependencies in a thread pool, a hop
# that costs more than these one-line lookups themselves.
def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_database(request: Request) -> Database:
    return database_of(request)


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # The request owns the transaction: committed before the response is sent, rolled back
    # on any error (the dependency uses scope="function" below for exactly that ordering).
    readonly = request.method in ("GET", "HEAD")
    async with database_of(request).session(readonly=readonly) as session:
        yield session


async def get_resolver(request: Request) -> Resolver | None:
    # Tests install a fake DNS resolver for the SSRF guard; production resolves with the loop.
    return getattr(request.app.state, "upstream_resolver", None)


DatabaseDep = Annotated[Database, Depends(get_database)]
ResolverDep = Annotated[Resolver | None, Depends(get_resolver)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    principal = await api_keys.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("the API key is not valid or has been revoked")
    if principal.touch_due:
        if request.method in ("GET", "HEAD"):
            # A read must not queue behind a writer just to record when the key was used.
            _touch_later(database_of(request), principal.key_id)
        else:
            await api_keys.touch(session, principal.key_id)
    request.state.principal = principal
    return principal


_pending_touches: set[asyncio.Task[None]] = set()


def _touch_later(db: Database, key_id: int) -> None:
    async def touch() -> None:
        try:
            async with db.session() as session:
                await api_keys.touch(session, key_id)
        except Exception:  # bookkeeping only: never fail or log a request for it
            logger.debug("could not record API key use", exc_info=True)

    task = asyncio.create_task(touch())
    _pending_touches.add(task)
    task.add_done_callback(_pending_touches.discard)


def has_role(principal: Principal, role: Role) -> bool:
    """Roles rank reader < editor < admin; a higher role may do everything a lower one may."""
    return _RANK[principal.role] >= _RANK[role]


def require(role: Role) -> object:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not has_role(principal, role):
            raise Forbidden(
                f"this operation needs the {role.value} role; the key has {principal.role.value}"
            )
        return principal

    return Depends(check)


ReaderDep = Annotated[Principal, require(Role.reader)]
EditorDep = Annotated[Principal, require(Role.editor)]
AdminDep = Annotated[Principal, require(Role.admin)]

LimitDep = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})."),
]
CursorDep = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` from the previous page.")
]


def api_cause(principal: Principal) -> str:
    return f"api:{principal.name}"


PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
BigPathId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def filter_id(description: str) -> Any:
    return Query(default=None, ge=1, le=MAX_ID, description=description)


def filter_text(description: str, max_length: int = 200) -> Any:
    return Query(
        default=None, max_length=max_length, pattern=r"^[^\x00]*$", description=description
    )
