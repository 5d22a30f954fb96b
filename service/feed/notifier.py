"""In-process nudges for long-polling readers, sent after a transaction that appended changes.

Writers in other processes are not seen here; readers also poll the database for them.
"""

from __future__ import annotations

import asyncio


class ChangeNotifier:
    """A generation counter plus waiters; a waiter that saw an older generation returns at once."""

    def __init__(self) -> None:
        self.generation = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        self.generation += 1
        for waiter in list(self._waiters):
            # Commits may finish on a different loop than the waiter's (tests, worker threads).
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    async def wait(self, seconds: float, *, seen: int) -> bool:
        """Wait up to `seconds` for a commit after generation `seen`; True if one came."""
        if self.generation != seen:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await waiter
            return True
        except TimeoutError:
            return self.generation != seen
        finally:
            self._waiters.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


notifier = ChangeNotifier()
