"""Burn-up charts as inline SVG, drawn on the server (no script, readable without colour)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 320
# The right margin leaves room for the last date label, centred on the axis end.
LEFT, RIGHT, TOP, BOTTOM = 64, 44, 28, 56
MAX_X_TICKS = 6


@dataclass(frozen=True)
class BurnUpPoint:
    at: date
    scope: float
    done: float


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """0 up to at least `maximum` in 1/2/2.5/5 x 10^k steps, about `count` intervals."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 10) for i in range(round(top / step) + 1)]


def date_ticks(first: date, last: date, count: int = MAX_X_TICKS) -> list[date]:
    """Up to `count` dates spread evenly from `first` to `last`, both included."""
    span = (last - first).days
    if span <= 0:
        return [first]
    n = min(count, span + 1)
    return sorted(
        {date.fromordinal(first.toordinal() + round(i * span / (n - 1))) for i in range(n)}
    )


def _label(value: float) -> str:
    return f"{value:g}"


def burn_up_svg(
    points: Sequence[BurnUpPoint],
    *,
    measure: str = "Items",
    title: str = "Burn-up",
    target_date: date | None = None,
) -> Markup:
    """Scope (dashed) and done (solid) over time, with labelled axes, dates and a legend."""
    if not points:
        return Markup('<p class="empty">No history recorded yet.</p>')
    first, last = points[0].at, points[-1].at
    if target_date is not None and first <= target_date and target_date > last:
        last_axis = target_date
    else:
        last_axis = last
    span = max((last_axis - first).days, 1)
    ticks = nice_ticks(max(max(p.scope for p in points), max(p.done for p in points), 1.0))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - first).days / span

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    def line(values: list[tuple[date, float]]) -> str:
        return " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in values)

    latest = points[-1]
    summary = (
        f"{measure} from {first.isoformat()} to {last.isoformat()}: scope "
        f"{_label(latest.scope)}, done {_label(latest.done)} at the end."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="burn-up">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for tick in ticks:
        parts.append(
            f'<g class="tick y-tick"><line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{_label(tick)}</text></g>"
        )
    for day in date_ticks(first, last_axis):
        parts.append(
            f'<g class="tick x-tick"><line x1="{x(day):.1f}" x2="{x(day):.1f}" '
            f'y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}"/>'
            f'<text x="{x(day):.1f}" y="{TOP + plot_h + 20}" text-anchor="middle">'
            f"{day.isoformat()}</text></g>"
        )
    parts += [
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}"/>',
        f'<text class="axis-label x-label" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">Date</text>',
        f'<text class="axis-label y-label" x="16" y="{TOP + plot_h / 2:.1f}" '
        f'text-anchor="middle" transform="rotate(-90 16 {TOP + plot_h / 2:.1f})">'
        f"{escape(measure)}</text>",
    ]
    if target_date is not None and first <= target_date <= last_axis:
        parts.append(
            f'<g class="target-date"><line class="target" x1="{x(target_date):.1f}" '
            f'x2="{x(target_date):.1f}" y1="{TOP}" y2="{TOP + plot_h}"/>'
            f'<text x="{x(target_date) - 4:.1f}" y="{TOP - 8}" text-anchor="end">'
            f"target {target_date.isoformat()}</text></g>"
        )
    parts += [
        f'<polyline class="scope" points="{line([(p.at, p.scope) for p in points])}">'
        "<title>Scope</title></polyline>",
        f'<polyline class="done" points="{line([(p.at, p.done) for p in points])}">'
        "<title>Done</title></polyline>",
        # Markers at the latest values: a history of one day is a point, not an empty plot.
        f'<circle class="scope" cx="{x(latest.at):.1f}" cy="{y(latest.scope):.1f}" r="4"/>',
        f'<circle class="done" cx="{x(latest.at):.1f}" cy="{y(latest.done):.1f}" r="4"/>',
        f'<g class="legend" transform="translate({LEFT + 8},{TOP + 4})">'
        '<line class="scope" x1="0" x2="24" y1="6" y2="6"/><text x="30" y="10">Scope</text>'
        '<line class="done" x1="90" x2="114" y1="6" y2="6"/><text x="120" y="10">Done</text></g>',
        "</svg>",
    ]
    return Markup("".join(parts))
