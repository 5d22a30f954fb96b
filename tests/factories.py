"""Small builders for test data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.tables import Source
from schemas.work_item import WorkItemIn
from service.store.db import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def item(n: int, *, minutes: int = 0, **overrides: Any) -> WorkItemIn:
    data: dict[str, Any] = {
        "external_id": f"ext-{n}",
        "key": f"PROJ-{n}",
        "kind": "story",
        "title": f"Item {n}",
        "status": "To Do",
        "status_category": "todo",
        "project": "PROJ",
        "labels": ["backend"],
        "upstream_created_at": T0,
        "upstream_updated_at": T0 + timedelta(minutes=minutes),
    }
    data.update(overrides)
    return WorkItemIn(**data)


async def make_source(db: Database, name: str = "jira-main", kind: str = "jira") -> int:
    async with db.session() as session:
        source = Source(kind=kind, name=name, base_url="https://example.atlassian.net")
        session.add(source)
        await session.flush()
        assert source.id is not None
        return source.id
