"""The web app: server-rendered pages over the same services as the JSON API.

`install(app)` adds the static files, every page router in `ROUTERS`, and the error pages.
A new page module goes in `service/web/routes/` with its own `router` and is listed here.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from service.web import errors
from service.web.routes import (
    admin_index,
    admin_rules,
    admin_sources,
    admin_subscriptions,
    admin_webhooks,
    auth,
    nodes,
    portfolio,
    work_items,
)
from service.web.templating import static_files

ROUTERS = [
    auth.router,
    portfolio.router,
    nodes.router,
    work_items.router,
    admin_index.router,
    admin_sources.router,
    admin_rules.router,
    admin_webhooks.router,
    admin_subscriptions.router,
]

_FOREVER = "public, max-age=31536000, immutable"
_SHORT = "public, max-age=300"


async def static(name: str, request: Request) -> Response:
    found = static_files.files.get(name)
    if found is None:
        return Response("no such file", status_code=404, media_type="text/plain")
    etag = f'"{found.etag}"'
    # A URL with the current content hash never changes; any other URL may be revalidated.
    cache = _FOREVER if request.query_params.get("v") == found.etag else _SHORT
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


def install(app: FastAPI) -> None:
    app.add_api_route("/static/{name}", static, methods=["GET", "HEAD"], include_in_schema=False)
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    errors.install(app)
