"""The contract between connectors and the service.

A connector reads one configured source. It never touches the database: the sync engine gives it
the stored checkpoint state per stream partition and persists each `Page.state` in the same
transaction as the page's items.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from schemas.work_item import WorkItemIn

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


@dataclass
class Page:
    """One page of items from one stream partition, plus the checkpoint to store with it.

    `stream` names the partition (e.g. `issues:octo/repo`, `search`). `state` is opaque to the
    engine: it is saved as-is and handed back on the next run. `not_modified` marks a conditional
    request answered 304 (no items, state unchanged). `last` marks the partition's final page:
    everything in scope for it has been read. `failed` (with no items) says the partition could
    not be read at all (a repository gone or forbidden); the run goes on with the others and then
    fails. `refine`, given the next page of the same partition, returns a tighter checkpoint for
    this page (one that re-reads nothing already stored when a run resumes from it); `head` is
    the sort value of the page's first record, for the page before it to refine by.
    """

    stream: str
    items: list[WorkItemIn]
    state: dict[str, Any]
    not_modified: bool = False
    last: bool = False
    failed: str | None = None
    refine: Callable[[Page], dict[str, Any]] | None = field(default=None, repr=False)
    head: Any = None


@dataclass
class RateLimitInfo:
    resource: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


@dataclass
class ConnectorStats:
    """Counters a connector keeps while it runs; the engine copies them onto the run record."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    not_modified: int = 0
    rate_limit_wait_seconds: float = 0.0
    rate_limit: dict[str, RateLimitInfo] = field(default_factory=dict)
    # Responses by HTTP status ("200", "304", "429", …); "error" for transport failures.
    responses: dict[str, int] = field(default_factory=dict)

    def count_response(self, status: int | str) -> None:
        key = str(status)
        self.responses[key] = self.responses.get(key, 0) + 1


@dataclass
class Upsert:
    """Webhook instruction: upsert this item through the single upsert path."""

    item: WorkItemIn


@dataclass
class Tombstone:
    """Webhook instruction: mark this item deleted (kept as a tombstone)."""

    external_id: str
    key: str | None = None
    occurred_at: datetime | None = None


@dataclass
class Ignore:
    """Webhook instruction: nothing to apply; `reason` is recorded on the delivery."""

    reason: str


WebhookInstruction = Upsert | Tombstone | Ignore


class Connector(Protocol):
    """What the sync engine needs from a connector. Implementations: GitHub, Jira."""

    stats: ConnectorStats

    async def check(self) -> dict[str, Any]:
        """Verify credentials and scope; return what was found (user, repos/projects)."""
        ...

    async def discover(self) -> dict[str, Any]:
        """Discover per-site settings (e.g. Jira custom fields); returned for the source view."""
        ...

    def read(
        self, state: Mapping[str, dict[str, Any]], *, skip: Collection[str] = ()
    ) -> AsyncIterator[Page]:
        """Yield pages of changed items, incrementally from `state` (empty = from the start);
        partitions named in `skip` (already read to the end by a resumed run) are not read."""
        ...

    async def live_external_ids(self) -> set[str]:
        """Id sweep: the external ids of every item currently in the source scope."""
        ...

    async def confirm_gone(self, items: Sequence[tuple[str, str]]) -> set[str]:
        """Of `(external_id, key)` pairs a full listing did not return, the external ids the
        upstream confirms are no longer in scope (deleted, moved away or out of the filter)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class WebhookRegistrar(Protocol):
    """A connector that can register its source's webhooks upstream.

    A registered hook is a dict: `target` (`repo:o/r`, `org:o`, `jira`), `upstream_id`,
    `events`, `url` (and `jql` for Jira). Registering is idempotent: a hook is found by its URL.
    """

    async def register_webhooks(self, url: str, secret: str) -> list[dict[str, Any]]: ...

    async def set_webhook_secret(self, hooks: list[dict[str, Any]], secret: str) -> None: ...

    async def unregister_webhooks(self, hooks: list[dict[str, Any]]) -> int:
        """Delete the hooks; the count of those that were still there upstream."""
        ...


class ConnectorError(Exception):
    """Base class for connector failures; the message is safe to show and store."""


class FatalUpstreamError(ConnectorError):
    """A 4xx (other than rate limits) or malformed response: the run fails with this message."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(ConnectorError):
    """The wait the upstream asks for exceeds the configured maximum."""

    def __init__(self, message: str, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class RetriesExhaustedError(ConnectorError):
    """Transient failures (5xx, timeouts, resets) persisted past the retry budget."""
