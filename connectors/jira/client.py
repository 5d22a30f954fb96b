"""Jira Cloud HTTP access: authentication, the only endpoints this connector calls, and the
Jira-specific response classification plugged into the shared `HttpExecutor`.

The legacy `/rest/api/3/search` endpoint is gone (410 since 2025). Requests are built only by
`JiraRequests`, whose methods use fixed paths, so there is no way to call it from here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from connectors.base import Clock, ConnectorError, ConnectorStats, RateLimitInfo, Sleep
from connectors.http import (
    HttpExecutor,
    RateLimitPolicy,
    ResponseClassifier,
    RetryPolicy,
    token_lock,
    utc_now,
)

API = "/rest/api/3"
MYSELF_PATH = f"{API}/myself"
FIELD_PATH = f"{API}/field"
SEARCH_JQL_PATH = f"{API}/search/jql"
PROJECT_PATH = f"{API}/project/{{key}}"
WEBHOOKS_PATH = "/rest/webhooks/1.0/webhook"
ISSUE_PATH = f"{API}/issue/{{key}}"

OAUTH_GATEWAY = "https://api.atlassian.com"
NEAR_LIMIT_PAUSE_SECONDS = 1.0


class JiraCredentialsError(ConnectorError, ValueError):
    """The credentials dict has neither email + api_token nor oauth_token + cloud_id."""


@dataclass(frozen=True)
class JiraEndpoint:
    """Where and how to call Jira. `site_url` is the human-facing site, if known."""

    api_url: str
    headers: dict[str, str]
    auth: str
    identity: str
    site_url: str | None

    def __repr__(self) -> str:
        # Headers carry the secret; keep them out of reprs, logs and tracebacks.
        return f"JiraEndpoint(api_url={self.api_url!r}, auth={self.auth!r})"


def _normalise_site(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    if "://" not in url:
        # A bare site name ("acme") means acme.atlassian.net.
        url = f"https://{url}" if "." in url or ":" in url else f"https://{url}.atlassian.net"
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def resolve_endpoint(
    base_url: str, credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None
) -> JiraEndpoint:
    """Basic auth against the site (or any base URL, e.g. a simulator) or OAuth 2.0 bearer
    against `https://api.atlassian.com/ex/jira/{cloud_id}`.

    Raises:
        JiraCredentialsError: the credentials are incomplete (the message names no secret).
    """
    settings = settings or {}
    configured_site = settings.get("site_url") or None
    if credentials.get("oauth_token") and credentials.get("cloud_id"):
        token = str(credentials["oauth_token"])
        cloud_id = quote(str(credentials["cloud_id"]), safe="")
        base = _normalise_site(base_url) if base_url else ""
        host = urlsplit(base).hostname or ""
        if not base or host.endswith(".atlassian.net"):
            # A site URL given with OAuth credentials still means the API gateway.
            api_url = f"{OAUTH_GATEWAY}/ex/jira/{cloud_id}"
            site = configured_site or (base or None)
        else:
            # An explicit gateway, proxy or simulator URL is used as the API root.
            api_url = base
            site = configured_site or base
        return JiraEndpoint(
            api_url=api_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            auth="oauth",
            identity=f"jira-oauth:{cloud_id}:{token}",
            site_url=site,
        )
    if credentials.get("email") and credentials.get("api_token"):
        if not base_url:
            raise JiraCredentialsError("Jira basic auth needs the site base URL")
        api_url = _normalise_site(base_url)
        pair = f"{credentials['email']}:{credentials['api_token']}".encode()
        return JiraEndpoint(
            api_url=api_url,
            headers={
                "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
                "Accept": "application/json",
            },
            auth="basic",
            identity=f"jira-basic:{api_url}:{pair.decode()}",
            site_url=configured_site or _origin(api_url),
        )
    raise JiraCredentialsError(
        "Jira credentials need `email` and `api_token`, or `oauth_token` and `cloud_id`"
    )


class JiraRequests:
    """Builds the requests this connector sends; one method per endpoint, fixed paths only."""

    def __init__(self, client: httpx.AsyncClient, endpoint: JiraEndpoint) -> None:
        self._client = client
        self._endpoint = endpoint

    def _build(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        url = self._endpoint.api_url + path
        return self._client.build_request(method, url, headers=self._endpoint.headers, **kwargs)

    def myself(self) -> httpx.Request:
        return self._build("GET", MYSELF_PATH)

    def admin_webhook(
        self, method: str, hook_id: int | None = None, json: Any = None
    ) -> httpx.Request:
        """`/rest/webhooks/1.0/webhook[/{id}]` (admin webhooks; needs a Jira administrator)."""
        path = WEBHOOKS_PATH if hook_id is None else f"{WEBHOOKS_PATH}/{int(hook_id)}"
        return self._build(method, path, json=json)

    def fields(self) -> httpx.Request:
        return self._build("GET", FIELD_PATH)

    def project(self, key: str) -> httpx.Request:
        return self._build("GET", PROJECT_PATH.format(key=quote(key, safe="")))

    def edit_issue(self, key: str, body: dict[str, Any]) -> httpx.Request:
        """`PUT /issue/{key}`: `update` operations or `fields`; 204 without a body."""
        return self._build("PUT", ISSUE_PATH.format(key=quote(key, safe="")), json=body)

    def set_property(self, key: str, name: str, value: Any) -> httpx.Request:
        """`PUT /issue/{key}/properties/{name}`: 201 created, 200 updated."""
        path = ISSUE_PATH.format(key=quote(key, safe="")) + f"/properties/{quote(name, safe='')}"
        return self._build("PUT", path, json=value)

    def search(
        self, jql: str, fields: list[str], max_results: int, token: str | None = None
    ) -> httpx.Request:
        body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": max_results}
        if token:
            body["nextPageToken"] = token
        return self._build("POST", SEARCH_JQL_PATH, json=body)


def build_executor(
    client: httpx.AsyncClient,
    endpoint: JiraEndpoint,
    *,
    stats: ConnectorStats,
    limits: RateLimitPolicy,
    sleep: Sleep,
    clock: Clock,
    retry: RetryPolicy | None = None,
) -> HttpExecutor:
    """The shared HTTP policy with Jira's classifier, serial per credential (call in a loop)."""
    return HttpExecutor(
        client,
        JiraClassifier(clock=clock),
        stats=stats,
        retry=retry,
        limits=limits,
        sleep=sleep,
        clock=clock,
        lock=token_lock(endpoint.identity),
    )


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


