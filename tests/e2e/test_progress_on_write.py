"""End to end: progress moves by the writes alone. Sync, map with a rule, mutate upstream, sync
again, never reading the tree: the feed, the digest, a subscription and the history show it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change
from schemas.types import utcnow
from service.portfolio.progress import CONFIG, RollupConfig
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions.delivery import deliver_due
from tests.subscriptions.helpers import Upstream, subscribe
from tests.subscriptions.test_delivery import verify_standard_webhook

from .helpers import create_sources, sync


async def test_digest_subscription_and_history_follow_the_writes(
    api: httpx.AsyncClient, sim: httpx.AsyncClient, db: Database, box: SecretBox
) -> None:
    first_day = utcnow() - timedelta(days=2)
    clock = {"now": first_day}
    db.session_info[CONFIG] = RollupConfig(clock=lambda: clock["now"])
    ids = await create_sources(api, str(sim.base_url).rstrip("/"))
    objective = (await api.post("/api/v1/objectives", json={"title": "Platform"})).json()
    kr = (
        await api.post(
            "/api/v1/key-results",
            json={
                "objective_id": objective["id"],
                "title": "Ship",
                "progress_source": "linked_work",
            },
        )
    ).json()
    initiative = (
        await api.post(
            "/api/v1/initiatives", json={"title": "PLAT work", "key_result_ids": [kr["id"]]}
        )
    ).json()
    rule = await api.post(
        "/api/v1/admin/mapping-rules",
        json={
            "name": "PLAT",
            "conditions": {"source_id": ids["jira"], "project": "PLAT"},
            "target": {"initiative_id": initiative["id"]},
        },
    )
    assert rule.status_code == 201, rule.text
    _subscription, secret = await subscribe(
        db, box, types=["progress.changed"], initiative_id=initiative["id"]
    )
    await sync(api, ids["jira"], "full")
    await sync(api, ids["github"], "full")

    # A day later upstream moves: items change status (some close), new scope appears.
    clock["now"] = first_day + timedelta(days=1)
    async with db.session() as session:
        last_change = await session.scalar(select(col(Change.id)).order_by(col(Change.id).desc()))
    await sim.post("/_sim/mutate", json={"jira": {"update": 60, "create": 30}})
    await sync(api, ids["jira"], "incremental")

    async with db.session() as session:
        rows = await session.execute(
            select(Change)
            .where(
                col(Change.id) > last_change,
                col(Change.type).in_(["progress.changed", "health.changed"]),
            )
            .order_by(col(Change.id))
        )
        moved = {(c.entity_type, c.entity_id): c for c in rows.scalars()}
    # The initiative, its key result and their objective moved, caused by the sync run.
    assert set(moved) == {
        ("initiative", initiative["id"]),
        ("key_result", kr["id"]),
        ("objective", objective["id"]),
    }
    change = moved[("initiative", initiative["id"])]
    assert change.cause.startswith("sync:"), change.cause
    assert change.before["progress"] != change.after["progress"]

    history = (
        await api.get(
            f"/api/v1/initiatives/{initiative['id']}/history",
            params={"from": first_day.date().isoformat(), "to": clock["now"].date().isoformat()},
        )
    ).json()
    first, second = history["points"]
    assert first["progress"] == change.before["progress"]
    assert second["progress"] == change.after["progress"]
    assert second["total_count"] > first["total_count"] > 0  # scope was added

    digest = (
        await api.get(
            "/api/v1/digests",
            params={
                "scope": f"objective:{objective['id']}",
                "since": (first_day + timedelta(hours=12)).isoformat(),
            },
        )
    ).json()
    movements = {(m["node_type"], m["node_id"]): m for m in digest["movements"]}
    assert set(movements) == set(moved)
    for key, m in movements.items():
        assert (m["progress_before"], m["progress_after"]) == (
            moved[key].before["progress"],
            moved[key].after["progress"],
        )

    upstream = Upstream(204)
    async with upstream.client() as client:
        report = await deliver_due(db, box, client, now=datetime.now(UTC))
    bodies = [verify_standard_webhook(secret, r) for r in upstream.requests]
    assert report.delivered == len(bodies) >= 1
    ours = [b for b in bodies if b["data"]["entity_type"] == "initiative"]
    assert {b["type"] for b in bodies} == {"progress.changed"}
    assert ours[-1]["data"]["after"]["progress"] == change.after["progress"]
