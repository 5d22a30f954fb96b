"""`JiraConnector`: the Connector protocol for one Jira Cloud source.

Scope: `{"projects": ["KEY", ...], "jql": "user filter"}`. Settings read here:
`story_points_field`, `sprint_field`, `epic_link_field` (override discovery; once all three keys
are present, even as null for "none on this site", `read` skips `/field`), `overlap_minutes`
(default 2), `cancelled_resolutions`, `site_url` (browse links for OAuth sources).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import timedelta, tzinfo
from typing import Any

import httpx

from connectors.base import Clock, ConnectorStats, FatalUpstreamError, Page, Sleep
from connectors.http import HttpExecutor, RateLimitPolicy, build_client, utc_now
from connectors.jira import fields as field_discovery
from connectors.jira import jql as jql_builder
from connectors.jira.client import JiraRequests, build_executor, resolve_endpoint
from connectors.jira.hooks import JiraHooks
from connectors.jira.mapping import BASE_FIELDS, config_from_settings
from connectors.jira.streams import (
    SEARCH_PARTITION,
    IdSweepStream,
    SearchStream,
    cursor_from_state,
)

DEFAULT_MAX_WAIT_SECONDS = 15 * 60
PROBE_PAGE_SIZE = 50


class JiraConnector:
    """Reads issues of one Jira Cloud site within a scope.

    Args:
        base_url: the site (`https://acme.atlassian.net`) or any API root (a simulator).
        credentials: `email` + `api_token` (basic) or `oauth_token` + `cloud_id` (OAuth 2.0).
        scope: project keys and/or a JQL filter.
        settings: per-source settings (see the module docstring).
        client: an `httpx.AsyncClient` to send with; one is created (and closed) otherwise.
        sleep, clock: injectable for rate-limit waits and retries.
        max_wait_seconds: a longer requested wait fails the run with `RateLimitedError`.

    Raises (from the async methods): `FatalUpstreamError` (400 bad JQL, 401, 403, 404, 410, ...
    with Jira's `errorMessages`), `RateLimitedError`, `RetriesExhaustedError`.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, Any],
        scope: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        self.settings = dict(settings or {})
        self.scope = dict(scope or {})
        self.endpoint = resolve_endpoint(base_url, credentials, self.settings)
        # Fail on a bad scope at construction, before any request is spent.
        jql_builder.scope_clause(self.scope)
        self.stats = ConnectorStats()
        self._owns_client = client is None
        self._client = client or build_client()
        self._requests = JiraRequests(self._client, self.endpoint)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock: Clock = clock or utc_now
        self._limits = RateLimitPolicy(max_wait_seconds=max_wait_seconds)
        self._executor: HttpExecutor | None = None
        self._myself: dict[str, Any] | None = None
        self._discovery: dict[str, Any] | None = None

    def _http(self) -> HttpExecutor:
        # token_lock needs the running loop, so the executor is built on first use.
        if self._executor is None:
            self._executor = build_executor(
                self._client,
                self.endpoint,
                stats=self.stats,
                limits=self._limits,
                sleep=self._sleep,
                clock=self._clock,
            )
        return self._executor

    async def _get(self, request: httpx.Request) -> Any:
        return (await self._http().send(request)).data

    async def myself(self) -> dict[str, Any]:
        """`GET /myself`, once per connector: its `timeZone` governs JQL dates."""
        if self._myself is None:
            data = await self._get(self._requests.myself())
            if not isinstance(data, dict):
                raise FatalUpstreamError("GET /rest/api/3/myself: expected an object")
            self._myself = data
        return self._myself

    async def time_zone(self) -> tuple[tzinfo, timedelta, str | None]:
        name = (await self.myself()).get("timeZone")
        zone, extra = jql_builder.resolve_zone(name)
        return zone, extra, name

    async def check(self) -> dict[str, Any]:
        me = await self.myself()
        projects = []
        for key in jql_builder.project_keys(self.scope):
            data = await self._get(self._requests.project(key))
            projects.append(
                {
                    "key": data.get("key"),
                    "id": data.get("id"),
                    "name": data.get("name"),
                    "team_managed": bool(data.get("simplified")),
                }
            )
        return {
            "auth": self.endpoint.auth,
            "api_url": self.endpoint.api_url,
            "user": {
                "account_id": me.get("accountId"),
                "display_name": me.get("displayName"),
                "time_zone": me.get("timeZone"),
            },
            "projects": projects,
        }

    async def discover(self) -> dict[str, Any]:
        """Field choices (with reasons and candidates), the settings to store, the user's zone.

        Costs `/myself` and `/field` (each once per connector) plus, only when a role has
        several candidates, one small probe search over the scope.
        """
        if self._discovery is not None:
            return self._discovery
        _zone, extra, zone_name = await self.time_zone()
        site_fields = await self._get(self._requests.fields())
        if not isinstance(site_fields, list):
            raise FatalUpstreamError("GET /rest/api/3/field: expected a list")
        candidates = field_discovery.find_candidates(site_fields)
        undecided = {
            role: found
            for role, found in candidates.items()
            if not self.settings.get(field_discovery.SETTING_KEYS[role])
        }
        project_ids: set[str] = set()
        usage: dict[str, int] | None = None
        probe_ids = field_discovery.needs_probe(undecided, set())
        if probe_ids:
            request = self._requests.search(
                jql_builder.probe_jql(self.scope), [*probe_ids, "project"], PROBE_PAGE_SIZE
            )
            issues = (await self._get(request) or {}).get("issues") or []
            project_ids = field_discovery.project_ids_of(issues)
            usage = field_discovery.usage_from_issues(issues, probe_ids)
        choices = field_discovery.choose_fields(
            candidates, self.settings, project_ids=project_ids, usage=usage
        )
        self._discovery = {
            "fields": {role: choice.as_dict() for role, choice in choices.items()},
            "settings": {
                field_discovery.SETTING_KEYS[role]: choice.id for role, choice in choices.items()
            },
            "time_zone": zone_name,
            "time_zone_resolved": extra == timedelta(0),
            "writable_fields": field_discovery.writable_fields(site_fields),
        }
        return self._discovery

    async def _field_settings(self) -> dict[str, Any]:
        keys = field_discovery.SETTING_KEYS.values()
        if all(key in self.settings for key in keys):
            return {key: self.settings[key] for key in keys}
        return dict((await self.discover())["settings"])

    def _overlap(self) -> timedelta:
        minutes = self.settings.get("overlap_minutes")
        return (
            timedelta(minutes=float(minutes))
            if minutes is not None
            else jql_builder.DEFAULT_OVERLAP
        )

    async def read(
        self, state: Mapping[str, dict[str, Any]], *, skip: Collection[str] = ()
    ) -> AsyncIterator[Page]:
        """Pages of issues updated since the `search` checkpoint (everything when empty).

        A checkpoint taken mid-search carries its query and next page token: the search goes on
        from there, and starts afresh from the checkpoint's instant only if Jira refuses the token.
        """
        if SEARCH_PARTITION in skip:
            return
        partition = dict(state.get(SEARCH_PARTITION) or {})
        zone, extra, _name = await self.time_zone()
        field_ids = await self._field_settings()
        config = config_from_settings(
            {**self.settings, **field_ids}, site_url=self.endpoint.site_url
        )
        # `extra_fields`: ids the service also needs on every issue (the written custom field).
        needed = [str(x) for x in self.settings.get("extra_fields") or []]
        fields = jql_builder.join_fields(BASE_FIELDS, config.custom_fields(), needed)

        def stream(jql: str) -> SearchStream:
            return SearchStream(self._http(), self._requests, jql=jql, fields=fields, config=config)

        stored_jql = partition.get("jql")
        if partition.get("page_token") and isinstance(stored_jql, str):
            pages = stream(stored_jql).pages(partition)
            try:
                first = await anext(pages)
            except FatalUpstreamError as exc:
                if exc.status != 400:
                    raise
            else:
                yield first
                async for page in pages:
                    yield page
                return
            partition = {k: v for k, v in partition.items() if k not in ("page_token", "jql")}
        jql = jql_builder.incremental_jql(
            self.scope, cursor_from_state(partition), zone, self._overlap() + extra
        )
        async for page in stream(jql).pages(partition):
            yield page

    async def confirm_gone(self, items: Sequence[tuple[str, str]]) -> set[str]:
        """All of them: the search pages by a keyed token, so a complete listing is exact (an
        issue updated during the listing moves behind the token and is read again)."""
        return {external_id for external_id, _key in items}

    async def live_external_ids(self) -> set[str]:
        """Id sweep over the scope: ceil(N/5000) requests, or more if Jira pages smaller."""
        sweep = IdSweepStream(self._http(), self._requests, jql=jql_builder.sweep_jql(self.scope))
        return await sweep.collect()

    def _hooks(self) -> JiraHooks:
        if self.endpoint.auth != "basic":
            raise FatalUpstreamError(
                "registering Jira admin webhooks needs basic auth: the email and API token of a "
                "Jira administrator"
            )
        return JiraHooks(self._http(), self._requests, "portfolio-sync")

    async def register_webhooks(self, url: str, secret: str) -> list[dict[str, Any]]:
        """One admin webhook for the source, filtered by the scope as JQL."""
        return [await self._hooks().ensure(url, jql_builder.scope_clause(self.scope), secret)]

    async def set_webhook_secret(self, hooks: list[dict[str, Any]], secret: str) -> None:
        for hook in hooks:
            await self._hooks().set_secret(hook, secret)

    async def unregister_webhooks(self, hooks: list[dict[str, Any]]) -> int:
        return sum([await self._hooks().delete(hook) for hook in hooks])

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
