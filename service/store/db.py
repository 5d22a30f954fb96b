"""Engine and session handling for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

BEFORE_COMMIT = "before_commit"
Hook = Callable[[AsyncSession], Awaitable[None]]
T = TypeVar("T")
# Errors of a statement, not of the connection: retrying them would only repeat them.
_STATEMENT_ERRORS = (IntegrityError, DataError, ProgrammingError, NotSupportedError)


async def outlasting_outage(
    operation: Callable[[], Awaitable[T]],
    *,
    seconds: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`operation()`, tried again while the database is unreachable (restarting, failing over),
    for up to `seconds`: for a record that must be written, such as how a run ended.

    The pool's pre-ping replaces the dead connections; each try is a new transaction.
    """
    deadline = time.monotonic() + seconds
    wait = 0.5
    while True:
        try:
            return await operation()
        except (OSError, DBAPIError) as exc:
            if isinstance(exc, _STATEMENT_ERRORS) or time.monotonic() + wait > deadline:
                raise
        await sleep(wait)
        wait = min(wait * 2, 5.0)


def before_commit(session: AsyncSession, name: str, hook: Hook) -> None:
    """Run `hook` once in this transaction, just before the owner of the session commits it.

    For work that follows from every write of a transaction and belongs in it (recomputing the
    rollups a write moved), registered by the writers themselves so no path can forget it.
    """
    session.info.setdefault(BEFORE_COMMIT, {})[name] = hook


async def run_before_commit(session: AsyncSession) -> None:
    """Run the registered hooks (also for callers that commit a session of their own)."""
    while hooks := session.info.pop(BEFORE_COMMIT, None):
        for hook in hooks.values():
            await hook(session)


class Database:
    """One engine plus a session factory; the request or job owns each transaction."""

    def __init__(
        self, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 10, pooled: bool = True
    ) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {}
        if not pooled:
            # For callers that run each request on a fresh event loop (connections are per loop).
            kwargs["poolclass"] = NullPool
        elif self.is_postgres:
            # Chosen for a database that restarts or fails over: pre-ping replaces connections
            # the server dropped (no request fails on a stale one); a connect gives up after
            # 10 s and a wait for a free connection after 10 s, so a receiver answers 503
            # (Retry-After) promptly instead of holding senders for the driver's 60 s default.
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=10,
                connect_args={"timeout": 10},
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.read_engine = self.engine
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms, immediate=True)
            # Reads get their own connections in autocommit mode: in WAL they never wait for a
            # writer, whereas BEGIN IMMEDIATE would queue every GET behind a running sync.
            self.read_engine = create_async_engine(url, **kwargs)
            _configure_sqlite(self.read_engine, busy_timeout_ms, immediate=False)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Copied into every session's `info`: what write hooks need to know (e.g. rollup settings).
        self.session_info: dict[str, Any] = {}
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def session(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block succeeds and rolls back otherwise.

        `readonly` is for work that mostly reads (GET requests). On SQLite such a session runs
        in autocommit mode: it never blocks behind a writer, and an occasional write in it
        (e.g. bookkeeping) commits statement by statement; elsewhere it is a normal session.
        """
        async with self._session(readonly=readonly) as session:
            yield session

    @asynccontextmanager
    async def _session(self, *, readonly: bool) -> AsyncIterator[AsyncSession]:
        maker = self.read_sessionmaker if readonly else self.sessionmaker
        async with maker() as session:
            session.info.update(self.session_info)
            try:
                yield session
                await run_before_commit(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int, *, immediate: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB of page cache per connection (the default 2 MiB makes every page of a large
        # sync re-read index pages from the OS).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    if not immediate:
        return
    # SQLite has one writer at a time. Writers of this process queue on an asyncio lock, in
    # arrival order, before taking the file lock; without it they poll the file lock through
    # the busy handler, whose back-off sleeps add tens of milliseconds to every wait. Other
    # processes still meet the file lock and the busy timeout.
    locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
        weakref.WeakKeyDictionary()
    )
    timeout = busy_timeout_ms / 1000

    def _release(info: dict[str, Any]) -> None:
        lock = info.pop(_LOCK_KEY, None)
        if lock is not None and lock.locked():
            lock.release()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        loop = asyncio.get_running_loop()
        lock = locks.setdefault(loop, asyncio.Lock())
        try:
            await_only(asyncio.wait_for(lock.acquire(), timeout))
        except TimeoutError as exc:
            locked = Exception("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked) from exc
        conn.info[_LOCK_KEY] = lock
        try:
            # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY
            # when another writer committed in between; taking the write lock up front makes
            # the busy timeout apply instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    @event.listens_for(sync_engine, "commit")
    @event.listens_for(sync_engine, "rollback")
    def _on_end(conn: Any) -> None:
        _release(conn.info)

    @event.listens_for(sync_engine.pool, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _state: Any) -> None:
        # A connection returned to the pool mid-transaction still ends its turn.
        _release(record.info)


_LOCK_KEY = "portfolio_sync_write_lock"
