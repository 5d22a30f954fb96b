"""API models for the change feed, outbound subscriptions, deliveries and digests."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import Id, NoNul
from schemas.api.rollups import Forecast

EventType = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+|\.\*)?$|^\*$")
]


class ChangePublic(BaseModel):
    """One change-feed entry: what changed, the fields that differ before/after, and why."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The cursor: strictly increasing in commit order.")
    type: str
    entity_type: str
    entity_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    cause: str = Field(
        description="`sync:<run>`, `webhook:<delivery>`, `rule:<id>@<v>`, `api:<key>`"
    )
    created_at: datetime


class ChangePage(BaseModel):
    """A page of the feed. Pass `next_cursor` back as `?after=`; it is returned even when empty."""

    items: list[ChangePublic]
    next_cursor: int


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, NoNul] = Field(min_length=8, max_length=2000)
    secret: Annotated[str | None, NoNul] = Field(
        default=None,
        max_length=200,
        description="`whsec_<base64>` (24 to 64 bytes), generated if omitted; shown once.",
    )
    types: list[EventType] = Field(
        default_factory=list,
        max_length=50,
        description="Event types (`work_item.updated`, `work_item.*`, `digest.ready`); empty: all.",
    )
    initiative_id: Id | None = None
    objective_id: Id | None = None
    enabled: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str | None, NoNul] = Field(default=None, min_length=8, max_length=2000)
    secret: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    types: list[EventType] | None = Field(default=None, max_length=50)
    initiative_id: Id | None = None
    objective_id: Id | None = None
    enabled: bool | None = Field(
        default=None, description="Re-enabling clears `disabled_reason` and the failure streak."
    )


class SubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    types: list[str]
    initiative_id: int | None
    objective_id: int | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    last_change_id: int = Field(description="The last feed entry queued for this subscription.")
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The signing secret. Shown only in this response.")


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    webhook_id: str
    event_type: str
    change_id: int | None
    status: str = Field(description="`pending`, `delivered` or `failed` (retries exhausted)")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


Scope = Annotated[
    str,
    Field(
        pattern=r"^(portfolio|initiative:[1-9][0-9]{0,9}|objective:[1-9][0-9]{0,9})$",
        description="`portfolio`, `initiative:<id>` or `objective:<id>`",
    ),
]


class DigestScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope
    cron: Annotated[str, NoNul] = Field(
        min_length=9, max_length=100, description="Five-field crontab, UTC (`0 9 * * MON`)."
    )
    subscription_id: Id
    enabled: bool = True


class DigestScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope | None = None
    cron: Annotated[str | None, NoNul] = Field(default=None, min_length=9, max_length=100)
    subscription_id: Id | None = None
    enabled: bool | None = None


class DigestSchedulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: str
    cron: str
    subscription_id: int
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class NodeMovement(BaseModel):
    node_type: Literal["objective", "key_result", "initiative"]
    node_id: int
    title: str
    progress_before: float | None
    progress_after: float | None
    health_before: str | None
    health_after: str | None


class DigestItem(BaseModel):
    work_item_id: int
    key: str
    title: str
    estimate: float | None = None
    url: str | None = None


class SlippedNode(BaseModel):
    node_type: Literal["objective", "key_result", "initiative"]
    node_id: int
    title: str
    reason: str = Field(description="`health worsened: on_track → at_risk` or `overdue since …`")


class ForecastNote(BaseModel):
    initiative_id: int
    title: str
    forecast: Forecast


class Digest(BaseModel):
    scope: str
    title: str
    since: datetime
    until: datetime
    movements: list[NodeMovement] = Field(description="Progress delta and health change per node.")
    completed: list[DigestItem]
    scope_added: list[DigestItem] = Field(description="Work newly linked into the scope.")
    scope_added_points: float
    slipped: list[SlippedNode]
    unplanned: list[DigestItem] = Field(description="New work linked to no initiative/key result.")
    changes: int = Field(description="Feed entries in the scope during the window.")
    forecasts: list[ForecastNote] = Field(
        default_factory=list,
        description="Open initiatives with a projected completion date (and whether p85 lies "
        "past the target date).",
    )
