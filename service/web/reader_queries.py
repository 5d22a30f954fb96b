"""Reads the reader pages need beside the API's services: names for selects, provenance, counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import (
    Change,
    Initiative,
    InitiativeKeyResult,
    KeyResult,
    MappingRule,
    MembershipAnchor,
    Objective,
    Source,
    WorkItem,
    WorkItemLink,
)
from service.errors import Unprocessable
from service.feed.queries import latest_changes


@dataclass(frozen=True)
class Provenance:
    """Why an item counts for a target: its own link, or the link of the ancestor `via_key`."""

    provenance: str
    via_key: str | None = None
    via_id: int | None = None
    manual: bool = False

    @property
    def label(self) -> str:
        own = "manual" if self.provenance.startswith("manual:") else self.provenance
        if self.via_key is not None:
            return f"inherited via {self.via_key} ({own})"
        return own


async def setup_counts(session: AsyncSession) -> tuple[int, int]:
    """(sources, mapping rules): what the empty states of the portfolio page point at."""
    sources = await session.scalar(select(func.count()).select_from(Source))
    rules = await session.scalar(select(func.count()).select_from(MappingRule))
    return int(sources or 0), int(rules or 0)


async def owners(session: AsyncSession) -> tuple[dict[int, str | None], dict[int, str | None]]:
    """Owner by initiative id and by objective id."""
    initiatives = await session.execute(select(col(Initiative.id), col(Initiative.owner)))
    objectives = await session.execute(select(col(Objective.id), col(Objective.owner)))
    return (
        {i: owner for i, owner in initiatives.tuples() if i is not None},
        {i: owner for i, owner in objectives.tuples() if i is not None},
    )


def _pairs(rows: Any) -> list[tuple[int, str]]:
    return [(int(i), str(text)) for i, text in rows]


async def objective_choices(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(col(Objective.id), col(Objective.title)).order_by(col(Objective.id))
    )
    return _pairs(rows)


async def initiative_choices(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(col(Initiative.id), col(Initiative.title)).order_by(col(Initiative.id))
    )
    return _pairs(rows)


async def source_choices(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(select(col(Source.id), col(Source.name)).order_by(col(Source.id)))
    return _pairs(rows)


async def kind_choices(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(col(WorkItem.kind)).distinct().order_by(col(WorkItem.kind)))
    return list(rows.scalars().all())


async def provenance_of(
    session: AsyncSession, target_type: str, target_id: int, item_ids: Sequence[int]
) -> dict[int, Provenance]:
    """For members of a target: the link they count through, their own or an ancestor's."""
    if not item_ids:
        return {}
    anchors = dict(
        (
            await session.execute(
                select(col(MembershipAnchor.work_item_id), col(MembershipAnchor.anchor_id)).where(
                    col(MembershipAnchor.target_type) == target_type,
                    col(MembershipAnchor.work_item_id).in_(list(item_ids)),
                )
            )
        )
        .tuples()
        .all()
    )
    anchor_ids = sorted(set(anchors.values()) | set(item_ids))
    links = (
        await session.execute(
            select(
                col(WorkItemLink.work_item_id),
                col(WorkItemLink.provenance),
                col(WorkItemLink.manual),
                col(WorkItem.key),
            )
            .join(WorkItem, col(WorkItem.id) == col(WorkItemLink.work_item_id))
            .where(
                col(WorkItemLink.target_type) == target_type,
                col(WorkItemLink.target_id) == target_id,
                col(WorkItemLink.excluded).is_(False),
                col(WorkItemLink.work_item_id).in_(anchor_ids),
            )
        )
    ).tuples()
    by_anchor = {item_id: (provenance, manual, key) for item_id, provenance, manual, key in links}
    found: dict[int, Provenance] = {}
    for item_id in item_ids:
        anchor = anchors.get(item_id, item_id)
        if anchor not in by_anchor:
            continue
        provenance, manual, key = by_anchor[anchor]
        via = (key, anchor) if anchor != item_id else (None, None)
        found[item_id] = Provenance(provenance, via_key=via[0], via_id=via[1], manual=manual)
    return found


async def exclusions(
    session: AsyncSession, target_type: str, target_id: int
) -> Sequence[tuple[WorkItem, WorkItemLink]]:
    """Items excluded from the target by hand (an editor may undo each)."""
    rows = await session.execute(
        select(WorkItem, WorkItemLink)
        .join(WorkItemLink, col(WorkItemLink.work_item_id) == col(WorkItem.id))
        .where(
            col(WorkItemLink.target_type) == target_type,
            col(WorkItemLink.target_id) == target_id,
            col(WorkItemLink.excluded).is_(True),
        )
        .order_by(col(WorkItem.id))
        .limit(200)
    )
    return list(rows.tuples().all())


async def find_item(session: AsyncSession, reference: str) -> int:
    """A work item id from what an editor typed: its id, or its key (e.g. `PROJ-12`)."""
    text = reference.strip()
    if text.isdigit() and len(text) < 19 and await session.get(WorkItem, int(text)) is not None:
        return int(text)
    rows = (
        (
            await session.execute(
                select(col(WorkItem.id)).where(
                    col(WorkItem.key) == text, col(WorkItem.deleted_at).is_(None)
                )
            )
        )
        .scalars()
        .all()
    )
    message = None
    if not rows:
        message = f"no work item has the id or key {text!r}"
    elif len(rows) > 1:
        message = f"{len(rows)} work items have the key {text!r}; give the item's id"
    if message is not None or rows[0] is None:
        message = message or "no such work item"
        raise Unprocessable(
            message, errors=[{"loc": ["item"], "msg": message, "type": "value_error"}]
        )
    return int(rows[0])


async def target_titles(
    session: AsyncSession, pairs: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """Titles of initiatives and key results named by links."""
    titles: dict[tuple[str, int], str] = {}
    for target_type, model in (("initiative", Initiative), ("key_result", KeyResult)):
        ids = [i for t, i in pairs if t == target_type]
        if ids:
            rows = await session.execute(
                select(col(model.id), col(model.title)).where(col(model.id).in_(ids))
            )
            titles.update({(target_type, i): title for i, title in _pairs(rows)})
    return titles


async def key_results_of_initiative(session: AsyncSession, initiative_id: int) -> list[KeyResult]:
    rows = await session.execute(
        select(KeyResult)
        .join(InitiativeKeyResult, col(InitiativeKeyResult.key_result_id) == col(KeyResult.id))
        .where(col(InitiativeKeyResult.initiative_id) == initiative_id)
        .order_by(col(KeyResult.id))
    )
    return list(rows.scalars().all())


async def item_history(session: AsyncSession, item_id: int, *, limit: int = 50) -> list[Change]:
    """The item's own change-feed entries (content and link changes), newest first."""
    condition = and_(col(Change.entity_type) == "work_item", col(Change.entity_id) == item_id)
    return list(await latest_changes(session, condition, limit=limit))
