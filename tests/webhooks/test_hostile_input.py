"""A corpus of malformed webhook requests against a running receiver and worker.

Every request gets an answer below 500. A refused one (4xx) is a problem document with a
readable `detail` and adds no inbox row; an accepted one is stored once and the running worker
ends it `processed`, `ignored` (with the reason) or `failed`/`dead` (with the error), never
leaving the inbox stuck. Items already in the store are untouched by the hostile traffic, every
item the worker did store is well formed, and a good delivery sent afterwards is applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from schemas.tables import Change, WebhookDelivery
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import run_until_drained, start_inbox_worker

from ..mutations import assert_well_formed
from .hostile import HostileRequest, corpus
from .support import (
    add_source,
    count,
    deliveries,
    issue_variant,
    load_github,
    post_github,
    work_items,
)

CAP = 1 << 20
HANDLED = {"processed", "ignored", "failed", "dead"}


@pytest.fixture
async def hostile_app(db: Database, settings: Settings, secret_box: SecretBox) -> FastAPI:
    return create_app(
        settings.model_copy(update={"webhook_max_body_bytes": CAP, "worker_poll_seconds": 0.2}),
        database=db,
        secret_box=secret_box,
    )


@pytest.fixture
async def hostile_client(hostile_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hostile_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def snapshot(db: Database, source_id: int) -> list[tuple[object, ...]]:
    return sorted(
        (w.external_id, w.key, w.title, w.status, w.content_hash, w.deleted_at)
        for w in await work_items(db)
        if w.source_id == source_id
    )


def route(request: HostileRequest, sources: dict[str, int]) -> str:
    if request.source == "own":
        segment = str(sources[request.kind])
    elif request.source == "missing":
        segment = str(max(sources.values()) + 1000)
    else:
        segment = request.source
    return f"/webhooks/{request.kind}/{segment}"


def wire(request: HostileRequest) -> list[tuple[str, bytes]]:
    """Header values as raw bytes (a non-ASCII value goes out as its UTF-8 bytes)."""
    return [(k, v if isinstance(v, bytes) else v.encode()) for k, v in request.headers]


async def test_hostile_corpus_never_5xx_and_never_corrupts(
    db: Database,
    hostile_app: FastAPI,
    hostile_client: httpx.AsyncClient,
    secret_box: SecretBox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sources = {
        "github": await add_source(db, secret_box),
        "jira": await add_source(db, secret_box, kind="jira"),
    }
    # A bystander source with one applied item: no hostile request may touch it.
    bystander = await add_source(db, secret_box, scope={"repos": ["Codertocat/Hello-World"]})
    good = await post_github(hostile_client, bystander, load_github("issues.opened.json"), "issues")
    assert good.status_code == 202
    await run_until_drained(db, max_attempts=8)
    before = await snapshot(db, bystander)
    assert len(before) == 1

    requests = corpus(CAP)
    assert len(requests) >= 1000
    caplog.set_level(logging.WARNING, logger="service.webhooks.worker")
    stop = await start_inbox_worker(hostile_app)
    outcomes: Counter[str] = Counter()
    accepted: dict[int, str] = {}
    try:
        rows = await count(db, WebhookDelivery)
        for request in requests:
            response = await hostile_client.post(
                route(request, sources), content=request.body, headers=wire(request)
            )
            status = response.status_code
            outcomes[str(status)] += 1
            assert status < 500, (request.label, status, response.text[:300])
            after = await count(db, WebhookDelivery)
            if status >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")
                assert str(response.json().get("detail") or "").strip(), request.label
                assert after == rows, (request.label, "a refused request stored a row")
            else:
                assert status in (200, 202), (request.label, status)
                accepted[response.json()["id"]] = request.label
                assert after - rows in (0, 1), request.label
            rows = after

        # A good delivery after all that is still applied by the same running worker.
        sentinel = issue_variant(load_github("issues.opened.json"), n=424242, title="sentinel")
        response = await post_github(hostile_client, sources["github"], sentinel, "issues")
        assert response.status_code == 202
        sentinel_id = response.json()["id"]
        for _ in range(1500):
            rows_now = {r.id: r for r in await deliveries(db)}
            if all(r.status in HANDLED for r in rows_now.values()):
                break
            await asyncio.sleep(0.02)
    finally:
        await stop()

    stored = {r.id: r for r in await deliveries(db)}
    assert stored[sentinel_id].status == "processed"
    stuck = [label for i, label in accepted.items() if stored[i].status not in HANDLED]
    assert not stuck, f"left pending: {stuck[:5]}"
    for delivery_pk, label in accepted.items():
        row = stored[delivery_pk]
        if row.status != "processed":
            assert row.error and row.error.strip(), (label, row.status)
    assert not [r for r in caplog.records if "inbox worker: batch failed" in r.getMessage()]
    assert await snapshot(db, bystander) == before
    for item in await work_items(db):
        assert_well_formed(item)
    assert await count(db, Change) >= 2
    verdicts = Counter(stored[i].status for i in accepted)
    print(f"hostile corpus: {len(requests)} requests, answers {dict(outcomes)}")
    print(f"hostile corpus: stored deliveries ended {dict(verdicts)}")
