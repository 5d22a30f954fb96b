"""GitHub App authentication: an RS256 JWT for the App, exchanged for installation tokens.

The App signs a short JWT (`iat` 60 s in the past for clock drift, `exp` 9 minutes after now,
`iss` = the App id) and exchanges it at `POST /app/installations/{id}/access_tokens` for a
one-hour installation token. Tokens are cached per process (keyed by API base, App id and
installation) and replaced `REFRESH_MARGIN` before `expires_at`, or at once after a 401. The
rate-limit budget and the request lock belong to the installation, not to one token, so every
connector on the same installation shares them. Neither the key nor a token is ever put in a
message or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from connectors.base import Clock, FatalUpstreamError, RateLimitInfo
from connectors.http import HttpExecutor, token_lock

JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)
REFRESH_MARGIN = timedelta(minutes=5)
APP_CREDENTIALS = ("app_id", "private_key", "installation_id")


def check_private_key(pem: str) -> None:
    """Raise ValueError unless `pem` is an unencrypted PEM RSA private key (message has no key)."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("private_key is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("private_key must be an RSA key (GitHub Apps sign with RS256)")


def app_jwt(app_id: str, private_key: str, now: datetime) -> str:
    """The App's JWT: RS256, `iat` backdated for clock drift, `exp` within GitHub's 10 minutes."""
    claims = {
        "iat": int((now - JWT_BACKDATE).timestamp()),
        "exp": int((now + JWT_LIFETIME).timestamp()),
        "iss": str(app_id),
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


@dataclass(frozen=True)
class AppCredentials:
    """`app_id`, `private_key` (PEM) and, when known, `installation_id`."""

    app_id: str
    private_key: str
    installation_id: int | None = None

    @classmethod
    def from_mapping(cls, credentials: Mapping[str, Any]) -> AppCredentials | None:
        """None for a PAT; ValueError when App credentials are incomplete or malformed."""
        if not any(credentials.get(k) for k in APP_CREDENTIALS):
            return None
        app_id, key = credentials.get("app_id"), credentials.get("private_key")
        if not app_id or not key:
            raise ValueError("GitHub App credentials need 'app_id' and 'private_key'")
        installation = credentials.get("installation_id")
        if installation is not None and not str(installation).isdigit():
            raise ValueError("installation_id must be a positive integer")
        return cls(str(app_id), str(key), int(installation) if installation else None)

    @property
    def fingerprint(self) -> str:
        # Keys the cache without keeping the key itself in a dict key.
        return hashlib.sha256(f"{self.app_id}\0{self.private_key}".encode()).hexdigest()[:16]


@dataclass
class InstallationToken:
    token: str
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.expires_at - REFRESH_MARGIN


@dataclass
class _Installation:
    token: InstallationToken | None = None
    budget: dict[str, RateLimitInfo] | None = None
    exchanges: int = 0


# Per process: one entry per (API base, App, installation). Holds tokens (never persisted).
_INSTALLATIONS: dict[tuple[str, str, int], _Installation] = {}
_FOUND: dict[tuple[str, str, str], int] = {}
_LOCKS: dict[tuple[int, tuple[str, str, int]], asyncio.Lock] = {}


def forget_installations() -> None:
    """Drop every cached token and budget (tests; a key rotation in a long-lived process)."""
    _INSTALLATIONS.clear()
    _FOUND.clear()
    _LOCKS.clear()


def _parse_expiry(value: Any, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        # GitHub documents one hour; without a readable expiry, assume the shortest safe life.
        return now + REFRESH_MARGIN * 2


class AppAuth:
    """Installation tokens for one App installation, shared by a `GitHubClient`'s requests.

    Args:
        base_url: the API root the App lives on.
        credentials: the App id, key and (optional) installation id.
        owner_path: where to look the installation up when its id is not given
            (`/repos/{o}/{r}/installation`, `/orgs/{org}/installation`).
        executor: sends the App's own requests (JWT look-ups and exchanges); counted like any.
        clock: the current time; token freshness and JWT claims follow it.
    """

    def __init__(
        self,
        base_url: str,
        credentials: AppCredentials,
        owner_path: str | None,
        executor: HttpExecutor,
        clock: Clock,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.credentials = credentials
        self.owner_path = owner_path
        self.executor = executor
        self.clock = clock
        self._key: tuple[str, str, int] | None = None

    def _request(self, method: str, path: str, bearer: str) -> httpx.Request:
        headers = {**self.headers, "Authorization": f"Bearer {bearer}"}
        return self.executor.client.build_request(method, f"{self.base_url}{path}", headers=headers)

    def _jwt(self) -> str:
        return app_jwt(self.credentials.app_id, self.credentials.private_key, self.clock())

    async def installation_id(self) -> int:
        """The configured id, else the one GitHub names for the scope's repository or org."""
        if self.credentials.installation_id is not None:
            return self.credentials.installation_id
        if self.owner_path is None:
            raise ValueError("no installation_id and no repository or org to find it from")
        found_key = (self.base_url, self.credentials.fingerprint, self.owner_path)
        if found_key not in _FOUND:
            request = self._request("GET", self.owner_path, self._jwt())
            reply = await self.executor.send(request, context="GitHub App installation look-up")
            found = (reply.data or {}).get("id")
            if not isinstance(found, int):
                raise FatalUpstreamError(f"GET {self.owner_path}: the answer names no installation")
            _FOUND[found_key] = found
        return _FOUND[found_key]

    async def key(self) -> tuple[str, str, int]:
        if self._key is None:
            installation = await self.installation_id()
            self._key = (self.base_url, self.credentials.fingerprint, installation)
            _INSTALLATIONS.setdefault(self._key, _Installation())
        return self._key

    async def budget(self) -> dict[str, RateLimitInfo]:
        """The installation's rate-limit budget, shared by every client using it."""
        entry = _INSTALLATIONS[await self.key()]
        if entry.budget is None:
            entry.budget = {}
        return entry.budget

    async def lock(self) -> asyncio.Lock:
        key = await self.key()
        return token_lock(f"github-app:{key[0]}:{key[1]}:{key[2]}")

    async def token(self, *, stale: str | None = None) -> str:
        """A fresh installation token; `stale` (a token answered 401) is never handed out again."""
        key = await self.key()
        loop_key = (id(asyncio.get_running_loop()), key)
        lock = _LOCKS.setdefault(loop_key, asyncio.Lock())
        async with lock:
            entry = _INSTALLATIONS[key]
            current = entry.token
            if current is not None and current.token != stale and current.fresh(self.clock()):
                return current.token
            try:
                entry.token = await self._exchange(key[2])
            except FatalUpstreamError as exc:
                if exc.status == 404 and self.owner_path is not None:
                    # Uninstalled or reinstalled: look the installation up again next time.
                    _FOUND.pop((self.base_url, self.credentials.fingerprint, self.owner_path), None)
                raise
            entry.exchanges += 1
            return entry.token.token

    async def _exchange(self, installation: int) -> InstallationToken:
        path = f"/app/installations/{installation}/access_tokens"
        request = self._request("POST", path, self._jwt())
        reply = await self.executor.send(request, context="GitHub App token exchange")
        data = reply.data or {}
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise FatalUpstreamError(f"POST {path}: the answer holds no token")
        return InstallationToken(token, _parse_expiry(data.get("expires_at"), self.clock()))


def exchanges(base_url: str, credentials: AppCredentials, installation: int) -> int:
    """How many tokens this process exchanged for an installation (metrics, tests)."""
    entry = _INSTALLATIONS.get((base_url.rstrip("/"), credentials.fingerprint, installation))
    return entry.exchanges if entry else 0


def app_or_token(
    credentials: Mapping[str, Any], scope: Mapping[str, Any]
) -> tuple[AppCredentials | None, str]:
    """GitHub App credentials (checked) or a PAT; the token is empty for an App.

    Raises:
        ValueError: neither, a malformed key, or an App without an installation to find.
    """
    app = AppCredentials.from_mapping(credentials)
    token = credentials.get("token")
    if app is not None:
        check_private_key(app.private_key)
        if app.installation_id is None and owner_path(scope) is None:
            raise ValueError("GitHub App credentials need 'installation_id' for this scope")
    elif not token:
        raise ValueError("GitHub credentials need a 'token' or GitHub App credentials")
    return app, str(token or "")


def owner_path(scope: Mapping[str, Any]) -> str | None:
    """Where the scope's installation is found: the first repository, else the org."""
    repos = scope.get("repos") or []
    if repos:
        return f"/repos/{repos[0]}/installation"
    if scope.get("org"):
        return f"/orgs/{scope['org']}/installation"
    for project in scope.get("projects") or []:
        owner = project.get("owner")
        if owner:
            kind = "users" if project.get("owner_type") == "user" else "orgs"
            return f"/{kind}/{owner}/installation"
    return None
