"""Sign-in with an API key or a one-time link, and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import SessionDep
from service.store import api_keys, sign_in_tokens
from service.web.deps import (
    CsrfForm,
    OptionalUser,
    redirect,
    render,
    set_session_cookie,
    signer_of,
)
from service.web.sessions import COOKIE_NAME

router = APIRouter()


def safe_next(value: object) -> str:
    """Only a path on this site (never `//host` or a scheme): no open redirect after sign-in."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _signed_in(request: Request, key_id: int, next_path: str) -> Response:
    response = redirect(next_path)
    # A fresh nonce at sign-in: CSRF tokens of the anonymous session stop working.
    set_session_cookie(request, response, signer_of(request).new(key_id))
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    return render(request, "sign_in.html", {"next": safe_next(next), "errors": {}})


@router.post("/sign-in")
async def sign_in(request: Request, form: CsrfForm, session: SessionDep) -> Response:
    next_path = safe_next(form.get("next"))
    presented = form.get("api_key")
    key = presented.strip() if isinstance(presented, str) else ""
    principal = await api_keys.authenticate(session, key) if key else None
    if principal is None:
        message = "enter an API key" if not key else "this API key is not valid or has been revoked"
        # The key is never echoed back into the page.
        return render(
            request,
            "sign_in.html",
            {"next": next_path, "errors": {"api_key": message}},
            status_code=422 if not key else 401,
        )
    return _signed_in(request, principal.key_id, next_path)


@router.get("/sign-in/token/{token}")
async def sign_in_with_token(request: Request, token: str, session: SessionDep) -> Response:
    key_id = await sign_in_tokens.consume(session, token) if len(token) <= 200 else None
    principal = await sign_in_tokens.principal_of_key(session, key_id) if key_id else None
    if principal is None:
        return render(
            request,
            "sign_in.html",
            {
                "next": "/",
                "errors": {
                    "__all__": "this sign-in link is not valid, has expired or was already "
                    "used; sign in with an API key, or ask for a new link"
                },
            },
            status_code=400,
        )
    return _signed_in(request, principal.key_id, "/")


@router.post("/sign-out")
async def sign_out(request: Request, form: CsrfForm) -> Response:
    response = redirect("/sign-in")
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response
