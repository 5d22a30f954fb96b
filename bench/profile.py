"""CPU per stored page, by step, from a cProfile of the service while it syncs.

The profile counts process CPU time (`time.process_time`: every thread of the process, so the
SQLite engine's worker thread too; a PostgreSQL server's work is another process and is not
counted). Steps are read off the profile by function:

- fetch+parse: the connector's page loop (HTTP, JSON decoding), without mapping;
- map: upstream JSON → `WorkItemIn`;
- hash: content hashes;
- upsert: the upsert's statements and bookkeeping, without hash and feed rows;
- feed rows: change-feed rows (`append_changes`, every caller);
- rules: rule evaluation and link writes, without membership;
- membership: rollup membership and tallies;
- progress: the recompute of moved nodes before commit;
- commit: the commits;
- database thread: CPU of other threads (SQLite's worker) while the loop waited;
- other: the rest of the process (run records, cursors, leases, the event loop).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# step -> (file suffix, function name) pairs whose cumulative time counts for it.
_CUMULATIVE: dict[str, tuple[tuple[str, str], ...]] = {
    "pages": (("connectors/stream.py", "pages"),),
    "map": (("connectors/stream.py", "<listcomp>"),),
    "hash": (("service/store/work_items.py", "content_hash"),),
    "upsert_chunk": (("service/store/work_items.py", "_upsert_chunk"),),
    "feed rows": (("service/store/changes.py", "append_changes"),),
    "rules_all": (
        ("service/rules/evaluation.py", "plan_for_items"),
        ("service/rules/evaluation.py", "write_plan"),
    ),
    "membership": (("service/rules/membership.py", "refresh"),),
    "progress": (("service/portfolio/progress.py", "settle"),),
    "commit": (("sqlalchemy/ext/asyncio/session.py", "commit"),),
    "poll": (("~", "<method 'poll' of 'select.epoll' objects>"),),
}


@dataclass
class StepProfile:
    """Filled in when the `profiled` block ends."""

    cpu_seconds: float = 0.0
    steps_ms: dict[str, float] = field(default_factory=dict)

    def per_page(self, pages: int) -> dict[str, Any]:
        pages = max(pages, 1)
        return {
            "cpu_ms_per_page": round(self.cpu_seconds * 1000 / pages, 2),
            "steps_ms_per_page": {k: round(v / pages, 2) for k, v in self.steps_ms.items()},
        }


def _cumulative(stats: pstats.Stats, wanted: tuple[tuple[str, str], ...]) -> float:
    total = 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        for suffix, function in wanted:
            if name == function and filename.endswith(suffix):
                total += cumulative
    return total


def _from_caller(stats: pstats.Stats, callee: tuple[str, str], caller: str) -> float:
    """Cumulative ms of `callee` when called from a function named `caller`."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, _ct, callers) in raw.items():
        if name == callee[1] and filename.endswith(callee[0]):
            for (_f, _l, caller_name), timing in callers.items():
                if caller_name == caller:
                    total += timing[3]
    return total * 1000


@contextmanager
def cpu_only() -> Iterator[StepProfile]:
    """Process CPU time only, without the profiler's overhead (the figure to compare)."""
    result = StepProfile()
    started = time.process_time()
    try:
        yield result
    finally:
        result.cpu_seconds = time.process_time() - started


@contextmanager
def profiled() -> Iterator[StepProfile]:
    result = StepProfile()
    profile = cProfile.Profile(time.process_time)
    started = time.process_time()
    profile.enable()
    try:
        yield result
    finally:
        profile.disable()
        result.cpu_seconds = time.process_time() - started
        stats = pstats.Stats(profile)
        if dump := os.environ.get("BENCH_PROFILE_DUMP"):
            stats.dump_stats(dump)
        got = {step: _cumulative(stats, wanted) * 1000 for step, wanted in _CUMULATIVE.items()}
        membership = got["membership"]
        feed_in_upsert = _from_caller(
            stats, ("service/store/changes.py", "append_changes"), "_upsert_chunk"
        )
        steps = {
            "fetch+parse": got["pages"] - got["map"],
            "map": got["map"],
            "hash": got["hash"],
            "upsert": got["upsert_chunk"] - got["hash"] - feed_in_upsert,
            "feed rows": got["feed rows"],
            "rules": got["rules_all"]
            - _from_caller(stats, ("service/rules/membership.py", "refresh"), "write_plan")
            - _from_caller(stats, ("service/store/changes.py", "append_changes"), "write_plan"),
            "membership": membership,
            "progress": got["progress"],
            "commit": got["commit"],
            "database thread": got["poll"],
        }
        steps["other"] = result.cpu_seconds * 1000 - sum(steps.values())
        result.steps_ms = steps
