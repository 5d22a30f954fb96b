"""Async GitHub REST/GraphQL client: base URLs, headers, classification, listing helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from connectors.base import Clock, ConnectorStats, FatalUpstreamError, RateLimitInfo, Sleep
from connectors.github.app import AppAuth, AppCredentials, app_or_token, owner_path
from connectors.http import (
    Classification,
    HttpExecutor,
    Outcome,
    RateLimitPolicy,
    Reply,
    ResponseClassifier,
    RetryPolicy,
    build_client,
    describe_request,
    parse_reset,
    token_lock,
    upstream_message,
    utc_now,
)
from connectors.pagination import LinkHeaderPaginator

API_VERSION = "2022-11-28"
PER_PAGE = 100
SECONDARY_LIMIT_BACKOFF_SECONDS = 60.0

_FATAL_HINTS = {
    401: "bad or expired token",
    403: "forbidden for this token",
    404: "missing, or not visible to this token",
    410: "gone (deleted)",
    422: "validation failed",
}


# Request extension: nested NOT_FOUND errors in a GraphQL answer are expected (see `graphql`).
PARTIAL_NOT_FOUND = "portfolio_sync_partial_not_found"


def _user_agent() -> str:
    try:
        return f"portfolio-sync/{version('portfolio-sync')}"
    except PackageNotFoundError:
        return "portfolio-sync/dev"


def graphql_url(base_url: str) -> str:
    """`https://api.github.com/graphql`; GHES `https://HOST/api/graphql`; else `{base}/graphql`."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    if parts.path == "/api/v3":
        return urlunsplit((parts.scheme, parts.netloc, "/api/graphql", "", ""))
    return f"{base}/graphql"


class GitHubClassifier(ResponseClassifier):
    """GitHub primary and secondary rate limits, and fatal messages with GitHub's `message`."""

    def resource_for(self, request: httpx.Request) -> str:
        return "graphql" if request.url.path.endswith("/graphql") else "core"

    def classify(self, response: httpx.Response, now: datetime) -> Classification:
        if response.status_code in (403, 429):
            limited = self._rate_limit(response, now)
            if limited is not None:
                return limited
        return super().classify(response, now)

    def _rate_limit(self, response: httpx.Response, now: datetime) -> Classification | None:
        headers = response.headers
        message = f"HTTP {response.status_code} {upstream_message(response)}"
        if "retry-after" in headers:
            return self.rate_limited(response, now)
        if headers.get("x-ratelimit-remaining") == "0":
            reset_at = parse_reset(headers.get("x-ratelimit-reset"))
            wait = max(0.0, (reset_at - now).total_seconds()) if reset_at else None
            if wait is not None:
                return Classification(Outcome.rate_limited, message, wait_seconds=wait + 1.0)
        if "secondary rate limit" in message.casefold() or response.status_code == 429:
            return Classification(
                Outcome.rate_limited, message, backoff_seconds=SECONDARY_LIMIT_BACKOFF_SECONDS
            )
        return None

    def fatal_message(self, response: httpx.Response) -> str:
        status = response.status_code
        hint = _FATAL_HINTS.get(status, "request refused")
        detail = upstream_message(response)
        if status == 422:
            try:
                errors = response.json().get("errors")
            except (ValueError, AttributeError):
                errors = None
            if errors:
                detail = f"{detail} {errors}"
        return f"{describe_request(response.request)} -> HTTP {status} ({hint}): {detail}"

    def classify_body(
        self, response: httpx.Response, data: Any, now: datetime
    ) -> Classification | None:
        if not response.request.url.path.endswith("/graphql") or not isinstance(data, dict):
            return None
        errors = data.get("errors") or []
        if not errors:
            return None
        if response.request.extensions.get(PARTIAL_NOT_FOUND) and all(
            _nested_not_found(e) for e in errors
        ):
            return None  # the caller asked after things that may be gone: null means gone
        # GraphQL reports an exhausted primary budget as HTTP 200 with a RATE_LIMITED error.
        if any(e.get("type") == "RATE_LIMITED" for e in errors if isinstance(e, dict)):
            reset_at = parse_reset(response.headers.get("x-ratelimit-reset"))
            if reset_at is not None:
                wait = max(0.0, (reset_at - now).total_seconds()) + 1.0
                return Classification(Outcome.rate_limited, "GraphQL RATE_LIMITED", wait)
            return Classification(
                Outcome.rate_limited,
                "GraphQL RATE_LIMITED",
                backoff_seconds=SECONDARY_LIMIT_BACKOFF_SECONDS,
            )
        text = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        return Classification(Outcome.fatal, f"POST {response.request.url.path}: {text}")


def _nested_not_found(error: Any) -> bool:
    """A NOT_FOUND below the top-level field (e.g. one aliased issue of a repository)."""
    return (
        isinstance(error, dict)
        and error.get("type") == "NOT_FOUND"
        and isinstance(error.get("path"), list)
        and len(error["path"]) >= 2
    )


