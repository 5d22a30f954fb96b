"""The FastAPI application: routers, problem handlers, observability, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.api import problems
from service.api.observability import ObservabilityMiddleware
from service.api.openapi_links import add_crud_links
from service.api.routes import (
    api_keys,
    changes,
    digests,
    initiatives,
    key_results,
    mapping_rules,
    objectives,
    ops,
    portfolio,
    source_webhooks,
    sources,
    subscriptions,
    webhook_deliveries,
    webhooks,
    work_items,
    write_back,
)
from service.api.routes import runs as sync_runs
from service.config import Settings
from service.portfolio import progress
from service.security import SecretBox, load_secret_box
from service.store.db import Database
from service.store.migrate import upgrade_async
from service.web import install as install_web

logger = logging.getLogger(__name__)

BackgroundStarter = Callable[[FastAPI], Awaitable[Callable[[], Awaitable[None]]]]

DESCRIPTION = """
Keeps a product portfolio (objectives, key results, initiatives) tied to the work in Jira Cloud
and GitHub. Authenticate with an API key: `Authorization: Bearer <key>` (roles: reader, editor,
admin). Lists are cursor-paginated (`?limit=&cursor=`; the body carries `next_cursor`). Errors
are RFC 9457 problem details (`application/problem+json`).
"""


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    secret_box: SecretBox | None = None,
    migrate: bool = False,
    background: BackgroundStarter | None = None,
) -> FastAPI:
    """Build the app. `migrate` upgrades the schema on start; `background` starts workers."""
    db = database or Database(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    box = secret_box or load_secret_box(settings)
    progress.configure(db, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(settings.database_url)
        stop = await background(app) if background else None
        try:
            yield
        finally:
            if stop is not None:
                await stop()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="portfolio-sync",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.secret_box = box
    problems.install(app)
    app.add_middleware(ObservabilityMiddleware)
    for module in (
        ops,
        objectives,
        key_results,
        initiatives,
        work_items,
        api_keys,
        sources,
        source_webhooks,
        sync_runs,
        webhooks,
        webhook_deliveries,
        mapping_rules,
        portfolio,
        changes,
        subscriptions,
        digests,
        write_back,
    ):
        app.include_router(module.router)
    # Pages at `/`; installed last so that they render the API's problems as error pages.
    install_web(app)
    _link_openapi(app)
    return app


def _link_openapi(app: FastAPI) -> None:
    """The generated document plus the create → read/update/delete links (openapi_links)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_crud_links(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
