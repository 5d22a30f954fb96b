"""Read queries the admin pages need beyond the API's services: newest-first lists, counts,
choices for select boxes. Writes always go through the services the admin API uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.enums import DeliveryStatus
from schemas.tables import (
    Change,
    Initiative,
    KeyResult,
    Objective,
    Source,
    Subscription,
    SyncRun,
    WebhookDelivery,
    WorkItemLink,
)

NEWEST_PAGE = 50


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


async def recent_runs(session: AsyncSession, source_id: int, limit: int = 10) -> Sequence[SyncRun]:
    rows = await session.execute(
        select(SyncRun)
        .where(col(SyncRun.source_id) == source_id)
        .order_by(col(SyncRun.id).desc())
        .limit(limit)
    )
    return rows.scalars().all()


async def source_names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(col(Source.id), col(Source.name)).order_by(col(Source.id)))
    return {row.id: row.name for row in rows}


async def deliveries_newest_first(
    session: AsyncSession,
    *,
    status: DeliveryStatus | None,
    source_id: int | None,
    event: str | None,
    before: int | None,
    limit: int = NEWEST_PAGE,
) -> tuple[Sequence[WebhookDelivery], int | None]:
    """A page of the inbox, newest first; the id to pass as `before` for the next page."""
    stmt = select(WebhookDelivery)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status.value)
    if source_id is not None:
        stmt = stmt.where(col(WebhookDelivery.source_id) == source_id)
    if event is not None:
        stmt = stmt.where(col(WebhookDelivery.event) == event)
    if before is not None:
        stmt = stmt.where(col(WebhookDelivery.id) < before)
    rows = (
        (await session.execute(stmt.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1)))
        .scalars()
        .all()
    )
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(col(WebhookDelivery.status), func.count()).group_by(col(WebhookDelivery.status))
    )
    return {status: count for status, count in rows.tuples()}


async def target_choices(session: AsyncSession) -> list[Choice]:
    """Every initiative and key result a rule may target, as `initiative:<id>` values."""
    initiatives = await session.execute(
        select(col(Initiative.id), col(Initiative.title)).order_by(col(Initiative.title))
    )
    key_results = await session.execute(
        select(col(KeyResult.id), col(KeyResult.title)).order_by(col(KeyResult.title))
    )
    return [
        *(Choice(f"initiative:{r.id}", f"Initiative: {r.title}") for r in initiatives),
        *(Choice(f"key_result:{r.id}", f"Key result: {r.title}") for r in key_results),
    ]


async def target_titles(session: AsyncSession) -> dict[str, str]:
    return {c.value: c.text for c in await target_choices(session)}


async def scope_choices(session: AsyncSession) -> list[Choice]:
    """Digest scopes: the portfolio, each objective, each initiative."""
    objectives = await session.execute(
        select(col(Objective.id), col(Objective.title)).order_by(col(Objective.title))
    )
    initiatives = await session.execute(
        select(col(Initiative.id), col(Initiative.title)).order_by(col(Initiative.title))
    )
    return [
        Choice("portfolio", "The whole portfolio"),
        *(Choice(f"objective:{r.id}", f"Objective: {r.title}") for r in objectives),
        *(Choice(f"initiative:{r.id}", f"Initiative: {r.title}") for r in initiatives),
    ]


async def subscription_choices(session: AsyncSession) -> list[Choice]:
    rows = await session.execute(
        select(col(Subscription.id), col(Subscription.url)).order_by(col(Subscription.id))
    )
    return [Choice(str(r.id), f"#{r.id} {r.url}") for r in rows]


async def links_of_rule(session: AsyncSession, rule_id: int) -> int:
    """Work items the rule links today (its current links, any version)."""
    count = await session.scalar(
        select(func.count()).select_from(WorkItemLink).where(col(WorkItemLink.rule_id) == rule_id)
    )
    return int(count or 0)


async def feed_head(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(col(Change.id)))) or 0)


async def link_changes_since(session: AsyncSession, head: int, cause: str) -> dict[str, int]:
    """`link.added` / `link.removed` entries after feed id `head` written under `cause` (a rule
    version): what saving that version changed. The id range keeps it off the whole feed."""
    rows = await session.execute(
        select(col(Change.type), func.count())
        .where(
            col(Change.id) > head,
            col(Change.cause) == cause,
            col(Change.type).in_(("link.added", "link.removed")),
        )
        .group_by(col(Change.type))
    )
    return {kind: count for kind, count in rows.tuples()}
