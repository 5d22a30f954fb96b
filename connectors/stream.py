"""The base stream: it owns the page loop so concrete streams only describe one request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import ConnectorError, FatalUpstreamError, Page
from connectors.http import HttpExecutor, Reply
from connectors.pagination import Paginator
from schemas.work_item import WorkItemIn


class Stream(ABC):
    """One partition of one upstream listing, read page by page.

    The loop: `build_request` → `HttpExecutor.send` (classify, retry, wait) → `parse_records`
    → `map_record` → `next_state` → yield `Page`. A 304 yields one empty page with
    `not_modified=True` and the incoming state unchanged, then stops.

    Args:
        executor: the shared HTTP policy (one per token).
        partition: the `Page.stream` name, e.g. `issues:octo/repo`.
        context: prefixes error messages (e.g. `repo octo/repo`); defaults to the partition.

    Raises (from `pages`): whatever `HttpExecutor.send` raises (`FatalUpstreamError`,
    `RateLimitedError`, `RetriesExhaustedError`), and `FatalUpstreamError` for a pagination loop,
    a page body of the wrong shape, or a record `map_record` cannot map.
    """

    def __init__(self, executor: HttpExecutor, partition: str, *, context: str | None = None):
        self.executor = executor
        self.partition = partition
        self.context = context or partition

    async def send(self, request: httpx.Request) -> Reply:
        """Send one request under the executor's policy; override to add per-upstream steps."""
        return await self.executor.send(request, context=self.context)

    @abstractmethod
    def make_paginator(self) -> Paginator:
        """A fresh paginator for one pass."""

    @abstractmethod
    def build_request(self, state: Mapping[str, Any], token: str | None) -> httpx.Request:
        """The request for the first page (`token` None) or the page `token` names."""

    @abstractmethod
    def parse_records(self, reply: Reply) -> list[dict[str, Any]]:
        """The upstream records in one page body."""

    @abstractmethod
    def map_record(self, record: dict[str, Any]) -> WorkItemIn | None:
        """One record as a work item, or None for records this stream does not emit."""

    def next_state(
        self,
        state: Mapping[str, Any],
        *,
        reply: Reply,
        records: list[dict[str, Any]],
        first_page: bool,
        last_page: bool,
    ) -> dict[str, Any]:
        """The checkpoint to store with this page; the default keeps the state as it is."""
        return dict(state)

    def resume_token(self, state: Mapping[str, Any]) -> str | None:
        """The page token a checkpoint says to continue from (None: the first page)."""
        return None

    def head_of(self, records: list[dict[str, Any]]) -> Any:
        """The sort value of a page's first record (`Page.head`); the default gives none."""
        return None

    def refine(self, page: Page) -> Page:
        """Give a page that has a next one its `refine` (see `Page`); the default gives none."""
        return page

    async def pages(self, state: Mapping[str, Any]) -> AsyncIterator[Page]:
        stats = self.executor.stats
        current = dict(state)
        paginator = self.make_paginator()
        token = self.resume_token(current)
        first_page = True
        while True:
            reply = await self.send(self.build_request(current, token))
            if reply.not_modified:
                stats.not_modified += 1
                yield Page(self.partition, [], dict(current), not_modified=True, last=True)
                return
            records = self.parse_records(reply)
            items = [
                item
                for index, record in enumerate(records)
                if (item := self._mapped(index, record)) is not None
            ]
            token = paginator.next_token(reply)
            current = self.next_state(
                current, reply=reply, records=records, first_page=first_page, last_page=not token
            )
            stats.pages += 1
            page = Page(
                self.partition, items, current, last=token is None, head=self.head_of(records)
            )
            yield page if token is None else self.refine(page)
            if token is None:
                return
            first_page = False

    def _mapped(self, index: int, record: dict[str, Any]) -> WorkItemIn | None:
        """`map_record`, its failure named with the stream and record: a record that cannot be
        mapped fails the run (its page is not stored) instead of being stored half-read."""
        try:
            return self.map_record(record)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
            raise FatalUpstreamError(
                f"{self.context}: record {index + 1} of the page cannot be mapped: {reason[:300]}"
            ) from exc


def records_list(reply: Reply, key: str | None = None) -> list[dict[str, Any]]:
    """The list of records in a body (top-level array, or `body[key]`), checked for shape."""
    body = reply.data
    if key is not None:
        body = body.get(key) if isinstance(body, dict) else None
    if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
        where = f"{reply.request.method} {reply.request.url.path}"
        raise FatalUpstreamError(f"{where}: expected a list of objects in the response body")
    return body
