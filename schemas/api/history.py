"""API models for a node's history (burn-up series) and its forecast."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.api.rollups import Health

Step = Literal["day", "week"]


class HistoryPoint(BaseModel):
    """The node as it stood at the end of `at` (carried forward from the last recorded point)."""

    at: date
    recorded_at: datetime | None = Field(
        description="When the value shown was recorded; null before the first record."
    )
    progress: float | None
    health: Health | None = None
    done_count: int = Field(description="Items done (cancelled and deleted excluded).")
    total_count: int = Field(description="Scope in items (cancelled and deleted excluded).")
    done_points: float
    total_points: float = Field(description="Scope in story points.")


class HistorySeries(BaseModel):
    node_type: Literal["initiative", "key_result", "objective"]
    node_id: int
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    step: Step
    points: list[HistoryPoint] = Field(description="One per step from `from` to `to`, no gaps.")

    model_config = {"populate_by_name": True}


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
