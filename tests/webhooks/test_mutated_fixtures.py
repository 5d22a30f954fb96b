"""Hypothesis mutations of the real webhook fixtures, signed, through the receiver and worker.

Each example breaks one to three fields of a real GitHub or Jira payload (any JSON value, a
hostile string, or the field removed), signs the result and posts it. The answer is never a
5xx; a refused delivery stores nothing; a stored one is applied, ignored or failed with a
readable error by the worker (which never raises); and every stored item stays well formed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from schemas.tables import WebhookDelivery, WorkItem
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.webhooks.worker import run_until_drained

from ..mutations import assert_well_formed, mutated
from .support import (
    GITHUB_FIXTURES,
    add_source,
    github_event_of,
    github_headers,
    jira_headers,
    load_github,
    load_jira,
)

EXAMPLES = 400
HANDLED = {"processed", "ignored", "failed", "dead"}
FIXTURES: list[tuple[str, str, dict[str, Any]]] = [
    ("github", github_event_of(p.name), load_github(p.name))
    for p in sorted(GITHUB_FIXTURES.glob("*.json"))
] + [("jira", "", load_jira(name)) for name in ("issue_created", "issue_updated")]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], list[str]]:
    kind, event, payload = draw(st.sampled_from(FIXTURES))
    broken, done = draw(mutated(payload))
    return kind, event, broken, done


async def _rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


async def _check(
    db: Database,
    client: httpx.AsyncClient,
    sources: dict[str, int],
    case: tuple[str, str, dict[str, Any], list[str]],
    seen: dict[str, int],
) -> None:
    kind, event, payload, done = case
    body = json.dumps(payload).encode()
    headers = github_headers(body, event) if kind == "github" else jira_headers(body)
    before = await _rows(db)
    response = await client.post(f"/webhooks/{kind}/{sources[kind]}", content=body, headers=headers)
    seen[str(response.status_code)] = seen.get(str(response.status_code), 0) + 1
    assert response.status_code < 500, (done, response.text)
    if response.status_code >= 400:
        assert response.json()["detail"].strip(), done
        assert await _rows(db) == before, done
        return
    # Hypothesis replays examples: an identical Jira body is the same delivery (a duplicate).
    assert await _rows(db) == before + (0 if response.json()["duplicate"] else 1), done
    await run_until_drained(db, max_attempts=1)  # raises if a bad row broke the batch
    async with db.session() as session:
        row = await session.get(WebhookDelivery, response.json()["id"])
        assert row is not None
        assert row.status in HANDLED, (done, row.status)
        if row.status != "processed":
            assert row.error and row.error.strip(), (done, row.status)
        seen[row.status] = seen.get(row.status, 0) + 1
        for item in (await session.execute(select(WorkItem))).scalars():
            assert_well_formed(item)


def test_mutated_fixture_deliveries_are_refused_or_handled(
    db: Database, settings: Settings, secret_box: SecretBox
) -> None:
    # Hypothesis drives a synchronous test: the app and its engine live on this test's loop.
    loop = asyncio.new_event_loop()
    local = Database(settings.database_url, busy_timeout_ms=10000)
    app = create_app(settings, database=local, secret_box=secret_box)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    seen: dict[str, int] = {}
    try:
        sources = {
            "github": loop.run_until_complete(add_source(local, secret_box)),
            "jira": loop.run_until_complete(add_source(local, secret_box, kind="jira")),
        }

        @given(case=deliveries())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: tuple[str, str, dict[str, Any], list[str]]) -> None:
            loop.run_until_complete(_check(local, client, sources, case, seen))

        run()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(local.dispose())
        loop.close()
    assert sum(v for k, v in seen.items() if k.isdigit()) >= EXAMPLES
    print(f"mutated fixtures: {EXAMPLES} examples, outcomes {seen}")
