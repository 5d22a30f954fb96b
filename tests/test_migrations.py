"""Migrations: upgrade from empty to head, downgrade to base, on both backends."""

import pytest
from sqlalchemy import inspect

from service.store.db import Database
from service.store.migrate import current_revision, downgrade_async, head_revision, upgrade_async


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_then_downgrade_round_trip(database_url: str, session_db: Database) -> None:
    assert await current_revision(session_db.engine) == head_revision()
    assert {"work_item", "source", "change", "api_key", "webhook_delivery"} <= await _tables(
        session_db
    )
    await downgrade_async(database_url, "base")
    assert await current_revision(session_db.engine) is None
    assert await _tables(session_db) <= {"alembic_version"}
    await upgrade_async(database_url)
    assert await current_revision(session_db.engine) == head_revision()
    assert "work_item_link" in await _tables(session_db)


async def test_sqlite_runs_in_wal_with_foreign_keys(session_db: Database) -> None:
    if not session_db.is_sqlite:
        pytest.skip("SQLite pragmas")
    async with session_db.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    assert (mode, fks) == ("wal", 1)
    assert timeout and timeout > 0
