"""Outbox rows and write-back settings for the write-back suites."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Source, WriteBackState
from service.security import SecretBox
from service.store.db import Database


def path(source_id: int, suffix: str = "") -> str:
    return f"/api/v1/admin/sources/{source_id}/write-back{suffix}"


async def enable(
    client: httpx.AsyncClient, headers: dict[str, str], source_id: int, **config: Any
) -> dict[str, Any]:
    response = await client.put(path(source_id), json={"enabled": True, **config}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def outbox(db: Database) -> dict[int, WriteBackState]:
    async with db.session() as session:
        rows = await session.execute(select(WriteBackState).order_by(col(WriteBackState.id)))
        return {row.work_item_id: row for row in rows.scalars()}


async def desired(db: Database) -> dict[int, list[str]]:
    return {item_id: row.desired for item_id, row in (await outbox(db)).items()}


async def add_source(
    db: Database,
    box: SecretBox,
    kind: str,
    base_url: str,
    credentials: dict[str, str],
    **scope: Any,
) -> int:
    """A source row (no sync), its credentials encrypted as the API stores them."""
    async with db.session() as session:
        source = Source(
            kind=kind,
            name=kind,
            base_url=base_url,
            credentials_encrypted=box.encrypt_json(credentials),
            scope=scope,
        )
        session.add(source)
        await session.flush()
        assert source.id is not None
        return source.id
