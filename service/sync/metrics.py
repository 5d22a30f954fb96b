"""Prometheus metrics of the sync engine, on the service's registry (`/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from connectors.base import ConnectorStats
from service.api.observability import REGISTRY

RUNS = Counter(
    "portfolio_sync_sync_runs_total",
    "Finished sync runs by source kind, mode and final status.",
    ["kind", "mode", "status"],
    registry=REGISTRY,
)
ITEMS = Counter(
    "portfolio_sync_sync_items_total",
    "Work items seen by sync runs, by outcome (created, updated, unchanged, deleted).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_REQUESTS = Counter(
    "portfolio_sync_upstream_requests_total",
    "Upstream HTTP requests sent by sync runs, by HTTP status (`error`: no response).",
    ["kind", "status"],
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "portfolio_sync_upstream_retries_total",
    "Upstream requests retried by sync runs (5xx, timeouts, resets).",
    ["kind"],
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING = Gauge(
    "portfolio_sync_upstream_rate_limit_remaining",
    "Last seen remaining upstream budget per source and resource.",
    ["source", "resource"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "portfolio_sync_sync_run_duration_seconds",
    "Wall-clock duration of sync runs.",
    ["kind", "mode", "status"],
    registry=REGISTRY,
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)


def record_run(
    *,
    kind: str,
    mode: str,
    status: str,
    seconds: float,
    source_name: str,
    items: dict[str, int],
    stats: ConnectorStats | None,
) -> None:
    RUNS.labels(kind, mode, status).inc()
    RUN_DURATION.labels(kind, mode, status).observe(seconds)
    for outcome, count in items.items():
        if count:
            ITEMS.labels(kind, outcome).inc(count)
    if stats is None:
        return
    for status, count in stats.responses.items():
        UPSTREAM_REQUESTS.labels(kind, status).inc(count)
    UPSTREAM_RETRIES.labels(kind).inc(stats.retries)
    for resource, info in stats.rate_limit.items():
        if info.remaining is not None:
            RATE_LIMIT_REMAINING.labels(source_name, resource).set(info.remaining)
