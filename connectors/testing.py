"""Test doubles for the injectable `Sleep` and `Clock`: waits are recorded, never slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeTime:
    """A clock that only moves when `sleep` is awaited; `waits` records every sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 1, 1, tzinfo=UTC)
        self.waits: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)
