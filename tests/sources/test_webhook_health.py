"""Webhook health after a poll: degraded only when a poll finds changes no delivery brought."""

from datetime import UTC, datetime, timedelta

from schemas.tables import Source
from service.sources.health import after_poll

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOOK = {"target": "repo:o/r", "upstream_id": 1, "events": ["issues"], "url": "u"}


def source(*, last_delivery: timedelta | None, registered: timedelta, health: str = "ok") -> Source:
    hook = HOOK | {"registered_at": (NOW - registered).isoformat()}
    return Source(
        id=7,
        kind="github",
        name="gh",
        base_url="https://api.github.com",
        webhooks=[hook],
        last_delivery_at=NOW - last_delivery if last_delivery is not None else None,
        webhook_health=health,
    )


def test_changes_after_a_silence_longer_than_the_threshold_degrade_the_source() -> None:
    polled = source(last_delivery=timedelta(seconds=601), registered=timedelta(days=1))
    after_poll(polled, 42, 3, NOW, 600)
    assert polled.webhook_health == "degraded"
    assert polled.webhook_health_reason is not None
    assert polled.webhook_health_reason.startswith("sync run 42 found 3 change(s)")


def test_changes_within_the_threshold_are_not_a_silence() -> None:
    polled = source(last_delivery=timedelta(seconds=599), registered=timedelta(days=1))
    after_poll(polled, 1, 3, NOW, 600)
    assert polled.webhook_health == "ok"


def test_a_fresh_registration_counts_as_heard_from() -> None:
    polled = source(last_delivery=None, registered=timedelta(seconds=30))
    after_poll(polled, 1, 250, NOW, 600)
    assert polled.webhook_health == "ok"


def test_a_quiet_poll_keeps_a_degraded_verdict_until_a_delivery_arrives() -> None:
    polled = source(
        last_delivery=timedelta(hours=2), registered=timedelta(days=1), health="degraded"
    )
    after_poll(polled, 5, 0, NOW, 600)
    assert polled.webhook_health == "degraded"
    polled.last_delivery_at = NOW - timedelta(seconds=5)
    after_poll(polled, 6, 0, NOW, 600)
    assert polled.webhook_health == "ok" and polled.webhook_health_reason is None


def test_sources_without_registered_hooks_have_no_health() -> None:
    polled = source(last_delivery=None, registered=timedelta(days=1), health="")
    polled.webhooks = []
    polled.webhook_health = None
    after_poll(polled, 1, 5, NOW, 600)
    assert polled.webhook_health is None
