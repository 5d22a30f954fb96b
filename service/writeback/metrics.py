"""Prometheus metrics of write-back."""

from __future__ import annotations

from prometheus_client import Counter

from service.api.observability import REGISTRY

WRITES = Counter(
    "portfolio_sync_write_back_writes_total",
    "Upstream writes made by write-back, by source, operation (add, remove, create_label) "
    "and status (done, failed).",
    ["source", "operation", "status"],
    registry=REGISTRY,
)
CONFLICTS = Counter(
    "portfolio_sync_write_back_conflicts_total",
    "People's upstream edits of written labels, by source and the policy applied.",
    ["source", "policy"],
    registry=REGISTRY,
)