class GitHubClient:
    """GitHub over one `httpx.AsyncClient`; every request goes through one `HttpExecutor`.

    Args:
        base_url: `https://api.github.com`, `https://HOST/api/v3`, or a simulator base.
        token: PAT or App installation token, sent as `Authorization: Bearer`; never logged.
        app: GitHub App credentials instead of a token: installation tokens are exchanged,
            cached and refreshed by `AppAuth` (once more after a 401).
        app_owner_path: where the App's installation is looked up when its id is not given.
        client: an existing client (tests, shared pools); its base URL is not relied upon.
        stats, sleep, clock, retry, limits: passed to the `HttpExecutor`.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        client: httpx.AsyncClient | None = None,
        stats: ConnectorStats | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        retry: RetryPolicy | None = None,
        limits: RateLimitPolicy | None = None,
        app: AppCredentials | None = None,
        app_owner_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.graphql_url = graphql_url(self.base_url)
        self._owns_client = client is None
        self._http = client or build_client()
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": _user_agent(),
        }
        self._token = token
        self._lock_bound = False
        self.executor = HttpExecutor(
            self._http,
            GitHubClassifier(),
            stats=stats,
            retry=retry,
            limits=limits,
            sleep=sleep,
            clock=clock,
        )
        self.app: AppAuth | None = None
        if app is not None:
            # The App's own requests (look-up, exchange) are counted with the client's.
            app_executor = HttpExecutor(
                self._http,
                GitHubClassifier(),
                stats=self.executor.stats,
                retry=retry,
                limits=limits,
                sleep=sleep,
                clock=clock,
            )
            self.app = AppAuth(
                self.base_url, app, app_owner_path, app_executor, clock, headers=self._headers
            )

    @property
    def identity(self) -> str:
        """Whose quota this client spends: the PAT, or the App (all its installation tokens)."""
        return f"app:{self.app.credentials.fingerprint}" if self.app is not None else self._token

    @classmethod
    def for_source(
        cls,
        base_url: str,
        credentials: Mapping[str, Any],
        scope: Mapping[str, Any],
        **options: Any,
    ) -> GitHubClient:
        """A client for a source's credentials: its PAT, or its GitHub App's installation
        (found from the scope unless the credentials name it). `options` as for the class.

        Raises:
            ValueError: neither a token nor complete App credentials.
        """
        app, token = app_or_token(credentials, scope)
        return cls(base_url, token, app=app, app_owner_path=owner_path(scope), **options)

    @property
    def stats(self) -> ConnectorStats:
        return self.executor.stats

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Request:
        """Paths are relative to the base URL; absolute URLs (from `Link`) are sent as given."""
        absolute = path_or_url.startswith(("http://", "https://"))
        url = path_or_url if absolute else f"{self.base_url}/{path_or_url.lstrip('/')}"
        return self._http.build_request(
            method, url, params=params, headers={**self._headers, **(headers or {})}, json=json
        )

    async def _bind(self) -> None:
        # Bound at first use: the shared lock belongs to the running event loop, and an App's
        # installation (which keys its lock and budget) may first have to be looked up.
        if self.app is not None:
            self.executor.lock = await self.app.lock()
            self.executor.stats.rate_limit = await self.app.budget()
        else:
            self.executor.lock = token_lock(self._token)
        self._lock_bound = True

    async def send(self, request: httpx.Request, *, context: str | None = None) -> Reply:
        if not self._lock_bound:
            await self._bind()
        if self.app is None:
            request.headers["Authorization"] = f"Bearer {self._token}"
            return await self.executor.send(request, context=context)
        token = await self.app.token()
        request.headers["Authorization"] = f"Bearer {token}"
        try:
            return await self.executor.send(request, context=context)
        except FatalUpstreamError as exc:
            if exc.status != 401:
                raise
        # The token expired or was revoked early: exchange a new one and try exactly once more.
        request.headers["Authorization"] = f"Bearer {await self.app.token(stale=token)}"
        return await self.executor.send(request, context=context)

    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.send(self.request("GET", path, params=params), context=path)).data

    async def iter_pages(
        self, path: str, params: Mapping[str, Any], *, context: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a Link-paginated list, following `rel="next"` as given."""
        paginator = LinkHeaderPaginator()
        request = self.request("GET", path, params=params)
        while True:
            reply = await self.send(request, context=context)
            if not isinstance(reply.data, list):
                raise FatalUpstreamError(f"{context}: GET {path} did not return a list")
            yield reply.data
            token = paginator.next_token(reply)
            if token is None:
                return
            request = self.request("GET", token)

    async def list_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, context: str
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        async for page in self.iter_pages(
            path, {"per_page": PER_PAGE, **(params or {})}, context=context
        ):
            records.extend(page)
        return records

    async def graphql(
        self,
        query: str,
        variables: Mapping[str, Any],
        *,
        context: str,
        partial_not_found: bool = False,
    ) -> Any:
        """Run one query; its `rateLimit` (if selected) updates the `graphql` budget.

        With `partial_not_found`, NOT_FOUND errors on nested fields are not failures: the
        fields come back null (how a query over possibly deleted issues learns which are gone).
        """
        request = self.request(
            "POST", self.graphql_url, json={"query": query, "variables": variables}
        )
        if partial_not_found:
            request.extensions[PARTIAL_NOT_FOUND] = True
        data = (await self.send(request, context=context)).data or {}
        budget = (data.get("data") or {}).get("rateLimit")
        if budget:
            self.executor.note_rate_limit(
                RateLimitInfo(
                    resource="graphql",
                    remaining=budget.get("remaining"),
                    limit=budget.get("limit"),
                    reset_at=parse_reset(budget.get("resetAt")),
                )
            )
        return data.get("data") or {}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()
