"""The burn-up SVG: axes, labels, dates and lines drawn from the points given."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from xml.etree import ElementTree

from service.web.charts import BurnUpPoint, burn_up_svg, date_ticks, nice_ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def _points(n: int) -> list[BurnUpPoint]:
    start = date(2026, 1, 1)
    return [BurnUpPoint(start + timedelta(days=7 * i), 10 + i, 2 * i) for i in range(n)]


def test_nice_ticks_cover_the_maximum_in_round_steps() -> None:
    assert nice_ticks(23) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0) == [0.0, 1.0]
    for maximum in (3, 7.5, 99, 1234):
        ticks = nice_ticks(maximum)
        assert ticks[0] == 0 and ticks[-1] >= maximum and len(ticks) <= 7


def test_date_ticks_include_both_ends() -> None:
    ticks = date_ticks(date(2026, 1, 1), date(2026, 3, 1))
    assert ticks[0] == date(2026, 1, 1) and ticks[-1] == date(2026, 3, 1)
    assert len(ticks) == 6
    assert date_ticks(date(2026, 1, 1), date(2026, 1, 3)) == [
        date(2026, 1, 1),
        date(2026, 1, 2),
        date(2026, 1, 3),
    ]


def test_svg_has_labelled_axes_dates_and_both_lines() -> None:
    svg = str(burn_up_svg(_points(6), measure="Points", title="Burn-up of X"))
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Date" in texts and "Points" in texts
    assert "2026-01-01" in texts and "2026-02-05" in texts
    assert root.find("s:title", NS).text == "Burn-up of X"  # type: ignore[union-attr]
    lines = {
        p.get("class"): p.get("points") for p in root.iter("{http://www.w3.org/2000/svg}polyline")
    }
    assert set(lines) == {"scope", "done"}
    done = [tuple(map(float, pair.split(","))) for pair in (lines["done"] or "").split()]
    assert len(done) == 6
    # x grows with time, and done grows upward (smaller y) as the values grow.
    assert all(a[0] < b[0] for a, b in itertools.pairwise(done))
    assert all(a[1] > b[1] for a, b in itertools.pairwise(done))


def test_values_land_on_their_tick() -> None:
    points = [BurnUpPoint(date(2026, 1, 1), 20, 0), BurnUpPoint(date(2026, 1, 2), 20, 10)]
    svg = str(burn_up_svg(points))
    ticks = dict(
        re.findall(
            r'y1="([\d.]+)" y2="[\d.]+"/><text x="\d+" y="[\d.]+" text-anchor="end">(\d+)<', svg
        )
    )
    by_label = {label: float(y) for y, label in ticks.items()}
    done = re.search(r'class="done" points="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    assert float(done[-1].split(",")[1]) == by_label["10"]
    assert float(done[0].split(",")[1]) == by_label["0"]


def test_target_date_is_marked_and_text_is_escaped() -> None:
    svg = str(burn_up_svg(_points(3), title="<b>&", target_date=date(2026, 2, 1)))
    assert "target 2026-02-01" in svg
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    ElementTree.fromstring(svg)


def test_no_points_says_so() -> None:
    assert "No history" in str(burn_up_svg([]))
