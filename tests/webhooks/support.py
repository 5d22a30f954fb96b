"""Signed deliveries, sources and counts for the webhook tests."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import Change, Source, WebhookDelivery, WorkItem
from service.security import SecretBox
from service.store.db import Database

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GITHUB_FIXTURES = FIXTURES / "github" / "webhooks"
JIRA_FIXTURES = FIXTURES / "jira"
SECRET = "It's a Secret to Everybody"
GITHUB_SCOPE = {
    "repos": [
        "Codertocat/Hello-World",
        "octo-org/octo-repo",
        "Particular/SampleWebhooks",
        "Octocoders/Hello-World",
    ]
}


def github_event_of(name: str) -> str:
    return name.removeprefix("net.").split(".", 1)[0]


def load_github(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GITHUB_FIXTURES / name).read_text())
    return data


def load_jira(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (JIRA_FIXTURES / f"sirajju-skill-sync.{name}.json").read_text()
    )
    return data


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def github_headers(
    body: bytes, event: str, *, delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": sign(body, secret),
    }


def jira_headers(
    body: bytes, *, identifier: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign(body, secret)}
    if identifier is not None:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return headers


async def post_github(
    client: httpx.AsyncClient,
    source_id: int,
    payload: Any,
    event: str,
    *,
    delivery: str | None = None,
) -> httpx.Response:
    body = encode(payload)
    return await client.post(
        f"/webhooks/github/{source_id}",
        content=body,
        headers=github_headers(body, event, delivery=delivery),
    )


async def post_jira(
    client: httpx.AsyncClient, source_id: int, payload: Any, *, identifier: str | None = None
) -> httpx.Response:
    body = encode(payload)
    return await client.post(
        f"/webhooks/jira/{source_id}",
        content=body,
        headers=jira_headers(body, identifier=identifier),
    )


async def add_source(
    db: Database,
    box: SecretBox,
    *,
    kind: str = "github",
    name: str | None = None,
    secret: str | None = SECRET,
    scope: dict[str, Any] | None = None,
    enabled: bool = True,
) -> int:
    async with db.session() as session:
        source = Source(
            kind=kind,
            name=name or f"{kind}-{uuid.uuid4().hex[:8]}",
            base_url="https://api.github.com" if kind == "github" else "https://x.atlassian.net",
            webhook_secret_encrypted=box.encrypt(secret) if secret is not None else None,
            scope=scope
            if scope is not None
            else (GITHUB_SCOPE if kind == "github" else {"projects": ["KAN"]}),
            enabled=enabled,
        )
        session.add(source)
        await session.flush()
        assert source.id is not None
        return source.id


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as session:
        rows = await session.execute(select(WebhookDelivery).order_by(col(WebhookDelivery.id)))
        return list(rows.scalars().all())


async def work_items(db: Database) -> list[WorkItem]:
    async with db.session() as session:
        return list((await session.execute(select(WorkItem))).scalars().all())


async def change_causes(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(select(col(Change.cause)))).scalars().all())


def issue_variant(
    base: dict[str, Any], *, n: int, title: str | None = None, updated_at: str | None = None
) -> dict[str, Any]:
    """A copy of an `issues` payload for a distinct issue `n` (node id, id and number differ)."""
    payload = copy.deepcopy(base)
    issue = payload["issue"]
    issue["id"] = 10_000_000 + n
    issue["node_id"] = f"I_test_{n}"
    issue["number"] = 100_000 + n
    if title is not None:
        issue["title"] = title
    if updated_at is not None:
        issue["updated_at"] = updated_at
    return payload
