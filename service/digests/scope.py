"""A digest's scope: which portfolio nodes and which work items it covers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.tables import Initiative, InitiativeKeyResult, KeyResult, Objective, WorkItemLink
from service.errors import NotFound, Unprocessable
from service.feed.queries import FeedFilter


@dataclass
class Scope:
    key: str
    title: str
    objectives: dict[int, str]
    key_results: dict[int, KeyResult]
    initiatives: dict[int, Initiative]
    is_portfolio: bool

    def feed_filter(self) -> FeedFilter:
        kind, _, raw = self.key.partition(":")
        if kind == "initiative":
            return FeedFilter(initiative_id=int(raw))
        if kind == "objective":
            return FeedFilter(objective_id=int(raw))
        return FeedFilter()

    def link_condition(self) -> ColumnElement[bool]:
        """Links (not excluded) that put a work item in this scope."""
        if self.is_portfolio:
            return col(WorkItemLink.excluded).is_(False)
        return and_(
            col(WorkItemLink.excluded).is_(False),
            or_(
                and_(
                    col(WorkItemLink.target_type) == "initiative",
                    col(WorkItemLink.target_id).in_(list(self.initiatives)),
                ),
                and_(
                    col(WorkItemLink.target_type) == "key_result",
                    col(WorkItemLink.target_id).in_(list(self.key_results)),
                ),
            ),
        )


def _parse(scope: str) -> tuple[str, int | None]:
    kind, _, raw = scope.partition(":")
    if kind == "portfolio" and not raw:
        return kind, None
    if kind in ("initiative", "objective") and raw.isdigit() and 0 < int(raw) < 2**31:
        return kind, int(raw)
    raise Unprocessable(
        "scope must be `portfolio`, `initiative:<id>` or `objective:<id>`",
        errors=[{"loc": ["query", "scope"], "msg": "invalid scope", "type": "value_error"}],
    )


async def resolve(session: AsyncSession, scope: str) -> Scope:
    kind, node_id = _parse(scope)
    if kind == "initiative":
        assert node_id is not None
        initiative = await session.get(Initiative, node_id)
        if initiative is None:
            raise NotFound(f"initiative {node_id} does not exist")
        return Scope(scope, f"Initiative: {initiative.title}", {}, {}, {node_id: initiative}, False)
    kr_where: ColumnElement[bool] = true()
    obj_where: ColumnElement[bool] = true()
    title = "Portfolio"
    if kind == "objective":
        objective = await session.get(Objective, node_id)
        if objective is None:
            raise NotFound(f"objective {node_id} does not exist")
        title = f"Objective: {objective.title}"
        kr_where = col(KeyResult.objective_id) == node_id
        obj_where = col(Objective.id) == node_id
    objectives = dict(
        (
            await session.execute(select(col(Objective.id), col(Objective.title)).where(obj_where))
        ).all()
    )
    krs = {k.id: k for k in (await session.execute(select(KeyResult).where(kr_where))).scalars()}
    ini_stmt = select(Initiative)
    if kind == "objective":
        ini_stmt = ini_stmt.where(
            col(Initiative.id).in_(
                select(col(InitiativeKeyResult.initiative_id)).where(
                    col(InitiativeKeyResult.key_result_id).in_(list(krs))
                )
            )
        )
    initiatives = {i.id: i for i in (await session.execute(ini_stmt)).scalars()}
    return Scope(
        scope,
        title,
        {k: v for k, v in objectives.items() if k is not None},
        {k: v for k, v in krs.items() if k is not None},
        {k: v for k, v in initiatives.items() if k is not None},
        kind == "portfolio",
    )
