"""Initiative forecasts: a seeded Monte Carlo over its own weekly throughput."""

from datetime import UTC, date, datetime, timedelta

from service.portfolio.history import project
from service.portfolio.progress import CONFIG, RollupConfig
from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

TODAY = date(2026, 12, 3)


def test_constant_throughput_projects_exactly() -> None:
    f = project(1, samples=[5, 5, 5, 5], remaining=20, today=TODAY, weeks=6, target_date=None)
    assert f.status == "forecast"
    assert f.p50 == f.p85 == TODAY + timedelta(weeks=4)  # 20 items at 5 a week
    assert (f.weeks, f.samples, f.remaining) == (6, [5, 5, 5, 5], 20)


def test_forecast_is_deterministic_and_p85_is_not_earlier_than_p50() -> None:
    args = {"samples": [0, 3, 1, 6, 2], "remaining": 30, "today": TODAY, "weeks": 6}
    first = project(7, target_date=date(2027, 1, 15), **args)  # type: ignore[arg-type]
    again = project(7, target_date=date(2027, 1, 15), **args)  # type: ignore[arg-type]
    assert first == again
    assert first.p50 is not None and first.p85 is not None and first.p50 <= first.p85
    # Mean throughput 2.4/week: 30 items take about 12.5 weeks, far past the target.
    assert TODAY + timedelta(weeks=9) <= first.p50 <= TODAY + timedelta(weeks=17)
    assert first.past_target is True
    assert f"projected {first.p50}, p85 {first.p85}; target 2027-01-15" in first.detail


def test_too_little_history_or_no_throughput_is_insufficient_data() -> None:
    short = project(1, samples=[4, 4], remaining=10, today=TODAY, weeks=6, target_date=None)
    assert short.status == "insufficient_data" and short.p50 is None
    assert "2 week(s) of history, 3 needed" in short.detail
    idle = project(1, samples=[0, 0, 0], remaining=10, today=TODAY, weeks=6, target_date=None)
    assert idle.status == "insufficient_data" and "no item was done" in idle.detail
    done = project(1, samples=[1, 1, 1], remaining=0, today=TODAY, weeks=6, target_date=None)
    assert done.status == "done"


async def test_progress_response_carries_the_forecast(db, client, app, editor_headers) -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    app.state.clock = lambda: now
    db.session_info[CONFIG] = RollupConfig(clock=lambda: now)
    source = await make_source(db)
    created = now - timedelta(weeks=8)
    items = []
    # Done one per week over the last 4 weeks (resolved dates), 6 still open.
    for n in range(1, 11):
        resolved = now - timedelta(weeks=n - 1, days=1) if n <= 4 else None
        items.append(
            item(
                n,
                upstream_created_at=created,
                status_category="done" if resolved else "todo",
                resolved_at=resolved,
            )
        )
    keys = await upsert(db, source, *items)
    target = await initiative(client, editor_headers, target_date="2026-12-31")
    for item_id in keys.values():
        await client.put(
            f"/api/v1/initiatives/{target}/work-items/{item_id}", headers=editor_headers
        )
    body = (
        await client.get(f"/api/v1/initiatives/{target}/progress", headers=editor_headers)
    ).json()
    f = body["forecast"]
    assert f["status"] == "forecast", f
    assert (f["weeks"], f["remaining"]) == (6, 6)
    assert f["samples"] == [0, 0, 1, 1, 1, 1]
    assert f["p85"] > "2026-12-31" and f["past_target"] is True
