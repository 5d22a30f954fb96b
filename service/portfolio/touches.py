"""What a transaction's writes touched that can move a rollup; settled just before it commits.

Kept free of rollup imports so the store and the membership code can record touches without
importing the rollups that read them (`service.portfolio.progress.settle` runs the hook).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service.store.db import before_commit

_KEY = "rollups_touched"
NodeKey = tuple[str, int]


@dataclass
class Touched:
    nodes: set[NodeKey] = field(default_factory=set)
    cause: str | None = None


async def _settle(session: AsyncSession) -> None:
    from service.portfolio.progress import settle  # late: progress imports the rollups

    await settle(session)


def _touched(session: AsyncSession, cause: str | None) -> Touched:
    touched: Touched | None = session.info.get(_KEY)
    if touched is None:
        touched = session.info[_KEY] = Touched()
        before_commit(session, "rollups", _settle)
    if touched.cause is None and cause:
        touched.cause = cause
    return touched


def take(session: AsyncSession) -> Touched | None:
    touched: Touched | None = session.info.pop(_KEY, None)
    return touched


def nodes(
    session: AsyncSession, node_type: str, node_ids: Iterable[int | None], cause: str | None = None
) -> None:
    """Nodes whose inputs a write changed (links, dates, metric values, structure)."""
    keys = {(node_type, i) for i in node_ids if i is not None}
    if keys:
        _touched(session, cause).nodes |= keys


def cause(session: AsyncSession, cause: str) -> None:
    """The cause that feed entries of this transaction's moved nodes carry (first one wins)."""
    _touched(session, cause)


async def everything(session: AsyncSession, cause: str) -> None:
    """Every initiative and key result (after a bulk change such as a source deletion)."""
    from sqlalchemy import select

    from schemas.tables import Initiative, KeyResult

    for node_type, model in (("initiative", Initiative), ("key_result", KeyResult)):
        ids = (await session.execute(select(model.id))).scalars()  # type: ignore[call-overload]
        nodes(session, node_type, list(ids), cause)
