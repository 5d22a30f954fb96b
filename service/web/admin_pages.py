"""Rendering for the admin pages: the shared `render` plus the admin display helpers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from service.web import admin_format
from service.web.deps import render


def render_admin(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request, template, {"fmt": admin_format, **(context or {})}, status_code=status_code
    )
