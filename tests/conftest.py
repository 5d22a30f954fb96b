"""Test fixtures: the same suite on SQLite and on a throwaway PostgreSQL database.

Each backend is migrated once per run; every test leaves its tables empty for the next.
With CI=true a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import schemas.tables  # noqa: F401
from schemas.enums import Role
from service.app import create_app
from service.config import Settings
from service.security import SecretBox, generate_secret_key
from service.store import api_keys
from service.store.db import Database
from service.store.migrate import upgrade_async

PG_ADMIN_DSN = os.environ.get(
    "PORTFOLIO_SYNC_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgres"]


async def _create_pg_database() -> tuple[str, str]:
    name = f"ps_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required on CI but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
        return
    name, url = await _create_pg_database()
    try:
        await upgrade_async(url)
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture(scope="session")
async def session_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, busy_timeout_ms=10000)
    yield db
    await db.dispose()


async def _empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.is_postgres:
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            await conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def db(session_db: Database) -> AsyncIterator[Database]:
    yield session_db
    session_db.session_info.clear()  # e.g. a rollup clock a test pinned
    await _empty_tables(session_db)


@pytest.fixture(scope="session")
def secret_box() -> SecretBox:
    return SecretBox([generate_secret_key()])


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, scheduler_enabled=False, log_json=True)


@pytest.fixture
async def app(db: Database, settings: Settings, secret_box: SecretBox):  # type: ignore[no-untyped-def]
    return create_app(settings, database=db, secret_box=secret_box)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _key(db: Database, role: Role) -> str:
    async with db.session() as session:
        _row, key = await api_keys.create(session, f"{role.value}-key", role)
    return key


@pytest.fixture
async def admin_headers(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(db, Role.admin)}"}


@pytest.fixture
async def editor_headers(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(db, Role.editor)}"}


@pytest.fixture
async def reader_headers(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(db, Role.reader)}"}
