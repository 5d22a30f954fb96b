"""A GitHub App for the simulated org: JWT-authenticated App endpoints and installation tokens.

One App (`github_app_id`) installed once on the org (`github_installation_id`, all
repositories). The App's RSA key is generated on first use (or taken from the config); the
private half is handed out by `GET /_sim/github/app` so a demo or a test can configure a source
with it. JWTs are checked like GitHub does: RS256 against the App's public key, `iss` = the App
id, `exp` in the future and at most 10 minutes after `iat`, `iat` not in the future (60 s drift).
Installation tokens (`ghs_…`) live one hour of the simulator's wall time (`now`, injectable) and
answer 401 `Bad credentials` afterwards, or after `expire_tokens()`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.simulator.config import SimulatorConfig
from service.simulator.responses import GITHUB_JSON, UpstreamError, dumps

TOKEN_LIFETIME = 3600
MAX_JWT_LIFETIME = 600
CLOCK_DRIFT = 60
DOCS = "https://docs.github.com/rest/apps/apps"


class GitHubApp:
    def __init__(self, config: SimulatorConfig, now: Callable[[], float] = time.time) -> None:
        self.app_id = config.github_app_id
        self.installation_id = config.github_installation_id
        self.org = config.github_org
        self.now = now
        self._private_pem = config.github_app_private_key
        self.tokens: dict[str, float] = {}
        self.exchanges = 0

    @property
    def private_pem(self) -> str:
        if self._private_pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._private_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        return self._private_pem

    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def check_jwt(self, token: str) -> None:
        """Raise a 401 `UpstreamError` unless `token` is a valid JWT of this App, right now."""
        now = self.now()
        try:
            claims = jwt.decode(
                token,
                self.public_pem(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise _unauthorized("A JSON web token could not be decoded") from None
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise _unauthorized("'iat' and 'exp' must be numeric claims")
        if str(claims.get("iss")) != str(self.app_id):
            raise _unauthorized("'Issuer' claim ('iss') must be an Integer")
        if exp <= now:
            raise _unauthorized(
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            )
        if exp - iat > MAX_JWT_LIFETIME:
            raise _unauthorized("'Expiration time' claim ('exp') is too far in the future")
        if iat > now + CLOCK_DRIFT:
            raise _unauthorized(
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued"
            )

    def issue(self) -> tuple[str, float]:
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = self.now() + TOKEN_LIFETIME
        self.tokens[token] = expires
        self.exchanges += 1
        return token, expires

    def token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and self.now() < expires

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens = {token: 0.0 for token in self.tokens}
        return count

    def installation(self, base: str) -> dict[str, Any]:
        return {
            "id": self.installation_id,
            "app_id": self.app_id,
            "app_slug": "portfolio-sync",
            "target_type": "Organization",
            "account": {"login": self.org, "type": "Organization"},
            "repository_selection": "all",
            "access_tokens_url": f"{base}/app/installations/{self.installation_id}/access_tokens",
            "permissions": PERMISSIONS,
            "events": ["issues", "pull_request", "sub_issues", "projects_v2_item"],
        }


PERMISSIONS = {
    "issues": "read",
    "pull_requests": "read",
    "metadata": "read",
    "organization_projects": "read",
    "repository_hooks": "write",
    "organization_hooks": "write",
}


def _unauthorized(message: str) -> UpstreamError:
    return UpstreamError(
        401, {"message": message, "documentation_url": DOCS, "status": "401"}, github=True
    )


def bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") else ""


def state_app(request: Request) -> GitHubApp:
    app: GitHubApp = request.app.state.sim.app
    return app


AppDep = Annotated[GitHubApp, Depends(state_app)]


def require_app_jwt(request: Request, app: AppDep) -> None:
    app.check_jwt(bearer(request))


def require_valid_token(request: Request) -> None:
    """Installation tokens must be known and unexpired; other tokens (PATs) are accepted."""
    token = bearer(request)
    if token.startswith("ghs_") and not state_app(request).token_valid(token):
        raise _unauthorized("Bad credentials")


router = APIRouter(prefix="/github", dependencies=[Depends(require_app_jwt)])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/github"


@router.get("/app")
async def get_app(app: AppDep) -> dict[str, Any]:
    return {
        "id": app.app_id,
        "slug": "portfolio-sync",
        "name": "portfolio-sync",
        "permissions": PERMISSIONS,
    }


@router.get("/repos/{owner}/{repo}/installation")
async def repo_installation(request: Request, owner: str, repo: str, app: AppDep) -> dict[str, Any]:
    if request.app.state.sim.github.repo(owner, repo) is None:
        raise UpstreamError(
            404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, github=True
        )
    return app.installation(_base(request))


@router.get("/orgs/{org}/installation")
async def org_installation(request: Request, org: str, app: AppDep) -> dict[str, Any]:
    if org.lower() != app.org.lower():
        raise UpstreamError(
            404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, github=True
        )
    return app.installation(_base(request))


@router.post("/app/installations/{installation_id}/access_tokens")
async def access_token(installation_id: int, app: AppDep) -> Response:
    if installation_id != app.installation_id:
        raise UpstreamError(
            404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, github=True
        )
    token, expires = app.issue()
    stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {
        "token": token,
        "expires_at": stamp,
        "permissions": PERMISSIONS,
        "repository_selection": "all",
    }
    return Response(dumps(payload), 201, media_type=GITHUB_JSON)
