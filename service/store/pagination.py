"""Keyset (cursor) pagination by ascending id: stable while rows are inserted or updated."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from service.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(last_id: int) -> str:
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = value["after"]
        if not isinstance(after, int) or isinstance(after, bool):
            raise TypeError
        return after
    except (ValueError, KeyError, TypeError) as exc:
        raise Unprocessable(
            "cursor is not valid: pass back the `next_cursor` of a previous page unchanged",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        ) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[Any] | Any,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Run `stmt` for one page after `cursor`; return the rows and the next cursor (or None)."""
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(id_column > after)
    rows = (await session.execute(stmt.order_by(id_column).limit(limit + 1))).scalars().all()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].id)
    return rows, None
