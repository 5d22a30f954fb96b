"""Rule versions: every saved change is a new version with a snapshot and its author."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import MappingRule, MappingRuleVersion


def snapshot(rule: MappingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "conditions": rule.conditions,
        "target": {f"{rule.target_type}_id": rule.target_id},
    }


async def record(session: AsyncSession, rule: MappingRule, *, created_by: str) -> None:
    assert rule.id is not None
    session.add(
        MappingRuleVersion(
            rule_id=rule.id, version=rule.version, snapshot=snapshot(rule), created_by=created_by
        )
    )
    await session.flush()


async def list_versions(session: AsyncSession, rule_id: int) -> Sequence[MappingRuleVersion]:
    rows = await session.execute(
        select(MappingRuleVersion)
        .where(col(MappingRuleVersion.rule_id) == rule_id)
        .order_by(col(MappingRuleVersion.version))
    )
    return rows.scalars().all()
