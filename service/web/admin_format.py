"""Display helpers of the admin pages (passed to templates as `fmt`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from schemas.types import utcnow

DASH = "\u2013"  # shown for a missing value


def duration(started: datetime | None, finished: datetime | None) -> str:
    """`1.4 s`, `2 min 5 s`; a running run counts up to now."""
    if started is None:
        return DASH
    seconds = ((finished or utcnow()) - started).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def ago(seconds: float | None) -> str:
    """How old something is, in words a person reads at a glance."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 172800:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def until(moment: datetime | None) -> str:
    if moment is None:
        return "not scheduled"
    seconds = (moment - utcnow()).total_seconds()
    if seconds <= 0:
        return "due now"
    if seconds < 90:
        return f"in {int(seconds)} s"
    if seconds < 5400:
        return f"in {round(seconds / 60)} min"
    return f"in {round(seconds / 3600)} h"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def budget(rate_limit: dict[str, Any]) -> list[tuple[str, str]]:
    """Each upstream budget as (resource, `remaining of limit, resets …`)."""
    rows = []
    for resource, facts in sorted(rate_limit.items()):
        if not isinstance(facts, dict):
            rows.append((resource, str(facts)))
            continue
        remaining, limit = facts.get("remaining"), facts.get("limit")
        text = f"{remaining} of {limit} left" if limit is not None else f"{remaining} left"
        reset = facts.get("reset_at") or facts.get("reset")
        if reset:
            text += f", resets {reset}"
        rows.append((resource, text))
    return rows


def scope_text(scope: dict[str, Any]) -> str:
    parts = []
    if scope.get("org"):
        parts.append(f"org {scope['org']}")
    if scope.get("repos"):
        parts.append("repos " + ", ".join(map(str, scope["repos"])))
    if scope.get("projects"):
        names = [
            f"{p.get('owner')}/{p.get('number')}" if isinstance(p, dict) else str(p)
            for p in scope["projects"]
        ]
        parts.append("projects " + ", ".join(names))
    if scope.get("jql"):
        parts.append(f"JQL {scope['jql']}")
    return "; ".join(parts) or DASH
