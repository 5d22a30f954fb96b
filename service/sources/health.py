"""Webhook health: a poll that finds changes no delivery brought means the hooks went quiet.

With working hooks, the inbox applies each change before the next poll, so the poll finds
nothing new. When a poll does find changes and no verified delivery arrived for longer than
the threshold (counted from the later of the last delivery and the registration), the source is
`degraded` with the reason. Polling goes on either way; this only makes the silence visible.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Gauge

from schemas.tables import Source
from service.api.observability import REGISTRY

WEBHOOK_DEGRADED = Gauge(
    "portfolio_sync_source_webhook_degraded",
    "1 when a source's registered webhooks look silent (a poll found changes no delivery "
    "brought within the threshold), else 0.",
    ["source"],
    registry=REGISTRY,
)


def _registered_at(source: Source) -> datetime | None:
    stamps = [h.get("registered_at") for h in source.webhooks or [] if h.get("registered_at")]
    return max((datetime.fromisoformat(str(s)) for s in stamps), default=None)


def after_poll(source: Source, run_id: int, changed: int, now: datetime, threshold: int) -> None:
    """Judge the hooks after a successful poll that created or updated `changed` items."""
    if not source.webhooks:
        return
    heard = [t for t in (source.last_delivery_at, _registered_at(source)) if t is not None]
    since = max(heard) if heard else None
    silent = since is None or now - since > timedelta(seconds=threshold)
    if changed and silent:
        last = source.last_delivery_at.isoformat() if source.last_delivery_at else "never"
        source.webhook_health = "degraded"
        source.webhook_health_reason = (
            f"sync run {run_id} found {changed} change(s) that no webhook delivery brought; "
            f"the last verified delivery was {last}, more than {threshold} s before"
        )
    elif not silent or source.webhook_health is None:
        source.webhook_health = "ok"
        source.webhook_health_reason = None
    # A quiet poll after a quiet spell proves nothing either way: the verdict stands.
    WEBHOOK_DEGRADED.labels(str(source.id)).set(1 if source.webhook_health == "degraded" else 0)
