"""Request accounting that tests and benchmarks read through `GET /_sim/stats`."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.by_endpoint: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.violations: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()

    def record(self, endpoint: str, status: int | str) -> None:
        self.by_endpoint[endpoint][str(status)] += 1

    def violation(self, upstream: str) -> None:
        self.violations[upstream] += 1

    def snapshot(self) -> dict[str, Any]:
        total = sum(sum(c.values()) for c in self.by_endpoint.values())
        not_modified = sum(c["304"] for c in self.by_endpoint.values())
        by_upstream: Counter[str] = Counter()
        for endpoint, counts in self.by_endpoint.items():
            path = endpoint.split(" ", 1)[-1]
            by_upstream[path.split("/")[1]] += sum(counts.values())
        return {
            "total_requests": total,
            "requests_by_upstream": dict(by_upstream),
            "requests": {ep: dict(sorted(c.items())) for ep, c in sorted(self.by_endpoint.items())},
            "not_modified": not_modified,
            "rate_limit_violations": sum(self.violations.values()),
            "rate_limit_violations_by_upstream": dict(self.violations),
            "faults_injected": dict(self.faults),
            "webhooks": dict(self.webhooks),
            "writes": dict(self.writes),
        }
