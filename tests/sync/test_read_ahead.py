"""One page of read-ahead: order kept, errors after the stored pages, nothing left running."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from connectors.base import Page
from service.sync.pages import ReadAhead, read_ahead


class Upstream:
    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.events: list[str] = []
        self.closed = False
        self.gate = asyncio.Event()

    async def read(self) -> AsyncIterator[Page]:
        try:
            for n in range(self.pages):
                if n == self.fail_at:
                    raise RuntimeError(f"upstream failed on page {n}")
                if n == 3:
                    await self.gate.wait()  # a request that does not answer
                self.events.append(f"fetched {n}")
                yield Page("s", [], {"n": n})
        finally:
            self.closed = True


async def test_next_page_is_fetched_while_the_current_one_is_handled() -> None:
    upstream = Upstream(3)
    seen = []
    async for page in read_ahead(upstream.read()):
        await asyncio.sleep(0)  # the consumer's own awaits let the fetch run
        upstream.events.append(f"stored {page.state['n']}")
        seen.append(page.state["n"])
    assert seen == [0, 1, 2]
    assert upstream.events.index("fetched 1") < upstream.events.index("stored 0")
    assert upstream.events[-1] == "stored 2"


async def test_upstream_error_surfaces_after_the_pages_before_it() -> None:
    upstream = Upstream(5, fail_at=2)
    seen = []
    with pytest.raises(RuntimeError, match="page 2"):
        async for page in read_ahead(upstream.read()):
            await asyncio.sleep(0)
            seen.append(page.state["n"])
    assert seen == [0, 1]


async def test_stopping_early_cancels_the_fetch_in_flight_and_closes_the_stream() -> None:
    upstream = Upstream(6)
    ahead = ReadAhead()
    stream = read_ahead(upstream.read(), ahead)
    async with contextlib.aclosing(stream):
        async for page in stream:
            await asyncio.sleep(0)
            if page.state["n"] == 2:
                break  # page 3 is in flight and never answers
    assert upstream.closed
    assert ahead.pending is not None and ahead.pending.cancelled()
    assert ahead.held() == 0
    assert "fetched 3" not in upstream.events


async def test_a_page_fetched_but_not_handed_out_is_held() -> None:
    upstream = Upstream(3)
    ahead = ReadAhead()
    stream = read_ahead(upstream.read(), ahead)
    async with contextlib.aclosing(stream):
        first = await anext(stream)
        assert first.state["n"] == 0
        await asyncio.sleep(0.01)  # page 1 arrives while page 0 is "being stored"
        assert ahead.held() == 1
    assert ahead.held() == 1  # fetched, never stored
