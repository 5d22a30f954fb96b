"""Injected failures: what to break and the seeded dice that decide when."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class FaultsIn(BaseModel):
    """Body of `POST /_sim/faults`; rates are probabilities per upstream request."""

    error_rate: float = Field(0.0, ge=0, le=1)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    latency_ms: float = Field(0.0, ge=0)
    jira_429: int = Field(0, ge=0, description="answer the next n Jira requests with 429")
    github_secondary: int = Field(0, ge=0, description="next n GitHub requests: secondary 403")
    truncate_rate: float = Field(0.0, ge=0, le=1)
    reset_rate: float = Field(0.0, ge=0, le=1)
    retry_after: int | None = Field(1, ge=0, description="Retry-After seconds on 429/403/503")
    upstreams: list[str] = Field(default_factory=lambda: ["github", "jira"])
    seed: int | None = None


class Fault(StrEnum):
    jira_429 = "jira_429"
    github_secondary = "github_secondary"
    server_error = "server_error"
    truncate = "truncate"
    reset = "reset"


@dataclass
class Faults:
    settings: FaultsIn = field(default_factory=FaultsIn)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    burst_429: int = 0
    burst_secondary: int = 0

    def configure(self, settings: FaultsIn, default_seed: int) -> None:
        self.settings = settings
        seed = default_seed if settings.seed is None else settings.seed
        # Reseeding on every configure makes a (seed, settings, request sequence) replayable.
        self.rng = random.Random(f"faults:{seed}")
        self.burst_429 = settings.jira_429
        self.burst_secondary = settings.github_secondary

    def clear(self) -> None:
        self.settings = FaultsIn()
        self.burst_429 = self.burst_secondary = 0

    def decide(self, upstream: str) -> tuple[Fault | None, int]:
        """Pick at most one fault for this request; returns it and, for 5xx, the status."""
        if upstream == "jira" and self.burst_429 > 0:
            self.burst_429 -= 1
            return Fault.jira_429, 429
        if upstream == "github" and self.burst_secondary > 0:
            self.burst_secondary -= 1
            return Fault.github_secondary, 403
        s = self.settings
        if upstream not in s.upstreams or not (s.reset_rate or s.error_rate or s.truncate_rate):
            return None, 0
        roll = self.rng.random()
        if roll < s.reset_rate:
            return Fault.reset, 0
        roll -= s.reset_rate
        if roll < s.error_rate:
            statuses = s.error_statuses or [500]
            return Fault.server_error, statuses[self.rng.randrange(len(statuses))]
        roll -= s.error_rate
        if roll < s.truncate_rate:
            return Fault.truncate, 0
        return None, 0

    def describe(self) -> dict[str, Any]:
        return {
            **self.settings.model_dump(),
            "jira_429_remaining": self.burst_429,
            "github_secondary_remaining": self.burst_secondary,
        }
