"""One-time sign-in links for the web app, and the API key behind a browser session."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.enums import Role
from schemas.tables import ApiKey, SignInToken
from schemas.types import utcnow
from service.security import hash_api_key
from service.store.api_keys import Principal

SIGN_IN_TOKEN_TTL = timedelta(minutes=10)


async def create(
    session: AsyncSession, api_key_id: int, *, ttl: timedelta = SIGN_IN_TOKEN_TTL
) -> str:
    """A new token for the key; only its hash is stored, so it is shown once."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        SignInToken(
            token_hash=hash_api_key(token),
            api_key_id=api_key_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def consume(session: AsyncSession, token: str, *, now: datetime | None = None) -> int | None:
    """The key id the token signs in as, marking it used; None when unknown, used or expired.

    One conditional UPDATE decides, so two browsers racing on one link cannot both win.
    """
    now = now or utcnow()
    key_id = await session.scalar(
        update(SignInToken)
        .where(
            col(SignInToken.token_hash) == hash_api_key(token),
            col(SignInToken.used_at).is_(None),
            col(SignInToken.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(SignInToken.api_key_id))
    )
    return int(key_id) if key_id is not None else None


async def principal_of_key(session: AsyncSession, key_id: int) -> Principal | None:
    """The caller for a key id, or None when the key is gone or revoked (checked per request)."""
    row = (
        await session.execute(
            select(col(ApiKey.id), col(ApiKey.name), col(ApiKey.role)).where(
                col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(key_id=key_id, name=row[1], role=Role(row[2]))
