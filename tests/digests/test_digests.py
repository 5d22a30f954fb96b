"""Digests on a hand-built history whose answers are known, and scheduled `digest.ready`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from sqlmodel import col

from schemas.tables import Change, KeyResult, ProgressSnapshot, WorkItem, WorkItemLink
from schemas.types import utcnow
from service.digests.schedules import run_due
from service.security import SecretBox
from service.store.db import Database
from service.store.work_items import upsert_work_items
from service.subscriptions.delivery import deliver_due
from tests.factories import item, make_source
from tests.feed.helpers import change, link, portfolio
from tests.subscriptions.helpers import Upstream, public_resolver
from tests.subscriptions.test_delivery import verify_standard_webhook


async def _history(db: Database) -> dict[str, Any]:
    """Before the window: items 1-2 linked to the initiative, snapshots; then the window."""
    now = utcnow()
    ids = await portfolio(db)
    async with db.session() as session:
        kr = await session.get(KeyResult, ids["kr"])
        assert kr is not None
        kr.target, kr.current = 10, 2
        kr.target_date = (now - timedelta(days=1)).date()
        session.add(kr)
    await change(
        db, "initiative.updated", "initiative", ids["initiative"], after={"status": "active"}
    )
    source_id = await make_source(db)
    async with db.session() as session:
        written = await upsert_work_items(
            session, source_id, [item(1), item(2), item(3, estimate=5.0)], cause="sync:1"
        )
    one, two, three = written.changed_ids
    await link(db, one, "initiative", ids["initiative"])
    await link(db, two, "initiative", ids["initiative"])
    old = now - timedelta(days=3)
    async with db.session() as session:
        await session.execute(update(Change).values(created_at=old))
        await session.execute(update(WorkItemLink).values(created_at=old))
    # The window.
    async with db.session() as session:
        done = {"status": "Done", "status_category": "done"}
        await upsert_work_items(
            session,
            source_id,
            [item(1, minutes=10, **done), item(2, minutes=10, **done)],
            cause="sync:2",
        )
    async with db.session() as session:
        await upsert_work_items(
            session,
            source_id,
            [
                item(2, minutes=20, status="In Progress", status_category="in_progress"),
                item(4, parent_external_id="ext-1", parent_key="PROJ-1"),
                item(5),
            ],
            cause="sync:3",
        )
    await link(db, three, "initiative", ids["initiative"])
    # The history the digest reads, by hand (writes above recorded their own: replaced).
    async with db.session() as session:
        await session.execute(delete(ProgressSnapshot))
        await session.execute(
            delete(Change).where(col(Change.type).in_(["progress.changed", "health.changed"]))
        )
        session.add_all(
            [
                ProgressSnapshot(
                    node_type="initiative",
                    node_id=ids["initiative"],
                    progress=0.2,
                    health="on_track",
                    recorded_at=old,
                ),
                ProgressSnapshot(
                    node_type="initiative",
                    node_id=ids["initiative"],
                    progress=0.45,
                    health="at_risk",
                    recorded_at=now - timedelta(hours=1),
                ),
            ]
        )
    await change(
        db,
        "progress.changed",
        "key_result",
        ids["kr"],
        before={"progress": 0.1},
        after={"progress": 0.3},
    )
    async with db.session() as session:
        by_key = dict((await session.execute(select(col(WorkItem.key), col(WorkItem.id)))).all())
    return {**ids, "since": now - timedelta(days=2), "items": by_key}


async def _digest(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    scope: str,
    since: datetime,
    fmt: str = "json",
) -> httpx.Response:
    return await client.get(
        "/api/v1/digests",
        params={"scope": scope, "since": since.isoformat(), "format": fmt},
        headers=headers,
    )


async def test_initiative_digest_has_the_known_answers(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    h = await _history(db)
    response = await _digest(client, reader_headers, f"initiative:{h['initiative']}", h["since"])
    assert response.status_code == 200, response.text
    d = response.json()
    assert d["title"] == "Initiative: Checkout"
    assert [
        (
            m["node_type"],
            m["progress_before"],
            m["progress_after"],
            m["health_before"],
            m["health_after"],
        )
        for m in d["movements"]
    ] == [("initiative", 0.2, 0.45, "on_track", "at_risk")]
    # Item 2 went to done and back: not completed.
    assert [i["key"] for i in d["completed"]] == ["PROJ-1"]
    assert [i["key"] for i in d["scope_added"]] == ["PROJ-3"] and d["scope_added_points"] == 5
    assert [s["reason"] for s in d["slipped"]] == ["health worsened: on_track → at_risk"]
    # Item 4 appeared under planned item 1 without being planned itself.
    assert [i["key"] for i in d["unplanned"]] == ["PROJ-4"]


async def test_objective_and_portfolio_digests(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    h = await _history(db)
    d = (await _digest(client, reader_headers, f"objective:{h['objective']}", h["since"])).json()
    assert {
        (m["node_type"], m["progress_before"], m["progress_after"]) for m in d["movements"]
    } == {
        ("initiative", 0.2, 0.45),
        ("key_result", 0.1, 0.3),  # from the feed: this node has no snapshots
    }
    overdue = [s for s in d["slipped"] if s["reason"].startswith("overdue")]
    assert [(s["node_type"], s["title"]) for s in overdue] == [("key_result", "Revenue")]
    assert "(2 of 10)" in overdue[0]["reason"]
    portfolio_digest = (await _digest(client, reader_headers, "portfolio", h["since"])).json()
    assert [i["key"] for i in portfolio_digest["unplanned"]] == ["PROJ-4", "PROJ-5"]
    assert [i["key"] for i in portfolio_digest["completed"]] == ["PROJ-1"]


async def test_markdown_digest_reads_as_text(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    h = await _history(db)
    response = await _digest(
        client, reader_headers, f"initiative:{h['initiative']}", h["since"], "markdown"
    )
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert text.startswith("*Initiative: Checkout*: what changed from ")
    assert "- Initiative Checkout: progress 20% → 45% (+25 pts); health on_track → at_risk" in text
    assert "*Completed (1)*\n- PROJ-1 Item 1\n" in text
    assert "*Scope added (1 items, 5 points)*\n- PROJ-3 Item 3 (5 pts)\n" in text
    assert "*New unplanned work (1)*\n- PROJ-4 Item 4\n" in text


async def test_digest_input_errors_are_problems(
    client: httpx.AsyncClient, reader_headers: dict[str, str]
) -> None:
    missing = await client.get("/api/v1/digests?scope=initiative:99", headers=reader_headers)
    assert missing.status_code == 404
    bad = await client.get("/api/v1/digests?scope=team:1", headers=reader_headers)
    assert bad.status_code == 422
    future = (utcnow() + timedelta(days=1)).isoformat()
    ahead = await client.get("/api/v1/digests", params={"since": future}, headers=reader_headers)
    assert ahead.status_code == 422


@pytest.fixture
def guarded(app: FastAPI) -> FastAPI:
    app.state.upstream_resolver = public_resolver
    return app


async def test_scheduled_digest_is_delivered_as_digest_ready(
    guarded: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    db: Database,
    secret_box: SecretBox,
) -> None:
    h = await _history(db)
    sub = (
        await client.post(
            "/api/v1/admin/subscriptions",
            json={"url": "https://hooks.example.com/slack", "types": ["digest.ready"]},
            headers=admin_headers,
        )
    ).json()
    bad = await client.post(
        "/api/v1/admin/digest-schedules",
        json={"scope": "portfolio", "cron": "0 25 * * *", "subscription_id": sub["id"]},
        headers=admin_headers,
    )
    assert bad.status_code == 422 and "cron" in bad.json()["detail"]
    created = await client.post(
        "/api/v1/admin/digest-schedules",
        json={
            "scope": f"initiative:{h['initiative']}",
            "cron": "0 9 * * MON",
            "subscription_id": sub["id"],
        },
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    fire = datetime.fromisoformat(schedule["next_run_at"])
    assert (fire.weekday(), fire.hour, fire.minute) == (0, 9, 0) and fire > utcnow()

    async with db.session() as session:
        assert await run_due(session, now=fire - timedelta(seconds=1)) == 0
        assert await run_due(session, now=fire) == 1
    upstream = Upstream(200)
    async with upstream.client() as http:
        report = await deliver_due(db, secret_box, http, now=fire)
    assert report.delivered == 1
    (request,) = upstream.requests
    body = verify_standard_webhook(sub["secret"], request)
    assert body["type"] == "digest.ready"
    assert body["text"].startswith("*Initiative: Checkout*")
    assert body["data"]["scope"] == f"initiative:{h['initiative']}"
    listed = (await client.get("/api/v1/admin/digest-schedules", headers=admin_headers)).json()
    (row,) = listed["items"]
    assert datetime.fromisoformat(row["next_run_at"]) == fire + timedelta(days=7)
    assert datetime.fromisoformat(row["last_run_at"]) == fire
