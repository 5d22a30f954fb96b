"""GET /api/v1/changes: order, resumable cursor, filters, long-poll."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import insert

from schemas.tables import Change
from schemas.types import utcnow
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.store.work_items import upsert_work_items
from tests.factories import item, make_source
from tests.feed.helpers import change, link, portfolio


async def _all(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> list[dict]:
    response = await client.get(f"/api/v1/changes?limit=500{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_pages_are_ordered_and_resume_from_next_cursor(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    for n in range(7):
        await change(db, "objective.updated", "objective", n + 1)
    seen: list[int] = []
    after = 0
    for _ in range(5):
        page = (
            await client.get(f"/api/v1/changes?after={after}&limit=3", headers=reader_headers)
        ).json()
        seen += [c["id"] for c in page["items"]]
        assert page["next_cursor"] == (page["items"][-1]["id"] if page["items"] else after)
        after = page["next_cursor"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 7
    first = (await client.get("/api/v1/changes?limit=1", headers=reader_headers)).json()
    entry = first["items"][0]
    assert set(entry) == {
        "id",
        "type",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "cause",
        "created_at",
    }
    assert entry["cause"] == "api:test"


async def test_empty_page_returns_the_cursor_unchanged(
    client: httpx.AsyncClient, reader_headers: dict[str, str]
) -> None:
    page = (await client.get("/api/v1/changes?after=41", headers=reader_headers)).json()
    assert page == {"items": [], "next_cursor": 41}


async def test_types_filter_exact_and_family(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    await change(db, "objective.created", "objective", 1)
    await change(db, "work_item.updated", "work_item", 1)
    await change(db, "work_item_x.updated", "work_item_x", 1)
    await change(db, "work_item.created", "work_item", 2)
    exact = await _all(client, reader_headers, "&types=work_item.created,objective.created")
    assert [c["type"] for c in exact] == ["objective.created", "work_item.created"]
    family = await _all(client, reader_headers, "&types=work_item.*")
    assert [c["type"] for c in family] == ["work_item.updated", "work_item.created"]
    bad = await client.get("/api/v1/changes?types=DROP TABLE", headers=reader_headers)
    assert bad.status_code == 422 and "types" in bad.json()["detail"]


async def test_initiative_and_objective_filters(
    client: httpx.AsyncClient, reader_headers: dict[str, str], db: Database
) -> None:
    ids = await portfolio(db)
    source_id = await make_source(db)
    async with db.session() as session:
        written = await upsert_work_items(
            session, source_id, [item(1), item(2), item(3)], cause="sync:1"
        )
    on_initiative, on_kr, unrelated = written.changed_ids
    await link(db, on_initiative, "initiative", ids["initiative"])
    await link(db, on_kr, "key_result", ids["kr"])
    await link(db, unrelated, "initiative", ids["other"])
    await change(db, "initiative.updated", "initiative", ids["initiative"])
    await change(db, "initiative.updated", "initiative", ids["other"])
    await change(db, "key_result.updated", "key_result", ids["kr"])
    await change(db, "objective.updated", "objective", ids["objective"])
    await change(db, "progress.changed", "initiative", ids["initiative"])
    # A removed link names the work item; the target is only in the entry itself.
    removed = {"target_type": "initiative", "target_id": ids["initiative"], "provenance": "x"}
    await change(db, "link.removed", "work_item", 999, before=removed)

    by_initiative = await _all(client, reader_headers, f"&initiative_id={ids['initiative']}")
    assert [(c["type"], c["entity_id"]) for c in by_initiative] == [
        ("work_item.created", on_initiative),
        ("initiative.updated", ids["initiative"]),
        ("progress.changed", ids["initiative"]),
        ("link.removed", 999),
    ]
    by_objective = await _all(client, reader_headers, f"&objective_id={ids['objective']}")
    assert [(c["type"], c["entity_id"]) for c in by_objective] == [
        ("work_item.created", on_initiative),
        ("work_item.created", on_kr),
        ("initiative.updated", ids["initiative"]),
        ("key_result.updated", ids["kr"]),
        ("objective.updated", ids["objective"]),
        ("progress.changed", ids["initiative"]),
        ("link.removed", 999),
    ]


def _app(db: Database, secret_box: SecretBox, database_url: str, poll: float):  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=database_url, scheduler_enabled=False, log_json=True, feed_poll_seconds=poll
    )
    return create_app(settings, database=db, secret_box=secret_box)


async def test_long_poll_wakes_on_a_commit_in_this_process(
    db: Database, secret_box: SecretBox, database_url: str, reader_headers: dict[str, str]
) -> None:
    # With a 60 s database poll, only the in-process nudge can wake the reader in time.
    app = _app(db, secret_box, database_url, poll=60)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        started = time.monotonic()
        waiting = asyncio.create_task(
            client.get("/api/v1/changes?after=0&wait=20", headers=reader_headers)
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        # The waiting reader holds no transaction: this write is not blocked (SQLite lock).
        await change(db, "objective.updated", "objective", 1)
        response = await asyncio.wait_for(waiting, 10)
    assert time.monotonic() - started < 5
    body = response.json()
    assert [c["type"] for c in body["items"]] == ["objective.updated"]
    assert body["next_cursor"] == body["items"][0]["id"]


async def test_long_poll_sees_other_processes_by_polling(
    db: Database, secret_box: SecretBox, database_url: str, reader_headers: dict[str, str]
) -> None:
    app = _app(db, secret_box, database_url, poll=0.05)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        waiting = asyncio.create_task(client.get("/api/v1/changes?wait=20", headers=reader_headers))
        await asyncio.sleep(0.1)
        # Written behind the append path's back, as another process would: no nudge here.
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(Change).values(
                    type="objective.updated",
                    entity_type="objective",
                    entity_id=1,
                    cause="api:other",
                    created_at=utcnow(),
                )
            )
        response = await asyncio.wait_for(waiting, 10)
    assert [c["cause"] for c in response.json()["items"]] == ["api:other"]


async def test_long_poll_returns_empty_after_the_wait(
    client: httpx.AsyncClient, reader_headers: dict[str, str]
) -> None:
    started = time.monotonic()
    response = await client.get("/api/v1/changes?after=5&wait=0.3", headers=reader_headers)
    elapsed = time.monotonic() - started
    assert response.json() == {"items": [], "next_cursor": 5}
    assert 0.25 <= elapsed < 3
    too_long = await client.get("/api/v1/changes?wait=31", headers=reader_headers)
    assert too_long.status_code == 422
