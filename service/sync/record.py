"""What a run records: its counters, its error message, the upstream budgets it saw."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError, ConnectorStats
from schemas.tables import SyncRun
from service.logs import redact
from service.store.work_items import UpsertResult
from service.sync.pages import ReadAhead


@dataclass
class RunCounters:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    stats: ConnectorStats = field(default_factory=ConnectorStats)
    ahead: ReadAhead = field(default_factory=ReadAhead)

    def add(self, result: UpsertResult) -> None:
        self.created += result.created
        self.updated += result.updated + result.restored
        self.unchanged += result.unchanged + result.stale

    def items(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
        }

    def apply(self, run: SyncRun) -> None:
        run.items_created = self.created
        run.items_updated = self.updated
        run.items_unchanged = self.unchanged
        run.items_deleted = self.deleted
        run.requests = self.stats.requests
        # Pages stored, not fetched: the page read ahead counts once it is stored.
        run.pages = self.stats.pages - self.ahead.held()
        run.retries = self.stats.retries
        run.rate_limit_wait_seconds = round(self.stats.rate_limit_wait_seconds, 3)


def safe_message(exc: BaseException, secrets: list[str]) -> str:
    """A message fit for the run record and the log: connector messages as they are (they are
    written to be shown), anything else with its type; known secret values are blanked."""
    text = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            # Whole values only: a short secret must not blank letters inside ordinary words.
            pattern = rf"(?<![A-Za-z0-9_\-.]){re.escape(secret)}(?![A-Za-z0-9_\-.])"
            text = re.sub(pattern, "***", text)
    return redact(text)[:2000]


def rate_limits(stats: ConnectorStats) -> dict[str, Any]:
    return {
        resource: {
            "limit": info.limit,
            "remaining": info.remaining,
            "reset_at": info.reset_at.isoformat() if info.reset_at else None,
        }
        for resource, info in stats.rate_limit.items()
    }