class JiraClassifier(ResponseClassifier):
    """Jira's rate-limit headers on top of the shared defaults.

    The shared classifier already waits `Retry-After` (or until an ISO `X-RateLimit-Reset`) on 429
    and on 503 with `Retry-After`, and renders `errorMessages`/`errors` for fatal 4xx. Jira adds
    `X-RateLimit-NearLimit: true` (under 20% of the budget left, also as `X-Beta-...`): it is
    reported as an exhausted budget that resets after a short pause, so the executor's
    before-send wait slows the next request down without failing anything.
    """

    default_backoff_seconds = 30.0

    def __init__(
        self, *, clock: Clock = utc_now, near_limit_pause: float = NEAR_LIMIT_PAUSE_SECONDS
    ) -> None:
        self.clock = clock
        self.near_limit_pause = near_limit_pause

    def rate_limit_info(self, response: httpx.Response) -> RateLimitInfo | None:
        headers = response.headers
        near = _is_true(headers.get("x-ratelimit-nearlimit")) or _is_true(
            headers.get("x-beta-ratelimit-nearlimit")
        )
        info = super().rate_limit_info(response)
        if response.status_code in (429, 503):
            # The classification already waits for this response; a stored "remaining 0" would
            # make the executor wait a second time for the same limit before the retry.
            if info is not None:
                info = RateLimitInfo(info.resource, info.limit, None, info.reset_at)
            return info
        if near:
            resume_at: datetime = self.clock() + timedelta(seconds=self.near_limit_pause)
            limit = info.limit if info else None
            return RateLimitInfo(resource="default", limit=limit, remaining=0, reset_at=resume_at)
        return info
