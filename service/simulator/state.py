"""The one mutable object behind a simulator app: dataset, clock, budgets, stats, faults."""

from __future__ import annotations

import gc
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from service.simulator.clock import SimClock
from service.simulator.config import SimulatorConfig
from service.simulator.faults import Faults
from service.simulator.github_app import GitHubApp
from service.simulator.github_data import GhIssue, generate_github
from service.simulator.hook_registry import HookRegistry
from service.simulator.jira_data import generate_jira
from service.simulator.ratelimit import Budget, RetryWindows
from service.simulator.stats import Stats

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Sorted result lists are reused across the pages of one listing instead of re-sorted."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = build()
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


@dataclass
class Delivery:
    """A sent webhook, kept so it can be redelivered byte for byte with the same id."""

    upstream: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: int = 1


@contextmanager
def gc_paused() -> Iterator[None]:
    # Building 200k small objects triggers the cyclic collector thousands of times; none of
    # them is garbage, so pausing it cuts generation time by more than half.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        with gc_paused():
            self.github = generate_github(config)
            self.jira = generate_jira(config)
        self.clock = SimClock(config.anchor)
        self.tz = ZoneInfo(config.jira_time_zone)
        self.core = Budget("core", config.rate_limit, config.rate_limit_window)
        self.graphql = Budget("graphql", config.rate_limit, config.rate_limit_window)
        self.windows = RetryWindows()
        self.last_github_write: float | None = None
        self.stats = Stats()
        self.faults = Faults()
        self.mutation_rng = random.Random(f"mutations:{config.seed}")
        self.webhook_rng = random.Random(f"webhooks:{config.seed}")
        self.deliveries: OrderedDict[str, Delivery] = OrderedDict()
        self.app = GitHubApp(config)
        self.hooks = HookRegistry()
        self.github_lists: LRU[tuple[Any, ...], list[GhIssue]] = LRU()
        self.jira_searches: LRU[tuple[Any, ...], Any] = LRU()

    def budget_for(self, path: str) -> Budget | None:
        if path.startswith("/github/graphql"):
            return self.graphql
        if path.startswith("/github/"):
            return self.core
        return None

    def remember_delivery(self, delivery_id: str, delivery: Delivery) -> None:
        self.deliveries[delivery_id] = delivery
        while len(self.deliveries) > 1000:
            self.deliveries.popitem(last=False)
