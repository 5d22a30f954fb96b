"""Errors on pages: the app's problem+json rendered as a readable page; sign-in redirects.

The JSON API keeps its problem details. For a page request the problem the API handlers
build (same status, same detail, same headers) is shown as the error page instead.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from service.web.deps import SignInRequired, render, sign_in_url
from service.web.forms import errors_by_field

# Paths that are not pages: they keep problem+json.
NOT_PAGES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc")
Handler = Callable[[Request, Any], Response | Awaitable[Response]]

TITLES = {
    400: "The request could not be understood",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Some values need fixing",
    503: "Temporarily unavailable",
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith(NOT_PAGES) or path == "/openapi.json")


def problem_page(request: Request, problem: Response) -> Response:
    """The error page for a problem+json response, keeping its status and headers."""
    try:
        body: dict[str, Any] = json.loads(bytes(problem.body))
    except ValueError:
        body = {}
    status = problem.status_code
    errors = body.get("errors") or []
    page = render(
        request,
        "error.html",
        {
            "status": status,
            "heading": TITLES.get(status, body.get("title") or "Something went wrong"),
            "detail": body.get("detail") or "",
            "field_errors": errors_by_field(errors) if errors else {},
        },
        status_code=status,
    )
    for name, value in problem.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            page.headers.setdefault(name, value)
    return page


def _wrap(original: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        response = original(request, exc)
        if inspect.isawaitable(response):
            response = await response
        assert isinstance(response, Response)
        if not is_page(request):
            return response
        return problem_page(request, response)

    return handle


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(sign_in_url(exc.next_path), status_code=303)


def install(app: FastAPI) -> None:
    """Wrap every problem handler already installed (install after `service.api.problems`)."""
    for exc_class, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(exc_class, _wrap(handler))
    app.add_exception_handler(SignInRequired, _sign_in_required)
