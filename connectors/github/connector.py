"""`GitHubConnector`: the `Connector` protocol over GitHub REST (issues) and GraphQL (projects)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

import httpx

from connectors.base import Clock, ConnectorStats, FatalUpstreamError, Page, Sleep
from connectors.github import ids
from connectors.github.client import GitHubClient
from connectors.github.hooks import (
    ORG_EVENTS,
    REPO_EVENTS,
    delete_hook,
    ensure_hook,
    set_hook_secret,
)
from connectors.github.mapping import GitHubSettings
from connectors.github.projects import ProjectRef, ProjectsReader
from connectors.github.streams import IssuesStream
from connectors.http import RateLimitPolicy, RetryPolicy, utc_now

DEFAULT_MAX_WAIT_SECONDS = 15 * 60
# A repository answering these is gone from the scope (or from the token's reach).
SCOPE_GONE = frozenset({403, 404, 410})


class GitHubConnector:
    """Reads the issues and pull requests of the repositories in scope.

    Args:
        base_url: `https://api.github.com`, `https://HOST/api/v3`, or a simulator base.
        credentials: `{"token": ...}` (PAT or App installation token), or a GitHub App's
            `{"app_id", "private_key", "installation_id"?}` (the installation is otherwise
            looked up from the scope's first repository or its org).
        scope: `{"repos": ["o/r"], "org": "name", "projects": [{"owner", "owner_type", "number"}]}`.
        settings: mapping settings (see `GitHubSettings.from_dict`).
        client: an `httpx.AsyncClient` to use (not closed by `aclose`).
        sleep, clock: injectable for tests; all waits go through them.
        max_wait_seconds: the longest rate-limit wait before the run fails.
        remaining_floor_ratio: wait for the reset once remaining ≤ this share of the limit.
        retry: the retry policy for 5xx, timeouts and connection errors.

    Raises:
        ValueError: no token or App credentials, or an empty or malformed scope.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, Any],
        scope: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        remaining_floor_ratio: float = 0.1,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not (scope.get("repos") or scope.get("org") or scope.get("projects")):
            raise ValueError("GitHub scope needs 'repos', 'org' or 'projects'")
        self.stats = ConnectorStats()
        self.client = GitHubClient.for_source(
            base_url,
            credentials,
            scope,
            client=client,
            stats=self.stats,
            sleep=sleep,
            clock=clock,
            retry=retry,
            limits=RateLimitPolicy(
                max_wait_seconds=max_wait_seconds, remaining_floor_ratio=remaining_floor_ratio
            ),
        )
        self.settings = GitHubSettings.from_dict(settings)
        self.scope_repos = [str(r) for r in scope.get("repos") or []]
        self.scope_org = scope.get("org")
        self.projects = [ProjectRef.from_scope(p) for p in scope.get("projects") or []]
        self._repos: list[str] | None = None

    def __repr__(self) -> str:
        return f"GitHubConnector({self.client.base_url!r}, repos={self.scope_repos!r})"

    async def repos(self) -> list[str]:
        """The repositories in scope: the listed ones, then the org's (fetched once per run)."""
        if self._repos is None:
            repos = list(self.scope_repos)
            if self.scope_org:
                org_repos = await self.client.list_all(
                    f"/orgs/{self.scope_org}/repos", context=f"org {self.scope_org}"
                )
                repos += [r["full_name"] for r in org_repos if not r.get("archived")]
            self._repos = list(dict.fromkeys(repos))
        return self._repos

    async def check(self) -> dict[str, Any]:
        found = []
        for repo in await self.repos():
            info = await self.client.get_json(f"/repos/{repo}")
            found.append(
                {
                    "full_name": info.get("full_name", repo),
                    "private": info.get("private"),
                    "has_issues": info.get("has_issues"),
                    "permissions": info.get("permissions"),
                }
            )
        reader = ProjectsReader(self.client, self.settings)
        projects = [await reader.describe(ref) for ref in self.projects]
        return {
            "repos": found,
            "org": self.scope_org,
            "projects": [{"id": p["id"], "title": p["title"]} for p in projects],
        }

    async def milestones(self, repo: str) -> list[dict[str, Any]]:
        return await self.client.list_all(
            f"/repos/{repo}/milestones", {"state": "all"}, context=f"repo {repo}"
        )

    async def discover(self) -> dict[str, Any]:
        reader = ProjectsReader(self.client, self.settings)
        milestones = {}
        for repo in await self.repos():
            milestones[repo] = [
                {k: m.get(k) for k in ("number", "title", "state", "due_on")}
                for m in await self.milestones(repo)
            ]
        return {
            "projects": [await reader.describe(ref) for ref in self.projects],
            "milestones": milestones,
        }

    async def read(
        self, state: Mapping[str, dict[str, Any]], *, skip: Collection[str] = ()
    ) -> AsyncIterator[Page]:
        """Each repository's pages in turn. A repository that answers 403, 404 or 410 yields one
        `failed` page and the others are still read; any other error ends the read."""
        values = {}
        if self.projects:
            values = await ProjectsReader(self.client, self.settings).read_values(self.projects)
        for repo in await self.repos():
            stream = IssuesStream(self.client, repo, self.settings, values.get)
            if stream.partition in skip:
                continue
            try:
                async for page in stream.pages(state.get(stream.partition) or {}):
                    yield page
            except FatalUpstreamError as exc:
                if exc.status not in SCOPE_GONE:
                    raise
                yield Page(stream.partition, [], {}, failed=str(exc))

    async def live_external_ids(self) -> set[str]:
        """Id sweep over GraphQL (0 REST requests): per repository ceil(issues/100) +
        ceil(pull requests/100) queries."""
        found: set[str] = set()
        for repo in await self.repos():
            found |= await ids.live_ids(self.client, repo)
        return found

    async def confirm_gone(self, items: Sequence[tuple[str, str]]) -> set[str]:
        """Asks GraphQL after each item by number (100 per query, 0 REST requests).

        A full listing pages by offset: an issue updated during the listing moves to its end and
        the one after it slides onto a page already read, so an item the listing missed is not
        yet known to be gone. Items of repositories no longer in scope are gone from it.
        """
        repos = await self.repos()
        confirmed: set[str] = set()
        for repo in repos:
            asked = []
            for external_id, key in items:
                number = ids.number_of(key, repo)
                if number is not None:
                    asked.append((external_id, number, external_id.startswith("pr:")))
            if asked:
                confirmed |= await ids.gone(self.client, repo, asked)
        confirmed |= {
            external_id for external_id, key in items if key.partition("#")[0] not in repos
        }
        return confirmed

    async def register_webhooks(self, url: str, secret: str) -> list[dict[str, Any]]:
        """A repository hook on each repository in scope; with an org scope, also the org hook
        that carries `projects_v2_item` (GitHub sends those from org hooks only)."""
        hooks = [
            await ensure_hook(self.client, f"repo:{repo}", url, secret, REPO_EVENTS)
            for repo in await self.repos()
        ]
        if self.scope_org:
            target = f"org:{self.scope_org}"
            hooks.append(await ensure_hook(self.client, target, url, secret, ORG_EVENTS))
        return hooks

    async def set_webhook_secret(self, hooks: list[dict[str, Any]], secret: str) -> None:
        for hook in hooks:
            await set_hook_secret(self.client, hook, secret)

    async def unregister_webhooks(self, hooks: list[dict[str, Any]]) -> int:
        return sum([await delete_hook(self.client, hook) for hook in hooks])

    async def aclose(self) -> None:
        await self.client.aclose()
