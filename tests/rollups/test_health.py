"""Health thresholds at their boundaries, and configurable through settings."""

from datetime import UTC, date, datetime

import pytest

from service.portfolio.rollups import HealthPolicy, health
from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

START, TARGET = date(2026, 1, 1), date(2026, 4, 11)  # 100 days
HALF = HealthPolicy(today=date(2026, 2, 20))  # elapsed = 0.5


@pytest.mark.parametrize(
    ("progress", "policy", "expected"),
    [
        (0.35, HALF, "on_track"),  # exactly elapsed - 0.15
        (0.3499, HALF, "at_risk"),
        (0.20, HALF, "at_risk"),  # exactly elapsed - 0.30
        (0.1999, HALF, "off_track"),
        (None, HALF, "off_track"),  # no work yet counts as 0
        (1.0, HALF, "done"),
        (0.0, HealthPolicy(today=date(2025, 12, 31)), "not_started"),
        (0.0, HealthPolicy(today=START), "on_track"),
        (0.85, HealthPolicy(today=TARGET), "on_track"),  # elapsed 1, on the target day
        (0.84, HealthPolicy(today=TARGET), "at_risk"),
        (0.99, HealthPolicy(today=date(2026, 4, 12)), "off_track"),  # past target, not done
        (1.0, HealthPolicy(today=date(2026, 4, 12)), "done"),
        (0.30, HealthPolicy(today=date(2026, 2, 20), at_risk_margin=0.25), "on_track"),
    ],
)
def test_health_boundaries(progress, policy, expected) -> None:
    assert health(progress, START, TARGET, policy) == expected


def test_no_dates_no_health() -> None:
    assert health(0.5, None, TARGET, HALF) is None
    assert health(0.5, START, None, HALF) is None


async def test_health_in_progress_endpoint_uses_settings_and_clock(
    db, client, app, settings, editor_headers
) -> None:
    source = await make_source(db)
    keys = await upsert(
        db, source, item(1, status_category="done"), item(2), item(3), item(4)
    )  # 1 of 4 done: 0.25
    target = await initiative(
        client, editor_headers, start_date=str(START), target_date=str(TARGET)
    )
    for key in keys:
        await client.put(
            f"/api/v1/initiatives/{target}/work-items/{keys[key]}", headers=editor_headers
        )
    app.state.clock = lambda: datetime(2026, 2, 20, 12, tzinfo=UTC)
    path = f"/api/v1/initiatives/{target}/progress"
    body = (await client.get(path, headers=editor_headers)).json()
    assert (body["health"], body["explanation"]["elapsed"]) == ("at_risk", 0.5)
    assert "elapsed - 0.15" in body["explanation"]["health_rule"]
    settings.health_at_risk_margin = 0.25
    assert (await client.get(path, headers=editor_headers)).json()["health"] == "on_track"
