"""API models for progress rollups, the portfolio tree and allocation."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Health = Literal["not_started", "on_track", "at_risk", "off_track", "done"]
NodeType = Literal["initiative", "key_result", "objective", "epic"]


class Excluded(BaseModel):
    reason: str = Field(description="Why these items do not count, e.g. `deleted`, `cancelled`.")
    count: int


class Component(BaseModel):
    """A part averaged into an objective (or a key result's linked work)."""

    node_type: NodeType
    node_id: int
    progress: float | None
    weight: float


class Explanation(BaseModel):
    formula: str = Field(description="How `progress` was computed, with the numbers used.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Counted items per status category."
    )
    points: dict[str, float] = Field(
        default_factory=dict, description="Story points per status category."
    )
    excluded: list[Excluded] = Field(default_factory=list)
    components: list[Component] | None = None
    elapsed: float | None = Field(
        default=None, description="Share of the time from start_date to target_date gone."
    )
    health_rule: str | None = None


class Forecast(BaseModel):
    """When an initiative's open items are projected to be done, from its own throughput."""

    status: Literal["forecast", "insufficient_data", "done"]
    weeks: int = Field(description="Weeks of throughput looked at (FORECAST_WEEKS).")
    samples: list[int] = Field(description="Items done per week, oldest first.")
    remaining: int = Field(description="Open items (not done, not cancelled, not deleted).")
    p50: date | None = None
    p85: date | None = None
    target_date: date | None = None
    past_target: bool = Field(
        default=False, description="True when the p85 date lies past the target date."
    )
    detail: str = Field(description="The forecast in words, with its inputs.")


class Rollup(BaseModel):
    node_type: NodeType
    node_id: int
    title: str
    progress: float | None = Field(description="0..1, or null when there is nothing to measure.")
    by_count: float | None = None
    by_points: float | None = None
    health: Health | None = None
    start_date: date | None = None
    target_date: date | None = None
    explanation: Explanation
    as_of: datetime
    forecast: Forecast | None = Field(
        default=None, description="Initiatives: projected completion (progress endpoint only)."
    )


class InitiativeNode(Rollup):
    epics: list[Rollup] | None = None


class KeyResultNode(Rollup):
    initiatives: list[InitiativeNode] = Field(default_factory=list)


class ObjectiveNode(Rollup):
    key_results: list[KeyResultNode] = Field(default_factory=list)
    objectives: list["ObjectiveNode"] = Field(default_factory=list)


class PortfolioTree(BaseModel):
    as_of: datetime
    objectives: list[ObjectiveNode]
    unaligned_initiatives: list[InitiativeNode] = Field(
        description="Initiatives linked to no key result (only without an objective filter)."
    )


class AllocationRow(BaseModel):
    initiative_id: int | None = Field(description="null for unplanned work.")
    initiative_title: str
    group: str
    open_items: int
    open_points: float


class AllocationTotal(BaseModel):
    key: str
    open_items: int
    open_points: float


class Allocation(BaseModel):
    group_by: Literal["assignee", "label", "component", "source"]
    as_of: datetime
    rows: list[AllocationRow]
    by_initiative: list[AllocationTotal] = Field(
        description="Per initiative id (`unplanned` for work linked to none)."
    )
    by_group: list[AllocationTotal] = Field(description="Per group, each open item once.")
    total: AllocationTotal = Field(description="Every open item once.")
