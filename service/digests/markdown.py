"""Digest as Markdown that reads well in Slack, Teams and email.

Only constructs all three render alike: `*bold*` (Slack bold, Markdown emphasis), `- ` bullets,
no tables, no headings, no links (bare keys read fine everywhere).
"""

from __future__ import annotations

from datetime import datetime

from schemas.api.feed import Digest, DigestItem, ForecastNote, NodeMovement

_LABEL = {"objective": "Objective", "key_result": "Key result", "initiative": "Initiative"}
_MAX_ITEMS = 15


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _movement(m: NodeMovement) -> str:
    parts = []
    if m.progress_before != m.progress_after:
        delta = ""
        if m.progress_before is not None and m.progress_after is not None:
            delta = f" ({(m.progress_after - m.progress_before) * 100:+.0f} pts)"
        parts.append(f"progress {_pct(m.progress_before)} → {_pct(m.progress_after)}{delta}")
    if m.health_before != m.health_after:
        parts.append(f"health {m.health_before or 'n/a'} → {m.health_after or 'n/a'}")
    return f"- {_LABEL[m.node_type]} {m.title}: {'; '.join(parts)}"


def _forecast(note: ForecastNote) -> str:
    f = note.forecast
    line = f"- Initiative {note.title}: projected {f.p50}, p85 {f.p85}"
    if f.target_date is not None:
        line += f"; target {f.target_date}"
    return line + (" (p85 past the target date)" if f.past_target else "")


def _items(items: list[DigestItem]) -> list[str]:
    lines = []
    for item in items[:_MAX_ITEMS]:
        points = f" ({item.estimate:g} pts)" if item.estimate else ""
        lines.append(f"- {item.key} {item.title}{points}")
    if len(items) > _MAX_ITEMS:
        lines.append(f"- … and {len(items) - _MAX_ITEMS} more")
    return lines


def render(digest: Digest) -> str:
    lines = [
        f"*{digest.title}*: what changed from {_when(digest.since)} to {_when(digest.until)}",
        "",
    ]
    sections: list[tuple[str, list[str]]] = [
        ("Progress and health", [_movement(m) for m in digest.movements]),
        (f"Completed ({len(digest.completed)})", _items(digest.completed)),
        (
            f"Scope added ({len(digest.scope_added)} items, {digest.scope_added_points:g} points)",
            _items(digest.scope_added),
        ),
        (
            f"Slipped ({len(digest.slipped)})",
            [f"- {_LABEL[s.node_type]} {s.title}: {s.reason}" for s in digest.slipped],
        ),
        (f"New unplanned work ({len(digest.unplanned)})", _items(digest.unplanned)),
        ("Forecasts", [_forecast(n) for n in digest.forecasts]),
    ]
    shown = [(title, body) for title, body in sections if body]
    if not shown:
        lines.append(f"No changes ({digest.changes} feed entries in scope).")
    for title, body in shown:
        lines.extend([f"*{title}*", *body, ""])
    return "\n".join(lines).rstrip() + "\n"
