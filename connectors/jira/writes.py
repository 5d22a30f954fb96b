"""Jira label writes: one `PUT /rest/api/3/issue/{key}` with `update.labels` add/remove operations.

Operations never replace the label set. Per-issue write limits and bursts answer 429 with
`Retry-After`, which the shared HTTP policy waits out before sending again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connectors.base import Clock, ConnectorStats, Sleep
from connectors.http import (
    HttpExecutor,
    RateLimitPolicy,
    RetryPolicy,
    build_client,
    utc_now,
)
from connectors.jira.client import JiraRequests, build_executor, resolve_endpoint


class JiraLabelWriter:
    """Label edits on Jira issues through the shared HTTP policy (serial per credential)."""

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, Any],
        *,
        settings: Mapping[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        max_wait_seconds: float = 15 * 60,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(base_url, credentials, settings)
        self.stats = ConnectorStats()
        self._owns_client = client is None
        self._client = client or build_client()
        self._requests = JiraRequests(self._client, self.endpoint)
        self._sleep, self._clock = sleep, clock
        self._limits = RateLimitPolicy(max_wait_seconds=max_wait_seconds)
        self._retry = retry
        self._executor: HttpExecutor | None = None

    def __repr__(self) -> str:
        return f"JiraLabelWriter({self.endpoint.api_url!r})"

    def _http(self) -> HttpExecutor:
        if self._executor is None:
            self._executor = build_executor(
                self._client,
                self.endpoint,
                stats=self.stats,
                limits=self._limits,
                sleep=self._sleep,
                clock=self._clock,
                retry=self._retry,
            )
        return self._executor

    async def ensure_label(self, key: str, name: str, color: str) -> bool:
        # Jira labels exist by being used; there is nothing to create.
        return False

    async def change_labels(self, key: str, add: Sequence[str], remove: Sequence[str]) -> None:
        operations = [{"remove": name} for name in remove] + [{"add": name} for name in add]
        if not operations:
            return
        request = self._requests.edit_issue(key, {"update": {"labels": operations}})
        await self._http().send(request, expect_json=False, context=key)

    async def set_property(self, key: str, name: str, value: Any) -> None:
        """Set an issue entity property (the whole value; it belongs to its writer)."""
        await self._http().send(self._requests.set_property(key, name, value), context=key)

    async def set_field(self, key: str, field_id: str, kind: str, value: str | None) -> None:
        """Set a custom field whole: text as is, select as `{"value": name}`; None clears."""
        if value is None or kind == "text":
            body: Any = value
        else:
            body = {"value": value}
        request = self._requests.edit_issue(key, {"fields": {field_id: body}})
        await self._http().send(request, expect_json=False, context=key)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
