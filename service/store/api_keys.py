"""API keys: created with a role, stored hashed, shown once, revocable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.enums import Role
from schemas.tables import ApiKey
from schemas.types import utcnow
from service.errors import Conflict
from service.security import api_key_prefix, hash_api_key, new_api_key
from service.store.pagination import paginate
from service.store.repository import get_or_404

# Recording every use would turn each read request into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass
class Principal:
    """Who is calling: the key's name and role."""

    key_id: int
    name: str
    role: Role
    touch_due: bool = False


async def create(session: AsyncSession, name: str, role: Role) -> tuple[ApiKey, str]:
    if await session.scalar(select(col(ApiKey.id)).where(col(ApiKey.name) == name)) is not None:
        raise Conflict(f"an API key named {name!r} already exists")
    key = new_api_key()
    row = ApiKey(name=name, role=role.value, prefix=api_key_prefix(key), key_hash=hash_api_key(key))
    session.add(row)
    await session.flush()
    return row, key


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[Sequence[ApiKey], str | None]:
    return await paginate(session, select(ApiKey), ApiKey.id, limit=limit, cursor=cursor)


async def list_all(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.execute(select(ApiKey).order_by(col(ApiKey.id)))).scalars().all()


async def revoke(session: AsyncSession, key_id: int) -> ApiKey:
    row = await get_or_404(session, ApiKey, key_id, "API key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        await session.flush()
    return row


async def find_by_name(session: AsyncSession, name: str) -> ApiKey | None:
    return (
        await session.execute(select(ApiKey).where(col(ApiKey.name) == name))
    ).scalar_one_or_none()


async def authenticate(session: AsyncSession, presented: str) -> Principal | None:
    """The caller behind a presented key, or None. Use `touch_due` to record the use."""
    row = (
        await session.execute(select(ApiKey).where(col(ApiKey.key_hash) == hash_api_key(presented)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    due = row.last_used_at is None or utcnow() - row.last_used_at > _LAST_USED_RESOLUTION
    return Principal(key_id=row.id, name=row.name, role=Role(row.role), touch_due=due)


async def touch(session: AsyncSession, key_id: int) -> None:
    await session.execute(
        update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=utcnow())
    )
