"""The page loop's helpers: one page of read-ahead, exact checkpoints, scope outcomes.

A run reads pages one ahead of the one it stores, so the upstream and the database work at the
same time; the page read ahead also tells a stream's `refine` the exact resume point of the page
before it. Full runs record each partition's outcome (`reading`, `complete`, `failed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from connectors.base import ConnectorError, Page


@dataclass
class ReadAhead:
    """The page being fetched ahead of the one being stored (see `read_ahead`)."""

    pending: asyncio.Task[Page] | None = None

    def held(self) -> int:
        """1 when a page was fetched (and counted in `ConnectorStats.pages`) but not stored."""
        task = self.pending
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return 0
        return 0 if task.result().not_modified else 1


class ScopesFailed(ConnectorError):
    """Some partitions could not be read: their items were left as they are."""


def scopes_in(scopes: dict[str, Any], *states: str) -> list[str]:
    """The partitions whose outcome is one of `states` (`reading`, `complete`, `failed`)."""
    return [name for name, outcome in scopes.items() if outcome.get("status") in states]


def raise_failed_scopes(scopes: dict[str, dict[str, Any]], *, swept: bool) -> None:
    failed = [scopes[name] for name in scopes_in(scopes, "failed")]
    if not failed:
        return
    total = sum(1 for o in scopes.values() if "status" in o)
    reasons = "; ".join(str(o.get("error")) for o in failed)
    what = "were not swept" if swept else "were skipped"
    raise ScopesFailed(f"{len(failed)} of {total} scopes could not be read and {what}: {reasons}")


def scope_of(partition: str) -> str:
    """The scope a partition reads (`issues:octo/repo` → `octo/repo`, the items' `project`)."""
    return partition.partition(":")[2] or partition


async def checkpoint(page: Page, ahead: ReadAhead) -> dict[str, Any]:
    """The page's checkpoint, refined by the next page of its partition when the stream can (the
    next page is being fetched already; waiting for it costs nothing the loop would not wait)."""
    task = ahead.pending
    if page.refine is None or page.last or task is None:
        return page.state
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is not None:
        return page.state
    following = task.result()
    if following.stream != page.stream or following.failed is not None:
        return page.state
    return page.refine(following)


async def read_ahead(
    pages: AsyncIterator[Page], ahead: ReadAhead | None = None
) -> AsyncGenerator[Page, None]:
    """Yield `pages` in order, fetching the next page while the caller handles the current one.

    `ahead` (if given) tracks the page in flight, so counters can leave it out until it is used.
    """
    ahead = ahead if ahead is not None else ReadAhead()

    async def fetch() -> Page:
        return await anext(pages)

    pending = ahead.pending = asyncio.ensure_future(fetch())
    try:
        while True:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = ahead.pending = asyncio.ensure_future(fetch())
            yield page
    finally:
        pending.cancel()
        await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # retrieved: an error after the caller stopped is not news
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()
