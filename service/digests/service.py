"""The digest as the API serves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.feed import Digest
from schemas.types import utcnow
from service.digests.builder import build_digest
from service.digests.markdown import render
from service.errors import Unprocessable

DEFAULT_WINDOW = timedelta(days=7)


async def digest(
    session: AsyncSession, scope: str, since: datetime | None, *, now: datetime | None = None
) -> tuple[Digest, str]:
    """The digest and its Markdown; `since` defaults to a week ago, naive times are UTC."""
    until = now or utcnow()
    start = since or until - DEFAULT_WINDOW
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if start > until:
        raise Unprocessable(
            "since is in the future",
            errors=[{"loc": ["query", "since"], "msg": "in the future", "type": "value_error"}],
        )
    result = await build_digest(session, scope, start, until)
    return result, render(result)
