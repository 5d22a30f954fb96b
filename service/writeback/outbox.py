"""The outbox: every link change records the desired upstream labels in its own transaction.

Writers mark what moved (`anchors`: items whose own links changed, so they and every item
that inherits from them; `items`: items whose anchor changed); just before the transaction
commits, the marked items of write-back sources get their desired value stored in
`write_back_state`. A row whose desired value differs from the written one is `pending`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.write_back import WriteBackConfig
from schemas.enums import LinkTarget
from schemas.tables import MembershipAnchor, WorkItem, WorkItemLink, WriteBackState
from schemas.types import utcnow
from service.store.db import before_commit
from service.writeback.desired import ItemState, enabled_configs, fields_of, item_states

_KEY = "write_back_marks"
_CHUNK = 500
ANCHOR: Table = MembershipAnchor.__table__  # type: ignore[attr-defined]
STATE: Table = WriteBackState.__table__  # type: ignore[attr-defined]
PENDING, SYNCED, FAILED, CONFLICT = "pending", "synced", "failed", "conflict"


@dataclass
class Marks:
    items: set[int] = field(default_factory=set)
    anchors: set[int] = field(default_factory=set)


def _marks(session: AsyncSession) -> Marks:
    marks: Marks | None = session.info.get(_KEY)
    if marks is None:
        marks = session.info[_KEY] = Marks()
        before_commit(session, "write_back", settle)
    return marks


def anchors(session: AsyncSession, item_ids: Iterable[int]) -> None:
    """Items whose own links changed: they and the items inheriting from them."""
    ids = set(item_ids)
    if ids:
        _marks(session).anchors |= ids


def items(session: AsyncSession, item_ids: Iterable[int]) -> None:
    """Items whose anchor (where they take their links from) changed."""
    ids = set(item_ids)
    if ids:
        _marks(session).items |= ids


async def target_renamed_or_deleted(
    session: AsyncSession, target_type: str, target_id: int
) -> None:
    """Its label changes (a new slug) or goes: the items linked to it are marked."""
    rows = await session.execute(
        select(WorkItemLink.work_item_id).where(  # type: ignore[call-overload]
            WorkItemLink.target_type == target_type,
            WorkItemLink.target_id == target_id,
        )
    )
    anchors(session, rows.scalars())


async def _inheriting(session: AsyncSession, anchor_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(anchor_ids), _CHUNK):
        rows = await session.execute(
            select(ANCHOR.c.work_item_id).where(
                ANCHOR.c.target_type.in_([t.value for t in LinkTarget]),
                ANCHOR.c.anchor_id.in_(anchor_ids[start : start + _CHUNK]),
            )
        )
        found.update(rows.scalars())
    return found


async def settle(session: AsyncSession) -> None:
    """Store the desired labels of every marked item of a write-back source."""
    marks: Marks | None = session.info.pop(_KEY, None)
    if marks is None or not (marks.items or marks.anchors):
        return
    configs = await enabled_configs(session)
    if not configs:
        return
    ids = marks.items | marks.anchors | await _inheriting(session, sorted(marks.anchors))
    await record(session, await item_states(session, sorted(ids), configs), configs)


async def record(
    session: AsyncSession, states: Sequence[ItemState], configs: Mapping[int, WriteBackConfig]
) -> None:
    """Upsert the outbox rows of `states` (one per written field); an item with nothing
    desired or written gets none."""
    by_item = {s.id: s for s in states}
    ids = sorted(by_item)
    now = utcnow()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await session.execute(
            select(WriteBackState).where(col(WriteBackState.work_item_id).in_(chunk))
        )
        existing = {(row.work_item_id, row.field): row for row in rows.scalars()}
        for item_id in chunk:
            state = by_item[item_id]
            for field_name in fields_of(configs[state.source_id]):
                desired = state.desired_for(field_name)
                row = existing.get((item_id, field_name))
                if row is None:
                    if not desired:
                        continue
                    row = WriteBackState(
                        work_item_id=item_id,
                        source_id=state.source_id,
                        field=field_name,
                        status=PENDING,
                    )
                elif sorted(row.desired) == desired and row.status != FAILED:
                    continue
                row.desired = desired
                row.status = SYNCED if sorted(row.written) == desired else PENDING
                row.attempts, row.error, row.next_attempt_at = 0, None, None
                row.updated_at = now
                session.add(row)
    await session.flush()


async def backfill(session: AsyncSession, source_id: int) -> None:
    """Record the desired labels of every live item of a source (write-back turned on)."""
    configs = await enabled_configs(session, [source_id])
    if not configs:
        return
    ids = (
        await session.execute(
            select(WorkItem.id).where(  # type: ignore[call-overload]
                WorkItem.source_id == source_id,
                WorkItem.deleted_at.is_(None),  # type: ignore[union-attr]
            )
        )
    ).scalars()
    await record(session, await item_states(session, list(ids), configs), configs)
