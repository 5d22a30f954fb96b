"""Prometheus metrics of the webhook receiver and its inbox worker."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from service.api.observability import REGISTRY

DELIVERIES = Counter(
    "portfolio_sync_webhook_deliveries_total",
    "Webhook deliveries by source, event and status reached (received: pending, ignored, "
    "duplicate; worker: processed, ignored, failed, dead).",
    ["source", "event", "status"],
    registry=REGISTRY,
)
VERIFICATION_FAILURES = Counter(
    "portfolio_sync_webhook_verification_failures_total",
    "Deliveries refused before storage: bad or missing signature, or no secret configured.",
    ["source", "reason"],
    registry=REGISTRY,
)
INBOX_LAG = Gauge(
    "portfolio_sync_webhook_inbox_lag_seconds",
    "Age of the oldest pending inbox row (0 when the inbox is drained).",
    registry=REGISTRY,
)
APPLY_SECONDS = Histogram(
    "portfolio_sync_webhook_apply_duration_seconds",
    "Time the worker spends applying one delivery (parse, upsert, mark).",
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DELIVERY_LATENCY = Histogram(
    "portfolio_sync_webhook_delivery_latency_seconds",
    "From receipt to applied: how long a delivery waits before it reaches the store.",
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
