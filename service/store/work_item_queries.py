"""Read queries for work items (the API's list and detail)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.enums import LinkTarget, StatusCategory
from schemas.tables import WorkItem
from service.rules import membership
from service.store.pagination import paginate
from service.store.repository import get_or_404


@dataclass
class WorkItemFilters:
    source_id: int | None = None
    kind: str | None = None
    status_category: StatusCategory | None = None
    initiative_id: int | None = None
    key_result_id: int | None = None
    updated_since: datetime | None = None
    q: str | None = None
    include_deleted: bool = False


def _member_of(target: LinkTarget, target_id: int) -> ColumnElement[bool]:
    """Linked to the target, or inheriting that link from an ancestor (as rollups count)."""
    members = membership.members(target.value).where(membership.LINK.c.target_id == target_id)
    return col(WorkItem.id).in_(select(members.subquery().c.item_id))


async def list_page(
    session: AsyncSession, filters: WorkItemFilters, *, limit: int, cursor: str | None
) -> tuple[Sequence[WorkItem], str | None]:
    stmt = select(WorkItem)
    if filters.source_id is not None:
        stmt = stmt.where(col(WorkItem.source_id) == filters.source_id)
    if filters.kind:
        stmt = stmt.where(col(WorkItem.kind) == filters.kind)
    if filters.status_category:
        stmt = stmt.where(col(WorkItem.status_category) == filters.status_category.value)
    if filters.initiative_id is not None:
        stmt = stmt.where(_member_of(LinkTarget.initiative, filters.initiative_id))
    if filters.key_result_id is not None:
        stmt = stmt.where(_member_of(LinkTarget.key_result, filters.key_result_id))
    if filters.updated_since is not None:
        stmt = stmt.where(col(WorkItem.upstream_updated_at) >= filters.updated_since)
    if filters.q:
        pattern = (
            "%"
            + filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        stmt = stmt.where(
            or_(
                func.lower(WorkItem.title).like(pattern, escape="\\"),
                func.lower(WorkItem.key).like(pattern, escape="\\"),
            )
        )
    if not filters.include_deleted:
        stmt = stmt.where(col(WorkItem.deleted_at).is_(None))
    return await paginate(session, stmt, WorkItem.id, limit=limit, cursor=cursor)


async def get(session: AsyncSession, item_id: int) -> WorkItem:
    return await get_or_404(session, WorkItem, item_id, "work item")
