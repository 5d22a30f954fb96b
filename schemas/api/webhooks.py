"""API models for the webhook receiver and the admin view of its inbox."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import DeliveryStatus


class WebhookAck(BaseModel):
    """What the receiver answers once a delivery is durably stored (or already was)."""

    id: int = Field(description="Inbox row id (see /api/v1/admin/webhook-deliveries).")
    delivery_id: str = Field(description="The dedupe key: GitHub `<hook id>:<GUID>`, Jira id.")
    status: DeliveryStatus
    duplicate: bool = Field(description="True when this delivery had been received before.")


class WebhookDeliverySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    delivery_id: str
    event: str
    action: str | None
    status: DeliveryStatus
    attempts: int
    error: str | None = Field(description="Last apply error, or why the delivery was ignored.")
    received_at: datetime
    next_attempt_at: datetime | None
    processed_at: datetime | None


class WebhookDeliveryDetail(WebhookDeliverySummary):
    headers: dict[str, Any] = Field(description="Request headers; signatures and secrets redacted.")
    payload: dict[str, Any]
