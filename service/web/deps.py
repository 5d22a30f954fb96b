"""What every page needs: the signed-in user and role checks, CSRF, and rendering.

Page routes take `ReaderPage`, `EditorPage` or `AdminPage` (an anonymous visitor is sent to
the sign-in page, a signed-in user without the role gets the 403 page), state-changing forms
take `CsrfForm` (the parsed form, after its CSRF token was checked against the session), and
answer with `render(request, "page.html", {...})`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from schemas.enums import Role
from service.api.deps import SessionDep, has_role
from service.errors import Forbidden
from service.store import sign_in_tokens
from service.store.api_keys import Principal
from service.web.sessions import COOKIE_NAME, SessionSigner, WebSession
from service.web.templating import environment

CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """Raised by page dependencies for an anonymous visitor; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    session: WebSession

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def can_edit(self) -> bool:
        return has_role(self.principal, Role.editor)

    @property
    def is_admin(self) -> bool:
        return has_role(self.principal, Role.admin)

    @property
    def cause(self) -> str:
        """The name recorded as author of changes (`api:<name>` in the feed, as the API does)."""
        return self.principal.name


def signer_of(request: Request) -> SessionSigner:
    signer: SessionSigner | None = getattr(request.app.state, "web_signer", None)
    if signer is None:
        signer = SessionSigner(request.app.state.secret_box)
        request.app.state.web_signer = signer
    return signer


def web_session(request: Request) -> WebSession:
    """The visitor's session from the cookie, or a new anonymous one (set on the response)."""
    current: WebSession | None = getattr(request.state, "web_session", None)
    if current is not None:
        return current
    signer = signer_of(request)
    current = signer.load(request.cookies.get(COOKIE_NAME))
    if current is None:
        current = signer.new(None)
        request.state.web_session_new = True
    request.state.web_session = current
    return current


async def optional_user(request: Request, session: SessionDep) -> WebUser | None:
    current = web_session(request)
    if current.key_id is None:
        return None
    principal = await sign_in_tokens.principal_of_key(session, current.key_id)
    if principal is None:  # revoked or deleted since sign-in: the session is over
        anonymous = signer_of(request).new(None)
        request.state.web_session = anonymous
        request.state.web_session_new = True
        return None
    user = WebUser(principal=principal, session=current)
    request.state.web_user = user
    return user


OptionalUser = Annotated[WebUser | None, Depends(optional_user)]


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return path


def require_page(role: Role) -> Any:
    async def check(request: Request, user: OptionalUser) -> WebUser:
        if user is None:
            raise SignInRequired(_next_path(request) if request.method == "GET" else "/")
        if not has_role(user.principal, role):
            raise Forbidden(
                f"this page needs the {role.value} role; you are signed in as "
                f"{user.name!r} with the {user.role.value} role"
            )
        return user

    return Depends(check)


ReaderPage = Annotated[WebUser, require_page(Role.reader)]
EditorPage = Annotated[WebUser, require_page(Role.editor)]
AdminPage = Annotated[WebUser, require_page(Role.admin)]


def csrf_token(request: Request) -> str:
    return signer_of(request).csrf_token(web_session(request))


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session; otherwise a 403 page."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not signer_of(request).csrf_valid(
        web_session(request), token if isinstance(token, str) else None
    ):
        raise Forbidden(
            "the form's security token is missing or does not belong to this session; "
            "nothing was changed. Reload the page and submit the form again."
        )
    return form


CsrfForm = Annotated[FormData, Depends(checked_form)]


def set_session_cookie(request: Request, response: Any, current: WebSession) -> None:
    response.set_cookie(
        COOKIE_NAME,
        signer_of(request).dump(current),
        max_age=max(current.expires_at - int(time.time()), 0),
        expires=datetime.fromtimestamp(current.expires_at, UTC),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page: the template with the user, CSRF token and current path in its context."""
    values: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "web_user", None),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
    }
    values.update(context or {})
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    # Pages show live data and per-user controls: never cached, by browsers or proxies.
    response.headers["Cache-Control"] = "no-store"
    if getattr(request.state, "web_session_new", False):
        set_session_cookie(request, response, web_session(request))
    return response


def redirect(path: str) -> RedirectResponse:
    """After a successful POST: 303 See Other, so reloading does not resubmit."""
    return RedirectResponse(path, status_code=303)


def sign_in_url(next_path: str) -> str:
    return "/sign-in?next=" + quote(next_path, safe="/")
