"""API models for a node's history (burn-up series) and its forecast."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.api.rollups import Forecast, Health

__all__ = ["Forecast", "HistoryPoint", "HistorySeries", "Step"]

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
