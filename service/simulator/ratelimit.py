"""GitHub's primary rate-limit budget, and the windows in which a client must not send."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Budget:
    """One `x-ratelimit-resource` pool (`core` or `graphql`), reset on a wall-clock window.

    Wall clock rather than the simulated clock because a well-behaved client really sleeps until
    `x-ratelimit-reset`.
    """

    def __init__(
        self, resource: str, limit: int, window: float, now: Callable[[], float] = time.time
    ) -> None:
        self.resource = resource
        self.limit = limit
        self.window = window
        self._now = now
        self.used = 0
        self.reset_at = math.ceil(now() + window)

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def refresh(self) -> None:
        now = self._now()
        if now >= self.reset_at:
            self.used = 0
            self.reset_at = math.ceil(now + self.window)

    def known_empty(self) -> bool:
        """True when the last answer said remaining 0 and the reset time has not come yet."""
        return self.remaining == 0 and self._now() < self.reset_at

    def consume(self, cost: int = 1) -> None:
        self.used = min(self.used + cost, self.limit)

    def seconds_to_reset(self) -> int:
        return max(math.ceil(self.reset_at - self._now()), 1)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": self.resource,
        }

    def configure(self, limit: int | None = None, window: float | None = None) -> None:
        if limit is not None:
            self.limit = limit
        if window is not None:
            self.window = window
            self.reset_at = math.ceil(self._now() + window)


class RetryWindows:
    """`Retry-After` promises per upstream: sending before one expires is a violation."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._until: dict[str, float] = {}

    def open(self, upstream: str, seconds: float) -> None:
        self._until[upstream] = max(self._until.get(upstream, 0.0), self._now() + seconds)

    def now(self) -> float:
        return self._now()

    def active(self, upstream: str) -> bool:
        return self._now() < self._until.get(upstream, 0.0)

    def clear(self) -> None:
        self._until.clear()
