"""Builders shared by the rules and rollups suites: portfolio nodes, items, links."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import WorkItem, WorkItemLink
from schemas.work_item import WorkItemIn
from service.store.db import Database
from service.store.work_items import upsert_work_items

RULES = "/api/v1/admin/mapping-rules"


async def post(client: httpx.AsyncClient, path: str, headers: dict[str, str], **body: Any) -> dict:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def objective(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> int:
    return (await post(client, "/api/v1/objectives", headers, **{"title": "O", **body}))["id"]


async def key_result(
    client: httpx.AsyncClient, headers: dict[str, str], objective_id: int, **body: Any
) -> int:
    data = {"title": "KR", "objective_id": objective_id, **body}
    return (await post(client, "/api/v1/key-results", headers, **data))["id"]


async def initiative(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> int:
    return (await post(client, "/api/v1/initiatives", headers, **{"title": "I", **body}))["id"]


async def upsert(db: Database, source_id: int, *items: WorkItemIn) -> dict[str, int]:
    """Store items through THE upsert (rules run there); returns id by key."""
    async with db.session() as session:
        await upsert_work_items(session, source_id, list(items), cause="test")
    return await ids(db)


async def ids(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(select(col(WorkItem.key), col(WorkItem.id)))
        return {key: item_id for key, item_id in rows}


async def links(db: Database) -> set[tuple[int, str, int, str]]:
    """(item id, target type, target id, provenance) of every link."""
    async with db.session() as session:
        rows = await session.execute(
            select(
                col(WorkItemLink.work_item_id),
                col(WorkItemLink.target_type),
                col(WorkItemLink.target_id),
                col(WorkItemLink.provenance),
            )
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]


async def linked_items(db: Database, target_type: str, target_id: int) -> set[int]:
    return {
        item
        for item, kind, target, prov in await links(db)
        if kind == target_type and target == target_id and not prov.startswith("excluded")
    }


async def rule(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conditions: dict[str, Any],
    *,
    initiative_id: int | None = None,
    key_result_id: int | None = None,
    **extra: Any,
) -> dict:
    target = (
        {"initiative_id": initiative_id}
        if initiative_id is not None
        else {"key_result_id": key_result_id}
    )
    body = {"name": "r", "conditions": conditions, "target": target, **extra}
    return await post(client, RULES, headers, **body)
