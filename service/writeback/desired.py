"""What an item's labels should say upstream, and the label operations that get it there.

An item shows the targets it counts for in rollups: its anchor's non-excluded links (its own,
or inherited from the nearest linked ancestor), one label `<prefix><slug of the title>` each.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.write_back import WriteBackConfig
from schemas.enums import LinkTarget
from schemas.tables import Initiative, KeyResult, MembershipAnchor, Source, WorkItem, WorkItemLink

FIELD = "labels"
PROPERTY = "property"  # Jira issue entity property `portfolio`
PROPERTY_KEY = "portfolio"
PROJECT_FIELD = "project_field"  # GitHub Projects v2 field: the initiative's title
CUSTOM_FIELD = "custom_field"  # Jira custom field (text or select): the initiative's title
TITLE_FIELDS = (PROJECT_FIELD, CUSTOM_FIELD)  # one value, set whole
WORK: Table = WorkItem.__table__  # type: ignore[attr-defined]
LINK: Table = WorkItemLink.__table__  # type: ignore[attr-defined]
ANCHOR: Table = MembershipAnchor.__table__  # type: ignore[attr-defined]
_CHUNK = 500
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(title: str, target_id: int) -> str:
    """`Checkout revamp!` → `checkout-revamp` (the id when nothing is left)."""
    text = _NOT_SLUG.sub("-", title.lower()).strip("-")[:60].rstrip("-")
    return text or str(target_id)


def custom_field_type(source: Source, field_id: str) -> str | None:
    """`text` or `select` for a writable custom field the source's discovery found."""
    for found in (source.discovered or {}).get("writable_fields") or []:
        if isinstance(found, dict) and found.get("id") == field_id:
            return str(found.get("type"))
    return None


def config_of(source: Source) -> WriteBackConfig:
    return WriteBackConfig.model_validate(source.write_back or {})


async def enabled_configs(
    session: AsyncSession, source_ids: Iterable[int] | None = None
) -> dict[int, WriteBackConfig]:
    """Write-back settings of the sources that have it turned on."""
    stmt = select(Source.id, Source.write_back)  # type: ignore[call-overload]
    if source_ids is not None:
        stmt = stmt.where(Source.id.in_(sorted(set(source_ids))))  # type: ignore[union-attr]
    configs = {}
    for source_id, raw in await session.execute(stmt):
        if raw and raw.get("enabled"):
            configs[source_id] = WriteBackConfig.model_validate(raw)
    return configs


@dataclass
class ItemState:
    """One item's facts for write-back: where it lives and the labels it should carry."""

    id: int
    source_id: int
    key: str
    upstream: list[str]
    deleted: bool
    targets: set[tuple[str, int]] = field(default_factory=set)
    desired: list[str] = field(default_factory=list)
    # The title of its initiative (the lowest id when it has several), for single-value fields.
    title: str | None = None

    def desired_for(self, field_name: str) -> list[str]:
        if field_name in TITLE_FIELDS:
            return [] if self.deleted or self.title is None else [self.title]
        return self.desired


