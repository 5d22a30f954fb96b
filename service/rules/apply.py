"""Rules admin: create, edit, delete, reorder; each save re-applies only where it can matter.

Saving a rule re-evaluates the items its old or new version can match plus the items it links
today, against all enabled rules — never a full resync and never an upstream call.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rules import RuleConditions, RuleCreate, RuleUpdate
from schemas.enums import LinkTarget
from schemas.tables import Initiative, KeyResult, MappingRule, WorkItem, WorkItemLink
from schemas.types import utcnow
from service.errors import NotFound, Unprocessable
from service.rules import versions
from service.rules.conditions import (
    ITEM_COLUMNS,
    ItemFacts,
    descendant_ids,
    matches,
    sql_prefilter,
)
from service.rules.evaluation import (
    Plan,
    RuleSpec,
    load_enabled_rules,
    ordered,
    plan_for_items,
    write_plan,
)
from service.store.changes import append_change
from service.writeback import guard

_CHUNK = 500


async def get(session: AsyncSession, rule_id: int) -> MappingRule:
    rule = await session.get(MappingRule, rule_id)
    if rule is None:
        raise NotFound(f"mapping rule {rule_id} does not exist")
    return rule


async def list_rules(session: AsyncSession) -> Sequence[MappingRule]:
    rows = await session.execute(
        select(MappingRule).order_by(col(MappingRule.priority), col(MappingRule.id))
    )
    return rows.scalars().all()


async def check_target(session: AsyncSession, target_type: str, target_id: int) -> None:
    model = Initiative if target_type == LinkTarget.initiative.value else KeyResult
    if await session.get(model, target_id) is None:
        field = f"{target_type}_id"
        raise Unprocessable(
            f"{target_type.replace('_', ' ')} {target_id} does not exist",
            errors=[{"loc": ["body", "target", field], "msg": "not found", "type": "value_error"}],
        )


async def matching_ids(session: AsyncSession, conditions: RuleConditions) -> set[int]:
    """Live items the conditions match: a SQL prefilter, then the exact Python check."""
    work = WorkItem.__table__  # type: ignore[attr-defined]
    stmt = select(*(work.c[name] for name in ITEM_COLUMNS)).where(
        sql_prefilter(conditions), work.c.deleted_at.is_(None)
    )
    found: set[int] = set()
    if conditions.parent_key is not None and conditions.include_descendants:
        below = await descendant_ids(session, conditions.parent_key)
        for start in range(0, len(below), _CHUNK):
            rows = await session.execute(stmt.where(work.c.id.in_(below[start : start + _CHUNK])))
            found.update(
                row.id
                for row in rows
                if matches(conditions, ItemFacts(dict(row._mapping), {conditions.parent_key}))
            )
        return found
    rows = await session.execute(stmt)
    found.update(row.id for row in rows if matches(conditions, ItemFacts(dict(row._mapping))))
    return found


async def linked_by(session: AsyncSession, rule_ids: Sequence[int]) -> set[int]:
    if not rule_ids:
        return set()
    rows = await session.execute(
        select(col(WorkItemLink.work_item_id)).where(col(WorkItemLink.rule_id).in_(rule_ids))
    )
    return set(rows.scalars())


async def plan_change(
    session: AsyncSession,
    *,
    replaced_ids: Sequence[int],
    old_conditions: Sequence[RuleConditions],
    proposed: Sequence[RuleSpec],
) -> Plan:
    """The plan for replacing rules `replaced_ids` by `proposed` (shared by preview and apply).

    `proposed` holds only enabled rules. Candidates are the items the replaced rules link today
    and the items the old or the proposed conditions match; they are evaluated against every
    other enabled rule too.
    """
    replaced = set(replaced_ids)
    rules = ordered(
        [*(r for r in await load_enabled_rules(session) if r.id not in replaced), *proposed]
    )
    candidates = await linked_by(session, replaced_ids)
    for conditions in [*old_conditions, *(p.conditions for p in proposed)]:
        candidates |= await matching_ids(session, conditions)
    return await plan_for_items(session, sorted(candidates), rules)


async def _apply(session: AsyncSession, rule: MappingRule, old: RuleConditions | None) -> Plan:
    spec = RuleSpec.from_row(rule)
    assert rule.id is not None
    plan = await plan_change(
        session,
        replaced_ids=[rule.id],
        old_conditions=[old] if old is not None else [],
        proposed=[spec] if rule.enabled else [],
    )
    await write_plan(session, plan, cause=spec.provenance)
    return plan


async def create(session: AsyncSession, data: RuleCreate, *, author: str) -> MappingRule:
    await check_target(session, data.target.type.value, data.target.id)
    await guard.check_rule(session, data.conditions.model_dump(mode="json"))
    rule = MappingRule(
        name=data.name,
        priority=data.priority,
        enabled=data.enabled,
        conditions=data.conditions.model_dump(mode="json", exclude_none=True),
        target_type=data.target.type.value,
        target_id=data.target.id,
        version=1,
    )
    session.add(rule)
    await session.flush()
    assert rule.id is not None
    await versions.record(session, rule, created_by=author)
    await append_change(
        session,
        "mapping_rule.created",
        "mapping_rule",
        rule.id,
        cause=f"api:{author}",
        after=versions.snapshot(rule),
    )
    await _apply(session, rule, None)
    return rule


async def update(
    session: AsyncSession, rule_id: int, data: RuleUpdate, *, author: str
) -> MappingRule:
    rule = await get(session, rule_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "priority", "enabled", "conditions", "target"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null",
                errors=[{"loc": ["body", field], "msg": "may not be null", "type": "value_error"}],
            )
    before = versions.snapshot(rule)
    old = RuleConditions.model_validate(rule.conditions)
    if data.target is not None:
        await check_target(session, data.target.type.value, data.target.id)
        rule.target_type, rule.target_id = data.target.type.value, data.target.id
    if data.conditions is not None:
        await guard.check_rule(session, data.conditions.model_dump(mode="json"))
        rule.conditions = data.conditions.model_dump(mode="json", exclude_none=True)
    for field in ("name", "priority", "enabled"):
        if field in changes:
            setattr(rule, field, changes[field])
    if versions.snapshot(rule) == before:
        return rule
    rule.version += 1
    rule.updated_at = utcnow()
    session.add(rule)
    await session.flush()
    await versions.record(session, rule, created_by=author)
    await append_change(
        session,
        "mapping_rule.updated",
        "mapping_rule",
        rule_id,
        cause=f"api:{author}",
        before=before,
        after=versions.snapshot(rule),
    )
    await _apply(session, rule, old)
    return rule


async def delete(session: AsyncSession, rule_id: int, *, author: str) -> None:
    rule = await get(session, rule_id)
    old = RuleConditions.model_validate(rule.conditions)
    plan = await plan_change(session, replaced_ids=[rule_id], old_conditions=[old], proposed=[])
    await write_plan(session, plan, cause=f"api:{author}")
    before = versions.snapshot(rule)
    await session.delete(rule)
    await session.flush()
    await append_change(
        session,
        "mapping_rule.deleted",
        "mapping_rule",
        rule_id,
        cause=f"api:{author}",
        before=before,
    )


async def reorder(
    session: AsyncSession, rule_ids: Sequence[int], *, author: str
) -> Sequence[MappingRule]:
    """Set priorities 10, 20, 30, … in the given order; each moved rule gets a new version."""
    if len(set(rule_ids)) != len(rule_ids):
        raise Unprocessable(
            "rule_ids contains duplicates",
            errors=[{"loc": ["body", "rule_ids"], "msg": "duplicate id", "type": "value_error"}],
        )
    rules = {r.id: r for r in await list_rules(session)}
    missing = [i for i in rule_ids if i not in rules]
    if missing:
        raise Unprocessable(
            f"mapping rules do not exist: {missing}",
            errors=[{"loc": ["body", "rule_ids"], "msg": "not found", "type": "value_error"}],
        )
    moved: list[MappingRule] = []
    for position, rule_id in enumerate(rule_ids, start=1):
        rule = rules[rule_id]
        if rule.priority != position * 10:
            rule.priority = position * 10
            rule.version += 1
            rule.updated_at = utcnow()
            session.add(rule)
            moved.append(rule)
    await session.flush()
    for rule in moved:
        await versions.record(session, rule, created_by=author)
    if moved:
        plan = await plan_change(
            session,
            replaced_ids=[r.id for r in moved if r.id is not None],
            old_conditions=[],
            proposed=[RuleSpec.from_row(r) for r in moved if r.enabled],
        )
        await write_plan(session, plan, cause=f"api:{author}")
    return await list_rules(session)
