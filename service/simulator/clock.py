"""The simulated clock that stamps mutations."""

from __future__ import annotations

from datetime import datetime


class SimClock:
    """Moves forward one second per tick, from the configured anchor.

    Every mutated item gets its own tick, so `updated` values are strictly increasing and the
    order of a `sort=updated` listing never depends on wall-clock jitter. A whole second (not a
    millisecond) because GitHub timestamps have second precision.
    """

    def __init__(self, anchor: datetime) -> None:
        self.now_ms = int(anchor.timestamp()) * 1000

    def tick(self) -> int:
        self.now_ms += 1000
        return self.now_ms

    @property
    def now_s(self) -> int:
        return self.now_ms // 1000
