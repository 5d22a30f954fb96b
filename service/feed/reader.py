"""The feed as the API serves it: filter parsing, a read, and the long-poll wait."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.tables import Change
from service.errors import Unprocessable
from service.feed.longpoll import wait_for_changes
from service.feed.notifier import notifier
from service.feed.queries import FeedFilter, list_changes
from service.store.db import Database

_TYPE = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+|\.\*)?)$")


def parse_filter(
    types: str | None, initiative_id: int | None, objective_id: int | None
) -> FeedFilter:
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
    bad = [t for t in wanted if not _TYPE.match(t)]
    if bad:
        raise Unprocessable(
            f"types: unknown event type syntax: {', '.join(bad[:5])} "
            "(use e.g. `work_item.updated` or `work_item.*`)",
            errors=[
                {"loc": ["query", "types"], "msg": "invalid event type", "type": "value_error"}
            ],
        )
    return FeedFilter(types=wanted, initiative_id=initiative_id, objective_id=objective_id)


async def read(
    session: AsyncSession, *, after: int, limit: int, flt: FeedFilter
) -> tuple[Sequence[Change], int]:
    """One page, plus the notifier generation it reflects (for a following `wait`)."""
    seen = notifier.generation
    return await list_changes(session, after=after, limit=limit, flt=flt), seen


async def wait(
    db: Database,
    *,
    after: int,
    limit: int,
    flt: FeedFilter,
    wait: float,
    poll: float,
    seen: int,
) -> Sequence[Change]:
    return await wait_for_changes(
        db, after=after, limit=limit, flt=flt, wait=wait, poll_seconds=poll, seen=seen
    )
