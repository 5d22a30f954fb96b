"""Manual links and exclusions (editors), and the links of an item as rollups count them.

A manual link or exclusion always wins over rules: after each manual change the item's rules
are re-evaluated, so a rule link of that target type gives way (or comes back when the manual
link is removed).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rules import ItemLinkPublic
from schemas.enums import LinkTarget
from schemas.tables import Initiative, KeyResult, WorkItem, WorkItemLink
from service.errors import NotFound
from service.portfolio import touches
from service.rules import targets
from service.rules.evaluation import apply_rules_to_items
from service.store.changes import append_change
from service.writeback import outbox


async def _check(
    session: AsyncSession, target_type: LinkTarget, target_id: int, item_id: int
) -> WorkItem:
    model = Initiative if target_type is LinkTarget.initiative else KeyResult
    if await session.get(model, target_id) is None:
        raise NotFound(f"{target_type.value.replace('_', ' ')} {target_id} does not exist")
    item = await session.get(WorkItem, item_id)
    if item is None:
        raise NotFound(f"work item {item_id} does not exist")
    return item


async def _existing(
    session: AsyncSession, target_type: LinkTarget, target_id: int, item_id: int
) -> WorkItemLink | None:
    row = await session.execute(
        select(WorkItemLink).where(
            col(WorkItemLink.work_item_id) == item_id,
            col(WorkItemLink.target_type) == target_type.value,
            col(WorkItemLink.target_id) == target_id,
        )
    )
    return row.scalars().first()


def _summary(link: WorkItemLink) -> dict[str, object]:
    return {
        "target_type": link.target_type,
        "target_id": link.target_id,
        "provenance": link.provenance,
        "excluded": link.excluded,
    }


async def put_manual(
    session: AsyncSession,
    target_type: LinkTarget,
    target_id: int,
    item_id: int,
    *,
    exclude: bool,
    author: str,
    origin: str = "api",
) -> WorkItemLink:
    """Link an item to a target by hand, or exclude it from that target (idempotent).

    `origin` `upstream` marks a person's edit upstream: provenance `upstream:<author>`.
    """
    item = await _check(session, target_type, target_id, item_id)
    cause = f"{origin}:{author}"
    link = await _existing(session, target_type, target_id, item_id)
    before = _summary(link) if link is not None else None
    if link is None:
        link = WorkItemLink(
            work_item_id=item_id, target_type=target_type.value, target_id=target_id, provenance=""
        )
    link.provenance = f"manual:{author}" if origin == "api" else cause
    link.manual, link.excluded, link.rule_id = True, exclude, None
    session.add(link)
    await session.flush()
    after = _summary(link)
    counted = [] if before is None or before["excluded"] else [-1]
    await targets.links_changed(
        session,
        [
            (target_type.value, target_id, item_id, sign)
            for sign in [*counted, *([] if exclude else [1])]
        ],
    )
    if before != after:
        was_live = before is not None and not before["excluded"]
        if exclude and was_live:
            await append_change(
                session,
                "link.removed",
                "work_item",
                item_id,
                cause=cause,
                before=before,
                after=after,
            )
        elif not exclude and not was_live:
            await append_change(
                session, "link.added", "work_item", item_id, cause=cause, before=before, after=after
            )
        else:
            await append_change(
                session,
                "link.updated",
                "work_item",
                item_id,
                cause=cause,
                before=before,
                after=after,
            )
    touches.nodes(session, target_type.value, [target_id], cause)
    outbox.anchors(session, [item_id])
    await apply_rules_to_items(session, item.source_id, [item_id])
    return link


async def delete_manual(
    session: AsyncSession, target_type: LinkTarget, target_id: int, item_id: int, *, author: str
) -> None:
    """Remove a manual link or exclusion; rules then decide again for that item."""
    item = await _check(session, target_type, target_id, item_id)
    link = await _existing(session, target_type, target_id, item_id)
    if link is None or not link.manual:
        raise NotFound(
            f"work item {item_id} has no manual link to {target_type.value.replace('_', ' ')} "
            f"{target_id}"
        )
    before = _summary(link)
    if not before["excluded"]:
        await targets.links_changed(session, [(target_type.value, target_id, item_id, -1)])
    await session.delete(link)
    await session.flush()
    kind = "link.updated" if before["excluded"] else "link.removed"
    await append_change(session, kind, "work_item", item_id, cause=f"api:{author}", before=before)
    touches.nodes(session, target_type.value, [target_id], f"api:{author}")
    outbox.anchors(session, [item_id])
    await apply_rules_to_items(session, item.source_id, [item_id])


async def item_links(session: AsyncSession, item_id: int) -> list[ItemLinkPublic]:
    """Stored links of an item, plus those it inherits from its nearest linked ancestor."""
    item = await session.get(WorkItem, item_id)
    if item is None:
        raise NotFound(f"work item {item_id} does not exist")
    own = list(
        (
            await session.execute(
                select(WorkItemLink).where(col(WorkItemLink.work_item_id) == item_id)
            )
        ).scalars()
    )
    result = [
        ItemLinkPublic(
            work_item_id=item_id,
            target_type=link.target_type,
            target_id=link.target_id,
            provenance=link.provenance,
            via="direct",
            excluded=link.excluded,
        )
        for link in own
    ]
    missing = {t.value for t in LinkTarget} - {link.target_type for link in own}
    seen: set[int] = {item_id}
    parent_id = item.parent_id
    while missing and parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = await session.get(WorkItem, parent_id)
        if parent is None:
            break
        links = (
            await session.execute(
                select(WorkItemLink).where(col(WorkItemLink.work_item_id) == parent_id)
            )
        ).scalars()
        found_types: set[str] = set()
        for link in links:
            if link.target_type not in missing:
                continue
            found_types.add(link.target_type)
            if not link.excluded:
                result.append(
                    ItemLinkPublic(
                        work_item_id=item_id,
                        target_type=link.target_type,
                        target_id=link.target_id,
                        provenance=f"inherited:{parent.key}:{link.provenance}",
                        via="inherited",
                    )
                )
        missing -= found_types
        parent_id = parent.parent_id
    return result
