"""Matching a rule's conditions against work items: in Python per item, plus a SQL prefilter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rules import RuleConditions
from schemas.tables import WorkItem

# Columns compared for equality, both in Python and in the SQL prefilter.
_EQUAL = ("source_id", "project", "kind", "issue_type", "milestone", "status_category", "assignee")
ITEM_COLUMNS = (
    "id",
    "source_id",
    "key",
    "title",
    "project",
    "kind",
    "issue_type",
    "labels",
    "components",
    "milestone",
    "parent_id",
    "parent_key",
    "status_category",
    "assignee",
)


@dataclass
class ItemFacts:
    """What rules look at for one work item; `ancestor_keys` is its parent chain (any depth)."""

    values: dict[str, Any]
    ancestor_keys: set[str] = field(default_factory=set)

    @property
    def id(self) -> int:
        return int(self.values["id"])


@lru_cache(maxsize=512)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def matches(conditions: RuleConditions, item: ItemFacts) -> bool:
    v = item.values
    for name in _EQUAL:
        wanted = getattr(conditions, name)
        if wanted is not None and v.get(name) != wanted:
            return False
    labels = set(v.get("labels") or ())
    if conditions.labels_any and not labels.intersection(conditions.labels_any):
        return False
    if conditions.labels_all and not labels.issuperset(conditions.labels_all):
        return False
    components = set(v.get("components") or ())
    if conditions.components_any and not components.intersection(conditions.components_any):
        return False
    if conditions.parent_key is not None:
        if conditions.include_descendants:
            if conditions.parent_key not in item.ancestor_keys:
                return False
        elif v.get("parent_key") != conditions.parent_key:
            return False
    return not (
        conditions.title_matches is not None
        and _pattern(conditions.title_matches).search(v.get("title") or "") is None
    )


def sql_prefilter(conditions: RuleConditions) -> ColumnElement[bool]:
    """A WHERE clause every matching item satisfies (Python `matches` makes the final call)."""
    clauses: list[ColumnElement[bool]] = []
    for name in _EQUAL:
        wanted = getattr(conditions, name)
        if wanted is not None:
            clauses.append(col(getattr(WorkItem, name)) == wanted)
    if conditions.parent_key is not None and not conditions.include_descendants:
        clauses.append(col(WorkItem.parent_key) == conditions.parent_key)
    return and_(true(), *clauses)


def needs_ancestors(conditions: list[RuleConditions]) -> bool:
    return any(c.parent_key is not None and c.include_descendants for c in conditions)


async def ancestor_keys(session: AsyncSession, item_ids: list[int]) -> dict[int, set[str]]:
    """The keys of every ancestor (via the stored parent_id chain) of each item."""
    result: dict[int, set[str]] = {i: set() for i in item_ids}
    if not item_ids:
        return result
    work = WorkItem.__table__  # type: ignore[attr-defined]
    seed = select(work.c.id.label("item_id"), work.c.parent_id.label("ancestor_id")).where(
        work.c.id.in_(item_ids), work.c.parent_id.is_not(None)
    )
    chain = seed.cte("ancestors", recursive=True)
    parent = work.alias("parent")
    chain = chain.union(
        select(chain.c.item_id, parent.c.parent_id)
        .join(parent, parent.c.id == chain.c.ancestor_id)
        .where(parent.c.parent_id.is_not(None))
    )
    rows = await session.execute(
        select(chain.c.item_id, work.c.key).join(work, work.c.id == chain.c.ancestor_id)
    )
    for item_id, key in rows:
        result[item_id].add(key)
    return result


async def descendant_ids(session: AsyncSession, parent_key: str) -> list[int]:
    """Ids of every item below the items keyed `parent_key` (any depth, any source)."""
    work = WorkItem.__table__  # type: ignore[attr-defined]
    seed = select(work.c.id).where(
        work.c.parent_id.in_(select(work.c.id).where(work.c.key == parent_key))
    )
    tree = seed.cte("descendants", recursive=True)
    child = work.alias("child")
    tree = tree.union(select(child.c.id).join(tree, child.c.parent_id == tree.c.id))
    return list((await session.execute(select(tree.c.id))).scalars())
