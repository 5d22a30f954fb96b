"""`portfolio-sync` command line: serve, db, apikey, and the operational commands."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.enums import Role, SyncMode
from schemas.tables import ApiKey
from service.config import Settings, get_settings
from service.demo import demo
from service.errors import ConfigurationError, ServiceError
from service.logs import configure_logging
from service.simulator.cli import simulator
from service.store import api_keys as api_key_store
from service.store.db import Database
from service.store.migrate import downgrade, upgrade

T = TypeVar("T")

app = typer.Typer(help="portfolio-sync: the portfolio store, kept in step with Jira and GitHub.")
db_app = typer.Typer(help="Database schema (Alembic migrations).")
apikey_app = typer.Typer(help="API keys (stored hashed; a key is shown once).")
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")

err = Console(stderr=True)


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default: PORTFOLIO_SYNC_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: PORTFOLIO_SYNC_PORT)."),
) -> None:
    """Upgrade the schema, then serve the API (and, unless disabled, the scheduler and workers)."""
    import uvicorn

    from service.runtime import build_app

    settings = _settings()
    try:
        application = build_app(settings, migrate=True)
    except ConfigurationError as exc:
        _fail(str(exc))
    # Everything loaded so far lives for the whole process: keep it out of the collector's
    # full passes, which otherwise show up as latency spikes on large responses.
    gc.freeze()
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    upgrade(_settings().database_url, revision)
    err.print(f"database upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Downgrade the schema to REVISION."""
    downgrade(_settings().database_url, revision)
    err.print(f"database downgraded to {revision}")


@app.command("secret-key")
def secret_key() -> None:
    """Print a new Fernet key for PORTFOLIO_SYNC_SECRET_KEY."""
    from service.security import generate_secret_key

    typer.echo(generate_secret_key())


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        async with db.session() as session:
            return await work(session)
    finally:
        await db.dispose()


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., "--name", help="A unique name; it appears in change causes."),
    role: Role = typer.Option(..., "--role", help="reader, editor or admin."),
) -> None:
    """Create a key; the key alone is printed on the last line of stdout."""
    settings = _settings()
    upgrade(settings.database_url)
    try:
        _row, key = asyncio.run(
            _with_session(settings, lambda s: api_key_store.create(s, name, role))
        )
    except ServiceError as exc:
        _fail(exc.detail)
    err.print(f"created {role.value} key {name!r}; it is shown only once:")
    typer.echo(key)


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys (never the keys themselves)."""
    settings = _settings()
    rows = asyncio.run(_with_session(settings, api_key_store.list_all))
    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row.id),
            row.name,
            row.role,
            row.prefix + "…",
            str(row.created_at),
            str(row.last_used_at or ""),
            str(row.revoked_at or ""),
        )
    Console().print(table)


@apikey_app.command("revoke")
def apikey_revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key by name."""
    settings = _settings()

    async def work(session: AsyncSession) -> ApiKey | None:
        row = await api_key_store.find_by_name(session, name)
        if row is None or row.id is None:
            return None
        return await api_key_store.revoke(session, row.id)

    if asyncio.run(_with_session(settings, work)) is None:
        _fail(f"no API key named {name!r}")
    err.print(f"revoked {name!r}")


@app.command("web-link")
def web_link(
    name: str = typer.Argument(..., help="The API key's name; the link signs in with its role."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Where the app is served (default: http://HOST:PORT)."
    ),
) -> None:
    """Print a one-time sign-in link for the web app (valid 10 minutes, single use)."""
    from service.store import sign_in_tokens

    settings = _settings()
    upgrade(settings.database_url)

    async def work(session: AsyncSession) -> str | None:
        row = await api_key_store.find_by_name(session, name)
        if row is None or row.id is None or row.revoked_at is not None:
            return None
        return await sign_in_tokens.create(session, row.id)

    token = asyncio.run(_with_session(settings, work))
    if token is None:
        _fail(f"no usable API key named {name!r} (see `portfolio-sync apikey list`)")
    base = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    err.print("one-time sign-in link (valid 10 minutes, single use):")
    typer.echo(f"{base}/sign-in/token/{token}")


@app.command()
def sync(
    source: str | None = typer.Option(
        None, "--source", help="Source id or name (default: every enabled source)."
    ),
    mode: SyncMode = typer.Option(
        SyncMode.incremental, "--mode", help="incremental, full (re-read all) or reconcile."
    ),
) -> None:
    """Sync in the foreground with live progress; exits non-zero when a run fails."""
    from service.sync.cli import sync_command

    settings = _settings()
    upgrade(settings.database_url)
    try:
        ok = asyncio.run(sync_command(settings, source, mode, out=Console(), err=err))
    except ConfigurationError as exc:
        _fail(str(exc))
    if not ok:
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """Run the poll scheduler and background workers without HTTP (replicas share PostgreSQL)."""
    from service.runtime import run_worker

    try:
        run_worker(_settings())
    except ConfigurationError as exc:
        _fail(str(exc))


app.command("demo")(demo)
app.command("simulator")(simulator)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
