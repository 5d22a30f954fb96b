"""The admin landing page (admins only): links to every admin page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.web.deps import AdminPage, render

router = APIRouter()


@router.get("/admin")
async def admin_index(request: Request, user: AdminPage) -> Response:
    return render(request, "admin_index.html")
