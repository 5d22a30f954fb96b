"""The change feed: appended in the same transaction as the change it describes.

Ordering guarantee: a reader paging by id must never see id N+1 committed while id N is still
in flight, or it would skip N for good. SQLite already serializes writers (`BEGIN IMMEDIATE`).
On PostgreSQL ids come from a sequence at insert time while commits land in any order, so every
appending transaction first takes one transaction-scoped advisory lock: ids are then handed out
in commit order. The cost is that appending transactions serialize from their first append to
their commit; the alternative (readers stopping at the oldest in-flight id) needs transaction
ids on every row and a composite cursor, and still lets one slow writer stall every reader.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, event, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from schemas.tables import Change
from schemas.types import utcnow
from service.feed.notifier import notifier

CHANGE_TABLE: Table = Change.__table__  # type: ignore[attr-defined]

# Arbitrary but fixed: every process appending to the feed must use the same key.
CHANGE_FEED_LOCK_KEY = 0x7073_6366  # "pscf"
_HOOKED = "change_feed_hooked"
_DIRTY = "change_feed_dirty"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compact before/after of the fields that differ."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return (
        {k: _jsonable(before.get(k)) for k in keys},
        {k: _jsonable(after.get(k)) for k in keys},
    )


def change_row(
    type_: str,
    entity_type: str,
    entity_id: int,
    *,
    cause: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "before": {k: _jsonable(v) for k, v in before.items()} if before is not None else None,
        "after": {k: _jsonable(v) for k, v in after.items()} if after is not None else None,
        "cause": cause,
        "created_at": utcnow(),
    }


async def append_changes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Re-entrant within a transaction; released by its commit or rollback.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_FEED_LOCK_KEY}
        )
    # Core insert on the table: the ORM bulk path costs more per row than the rows themselves.
    await session.execute(insert(CHANGE_TABLE), rows)
    _nudge_readers_after_commit(session)


def _nudge_readers_after_commit(session: AsyncSession) -> None:
    sync_session = session.sync_session
    if not sync_session.info.get(_HOOKED):
        event.listen(sync_session, "after_commit", _after_commit)
        event.listen(sync_session, "after_rollback", _after_rollback)
        sync_session.info[_HOOKED] = True
    sync_session.info[_DIRTY] = True


def _after_commit(sync_session: Session) -> None:
    if sync_session.info.pop(_DIRTY, False):
        notifier.notify()


def _after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_DIRTY, None)


async def append_change(
    session: AsyncSession,
    type_: str,
    entity_type: str,
    entity_id: int,
    *,
    cause: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await append_changes(
        session,
        [change_row(type_, entity_type, entity_id, cause=cause, before=before, after=after)],
    )