async def _titles(
    session: AsyncSession, wanted: set[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    titles: dict[tuple[str, int], str] = {}
    for target_type, model in (
        (LinkTarget.initiative.value, Initiative),
        (LinkTarget.key_result.value, KeyResult),
    ):
        ids = sorted(i for t, i in wanted if t == target_type)
        for start in range(0, len(ids), _CHUNK):
            rows = await session.execute(
                select(model.id, model.title).where(  # type: ignore[call-overload]
                    model.id.in_(ids[start : start + _CHUNK])  # type: ignore[union-attr]
                )
            )
            titles.update({(target_type, i): title for i, title in rows})
    return titles


async def _names(session: AsyncSession, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    titles = await _titles(session, wanted)
    return {target: slug(title, target[1]) for target, title in titles.items()}


def labels_for(
    config: WriteBackConfig, targets: Iterable[tuple[str, int]], names: Mapping[Any, str]
) -> list[str]:
    labels = set()
    for target in targets:
        if target not in names:
            continue
        if target[0] == LinkTarget.initiative.value:
            labels.add(config.label_prefix + names[target])
        elif config.key_result_prefix is not None:
            labels.add(config.key_result_prefix + names[target])
    return sorted(labels)


async def item_states(
    session: AsyncSession, item_ids: Sequence[int], configs: Mapping[int, WriteBackConfig]
) -> list[ItemState]:
    """The desired labels of the given items of write-back sources (`configs` by source)."""
    states: dict[int, ItemState] = {}
    link = and_(
        LINK.c.work_item_id == ANCHOR.c.anchor_id,
        LINK.c.target_type == ANCHOR.c.target_type,
        LINK.c.excluded.is_(False),
    )
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(
                WORK.c.id,
                WORK.c.source_id,
                WORK.c.key,
                WORK.c.labels,
                WORK.c.deleted_at,
                LINK.c.target_type,
                LINK.c.target_id,
            )
            .select_from(WORK)
            .outerjoin(ANCHOR, ANCHOR.c.work_item_id == WORK.c.id)
            .outerjoin(LINK, link)
            .where(WORK.c.id.in_(ids[start : start + _CHUNK]))
        )
        if configs:
            stmt = stmt.where(WORK.c.source_id.in_(sorted(configs)))
        for row in await session.execute(stmt):
            state = states.get(row.id)
            if state is None:
                state = states[row.id] = ItemState(
                    row.id,
                    row.source_id,
                    row.key,
                    list(row.labels or []),
                    row.deleted_at is not None,
                )
            if row.target_type is not None:
                state.targets.add((row.target_type, row.target_id))
    titles = await _titles(session, {t for s in states.values() for t in s.targets})
    names = {target: slug(title, target[1]) for target, title in titles.items()}
    for state in states.values():
        if not state.deleted:
            state.desired = labels_for(configs[state.source_id], state.targets, names)
            initiatives = sorted(
                t for t in state.targets if t[0] == LinkTarget.initiative.value and t in titles
            )
            state.title = titles[initiatives[0]] if initiatives else None
    return list(states.values())


@dataclass
class LabelPlan:
    """Label writes for one item, and bookkeeping that needs no write."""

    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    adopt: list[str] = field(default_factory=list)  # already upstream: ours now, not added by us
    forget: list[str] = field(default_factory=list)  # not added by us: never removed

    @property
    def writes(self) -> int:
        return len(self.add) + len(self.remove)


def fields_of(config: WriteBackConfig) -> list[str]:
    found = [FIELD]
    if config.jira_property:
        found.append(PROPERTY)
    if config.project_field is not None:
        found.append(PROJECT_FIELD)
    if config.jira_custom_field is not None:
        found.append(CUSTOM_FIELD)
    return found


def property_value(config: WriteBackConfig, desired: Sequence[str]) -> dict[str, Any]:
    """The `portfolio` property for desired labels: slugs by kind, and who wrote it."""

    def slugs(prefix: str | None) -> list[str]:
        return [x.removeprefix(prefix) for x in desired if prefix and x.startswith(prefix)]

    return {
        "initiatives": slugs(config.label_prefix),
        "key_results": slugs(config.key_result_prefix),
        "by": "portfolio-sync",
    }


def plan_labels(
    desired: Sequence[str], written: Sequence[str], owned: Sequence[str], upstream: Sequence[str]
) -> LabelPlan:
    """Only the differences; a label is removed only when this service added it."""
    plan = LabelPlan()
    for label in desired:
        if label not in written:
            (plan.adopt if label in upstream else plan.add).append(label)
    for label in written:
        if label not in desired:
            (plan.remove if label in owned else plan.forget).append(label)
    return plan


def targets_by_label(
    config: WriteBackConfig, names: Mapping[tuple[str, int], str]
) -> dict[str, tuple[str, int]]:
    """Reverse of `labels_for` (the lowest id wins a shared slug)."""
    found: dict[str, tuple[str, int]] = {}
    for target in sorted(names, key=lambda t: (t[0], t[1]), reverse=True):
        for label in labels_for(config, [target], names):
            found[label] = target
    return found


async def all_target_names(session: AsyncSession) -> dict[tuple[str, int], str]:
    wanted: set[tuple[str, int]] = set()
    for target_type, model in (
        (LinkTarget.initiative.value, Initiative),
        (LinkTarget.key_result.value, KeyResult),
    ):
        ids = (await session.execute(select(model.id))).scalars()  # type: ignore[call-overload]
        wanted |= {(target_type, i) for i in ids}
    return await _names(session, wanted)


def group_by_source(states: Iterable[ItemState]) -> dict[int, list[ItemState]]:
    grouped: dict[int, list[ItemState]] = defaultdict(list)
    for state in states:
        grouped[state.source_id].append(state)
    return grouped
