"""Preview: what saving a rule would change, computed by the same plan that apply writes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rules import PreviewItem, RuleConditions, RulePreview, RulePreviewRequest
from schemas.tables import WorkItem
from service.rules import apply
from service.rules.evaluation import LinkChange, RuleSpec

SAMPLE = 50


async def _describe(session: AsyncSession, changes: list[LinkChange]) -> list[PreviewItem]:
    sample = changes[:SAMPLE]
    ids = [c.work_item_id for c in sample]
    rows = await session.execute(
        select(
            col(WorkItem.id), col(WorkItem.key), col(WorkItem.title), col(WorkItem.source_id)
        ).where(col(WorkItem.id).in_(ids))
    )
    info = {row.id: row for row in rows}
    return [
        PreviewItem(
            work_item_id=c.work_item_id,
            key=info[c.work_item_id].key,
            title=info[c.work_item_id].title,
            source_id=info[c.work_item_id].source_id,
            target_type=c.target_type,
            target_id=c.target_id,
        )
        for c in sample
    ]


async def preview(session: AsyncSession, request: RulePreviewRequest) -> RulePreview:
    """Evaluate without writing; `rule_id` previews an edit of that rule (its next version)."""
    data = request.rule
    await apply.check_target(session, data.target.type.value, data.target.id)
    old: list[RuleConditions] = []
    version = 1
    if request.rule_id is not None:
        existing = await apply.get(session, request.rule_id)
        old = [RuleConditions.model_validate(existing.conditions)]
        version = existing.version + 1
    spec = RuleSpec(
        id=request.rule_id,
        version=version,
        priority=data.priority,
        conditions=data.conditions,
        target_type=data.target.type.value,
        target_id=data.target.id,
    )
    plan = await apply.plan_change(
        session,
        replaced_ids=[request.rule_id] if request.rule_id is not None else [],
        old_conditions=old,
        proposed=[spec] if data.enabled else [],
    )
    plan.added.sort(key=lambda c: c.work_item_id)
    plan.removed.sort(key=lambda c: c.work_item_id)
    return RulePreview(
        linked=len(plan.added),
        unlinked=len(plan.removed),
        linked_items=await _describe(session, plan.added),
        unlinked_items=await _describe(session, plan.removed),
        evaluated=plan.evaluated,
    )
