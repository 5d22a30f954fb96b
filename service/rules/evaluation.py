"""Rule evaluation: which rule links each work item should carry, and writing the difference.

Per target type (initiative, key result) an item carries at most one rule link: the matching
enabled rule with the lowest `priority` (then lowest id) whose target is not manually excluded
for that item. A manual, non-excluded link of a target type switches rules off for that type.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.rules import RuleConditions
from schemas.enums import LinkTarget
from schemas.tables import MappingRule, WorkItem, WorkItemLink
from schemas.types import utcnow
from service.portfolio import touches
from service.rules import membership, targets
from service.rules.conditions import (
    ITEM_COLUMNS,
    ItemFacts,
    ancestor_keys,
    matches,
    needs_ancestors,
)
from service.store.changes import append_changes, change_row
from service.writeback import outbox

LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
_CHUNK = 500
TARGET_TYPES = (LinkTarget.initiative.value, LinkTarget.key_result.value)


@dataclass(frozen=True)
class RuleSpec:
    id: int | None
    version: int
    priority: int
    conditions: RuleConditions
    target_type: str
    target_id: int

    @property
    def provenance(self) -> str:
        return f"rule:{self.id if self.id is not None else 'new'}@{self.version}"

    @classmethod
    def from_row(cls, rule: MappingRule) -> RuleSpec:
        return cls(
            id=rule.id,
            version=rule.version,
            priority=rule.priority,
            conditions=RuleConditions.model_validate(rule.conditions),
            target_type=rule.target_type,
            target_id=rule.target_id,
        )


@dataclass
class LinkChange:
    work_item_id: int
    target_type: str
    target_id: int
    provenance: str
    rule_id: int | None = None
    link_id: int | None = None


@dataclass
class Plan:
    """What evaluation would write: links added, removed, and re-tagged with a new version."""

    added: list[LinkChange] = field(default_factory=list)
    removed: list[LinkChange] = field(default_factory=list)
    retagged: list[LinkChange] = field(default_factory=list)
    evaluated: int = 0


def ordered(rules: Iterable[RuleSpec]) -> list[RuleSpec]:
    return sorted(rules, key=lambda r: (r.priority, r.id if r.id is not None else 2**62))


async def load_enabled_rules(session: AsyncSession) -> list[RuleSpec]:
    rows = await session.execute(select(MappingRule).where(col(MappingRule.enabled).is_(True)))
    return ordered(RuleSpec.from_row(r) for r in rows.scalars())


async def load_facts(
    session: AsyncSession, item_ids: Sequence[int], *, with_ancestors: bool
) -> list[ItemFacts]:
    work: Table = WorkItem.__table__  # type: ignore[attr-defined]
    facts: list[ItemFacts] = []
    for start in range(0, len(item_ids), _CHUNK):
        chunk = list(item_ids[start : start + _CHUNK])
        rows = await session.execute(
            select(*(work.c[name] for name in ITEM_COLUMNS)).where(work.c.id.in_(chunk))
        )
        found = [ItemFacts(dict(row._mapping)) for row in rows]
        if with_ancestors:
            chains = await ancestor_keys(session, [f.id for f in found])
            for fact in found:
                fact.ancestor_keys = chains[fact.id]
        facts.extend(found)
    return facts


async def _links_by_item(
    session: AsyncSession, item_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    result: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for start in range(0, len(item_ids), _CHUNK):
        chunk = list(item_ids[start : start + _CHUNK])
        rows = await session.execute(select(LINK).where(LINK.c.work_item_id.in_(chunk)))
        for row in rows:
            result[row.work_item_id].append(dict(row._mapping))
    return result


def _decide(
    fact: ItemFacts, links: list[dict[str, Any]], rules: list[RuleSpec], plan: Plan
) -> None:
    for target_type in TARGET_TYPES:
        mine = [link for link in links if link["target_type"] == target_type]
        manual_live = any(link["manual"] and not link["excluded"] for link in mine)
        excluded = {link["target_id"] for link in mine if link["excluded"]}
        winner: RuleSpec | None = None
        if not manual_live:
            for rule in rules:
                if (
                    rule.target_type == target_type
                    and rule.target_id not in excluded
                    and matches(rule.conditions, fact)
                ):
                    winner = rule
                    break
        satisfied = False
        for link in mine:
            if link["manual"] or link["excluded"]:
                continue
            change = LinkChange(
                fact.id,
                target_type,
                link["target_id"],
                link["provenance"],
                link["rule_id"],
                link["id"],
            )
            if winner is not None and link["target_id"] == winner.target_id and not satisfied:
                satisfied = True
                if link["provenance"] != winner.provenance:
                    change.provenance, change.rule_id = winner.provenance, winner.id
                    plan.retagged.append(change)
            else:
                plan.removed.append(change)
        if winner is not None and not satisfied:
            plan.added.append(
                LinkChange(fact.id, target_type, winner.target_id, winner.provenance, winner.id)
            )


async def plan_for_items(
    session: AsyncSession, item_ids: Sequence[int], rules: list[RuleSpec]
) -> Plan:
    """Evaluate `rules` (already ordered) for the given items against their stored links."""
    plan = Plan()
    ids = sorted(set(item_ids))
    if not ids:
        return plan
    links = await _links_by_item(session, ids)
    if not rules:
        # Nothing can match: only existing rule links (now stale) need looking at.
        ids = [i for i in ids if any(not ln["manual"] for ln in links.get(i, ()))]
    facts = await load_facts(
        session, ids, with_ancestors=needs_ancestors([r.conditions for r in rules])
    )
    for fact in facts:
        _decide(fact, links.get(fact.id, []), rules, plan)
    plan.evaluated = len(facts)
    return plan


def _insert_links(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(WorkItemLink).on_conflict_do_nothing(
        index_elements=["work_item_id", "target_type", "target_id"]
    )


def _link_summary(change: LinkChange) -> dict[str, Any]:
    return {
        "target_type": change.target_type,
        "target_id": change.target_id,
        "provenance": change.provenance,
    }


async def write_plan(
    session: AsyncSession,
    plan: Plan,
    *,
    cause: str | None = None,
    touched: Iterable[int] = (),
) -> None:
    """Write a plan with bulk statements and change-feed rows (`link.added` / `link.removed`).

    The cause of each row is `cause` when given, else the provenance of the rule concerned.
    Rollup membership is then refreshed for the re-linked items and for `touched` (items the
    caller wrote), in one pass.
    """
    changes: list[dict[str, Any]] = []
    await targets.links_changed(
        session,
        [(c.target_type, c.target_id, c.work_item_id, -1) for c in plan.removed]
        + [(c.target_type, c.target_id, c.work_item_id, 1) for c in plan.added],
    )
    removed_ids = [c.link_id for c in plan.removed if c.link_id is not None]
    for start in range(0, len(removed_ids), _CHUNK):
        await session.execute(
            delete(WorkItemLink).where(
                col(WorkItemLink.id).in_(removed_ids[start : start + _CHUNK])
            )
        )
    for c in plan.removed:
        changes.append(
            change_row(
                "link.removed",
                "work_item",
                c.work_item_id,
                cause=cause or c.provenance,
                before=_link_summary(c),
            )
        )
    if plan.retagged:
        await session.execute(
            update(LINK)
            .where(LINK.c.id == bindparam("link_id"))
            .values(provenance=bindparam("new_provenance"), rule_id=bindparam("new_rule_id")),
            [
                {"link_id": c.link_id, "new_provenance": c.provenance, "new_rule_id": c.rule_id}
                for c in plan.retagged
            ],
        )
    if plan.added:
        now = utcnow()
        await session.execute(
            _insert_links(session.get_bind().dialect.name),
            [
                {
                    "work_item_id": c.work_item_id,
                    "target_type": c.target_type,
                    "target_id": c.target_id,
                    "provenance": c.provenance,
                    "rule_id": c.rule_id,
                    "manual": False,
                    "excluded": False,
                    "created_at": now,
                }
                for c in plan.added
            ],
        )
        for c in plan.added:
            changes.append(
                change_row(
                    "link.added",
                    "work_item",
                    c.work_item_id,
                    cause=cause or c.provenance,
                    after=_link_summary(c),
                )
            )
    await append_changes(session, changes)
    for c in (*plan.added, *plan.removed):
        touches.nodes(session, c.target_type, [c.target_id], cause)
    relinked = {c.work_item_id for c in (*plan.added, *plan.removed)}
    await membership.refresh(session, relinked.union(touched))
    outbox.anchors(session, relinked)


async def apply_rules_to_items(
    session: AsyncSession, source_id: int, item_ids: Sequence[int]
) -> Plan:
    """Re-evaluate every enabled rule for items just written by the upsert of `source_id`.

    Also refreshes their rollup membership (parent, status, estimate or tombstone may have
    changed), so the upsert's one call keeps rule links and rollups current.
    """
    del source_id  # items carry their source; kept so callers state where the items came from
    if not item_ids:
        return Plan()
    plan = await plan_for_items(session, item_ids, await load_enabled_rules(session))
    await write_plan(session, plan, touched=item_ids)
    return plan
