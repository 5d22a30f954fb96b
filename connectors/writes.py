"""What write-back needs from a connector: label edits on one issue, paced per token.

GitHub asks integrations to send writes serially and at least one second apart; `WritePacer`
keeps that spacing for every writer that shares a token (in this process), with an injectable
clock and sleep so tests can show the real default without waiting for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.base import Clock, ConnectorStats, Sleep

DEFAULT_MIN_WRITE_INTERVAL_SECONDS = 1.0


@dataclass
class _TokenTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_write: datetime | None = None


# Per event loop (an asyncio lock belongs to one), per token digest.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _TokenTurn]] = (
    weakref.WeakKeyDictionary()
)


class WritePacer:
    """Serial writes per token, `min_interval` seconds apart (end of one to start of next).

    Use as `async with pacer: <one write>`.
    """

    def __init__(self, token: str, *, min_interval: float, clock: Clock, sleep: Sleep) -> None:
        self._digest = hashlib.sha256(token.encode()).hexdigest()
        self.min_interval = min_interval
        self.clock = clock
        self.sleep = sleep
        self.waited_seconds = 0.0

    def _turn(self) -> _TokenTurn:
        turns = _TURNS.setdefault(asyncio.get_running_loop(), {})
        return turns.setdefault(self._digest, _TokenTurn())

    async def __aenter__(self) -> None:
        turn = self._turn()
        await turn.lock.acquire()
        if turn.last_write is not None:
            elapsed = (self.clock() - turn.last_write).total_seconds()
            # A clock that went back (another time line in one process) waits one interval.
            wait = self.min_interval - elapsed if elapsed >= 0 else self.min_interval
            if wait > 0:
                self.waited_seconds += wait
                await self.sleep(wait)

    async def __aexit__(self, *exc: object) -> None:
        turn = self._turn()
        turn.last_write = self.clock()
        turn.lock.release()


class LabelWriter(Protocol):
    """Label edits on one upstream issue (`key` is the item's human key)."""

    stats: ConnectorStats

    async def ensure_label(self, key: str, name: str, color: str) -> bool:
        """Create the label where the upstream keeps a label list; True when it was created."""
        ...

    async def change_labels(self, key: str, add: Sequence[str], remove: Sequence[str]) -> None:
        """Add and remove single labels; never replaces the label set."""
        ...

    async def aclose(self) -> None: ...
