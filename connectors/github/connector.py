"""`GitHubConnector`: the `Connector` protocol over GitHub REST (issues) and GraphQL (projects)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from connectors.base import Clock, ConnectorStats, Page, Sleep
from connectors.github.client import GitHubClient, token_of
from connectors.github.mapping import GitHubSettings, external_id_for
from connectors.github.projects import ProjectRef, ProjectsReader
from connectors.github.streams import IssuesStream, issues_query
from connectors.http import RateLimitPolicy, RetryPolicy, utc_now

DEFAULT_MAX_WAIT_SECONDS = 15 * 60


class GitHubConnector:
    """Reads the issues and pull requests of the repositories in scope.

    Args:
        base_url: `https://api.github.com`, `https://HOST/api/v3`, or a simulator base.
        credentials: `{"token": ...}` (PAT or App installation token).
        scope: `{"repos": ["o/r"], "org": "name", "projects": [{"owner", "owner_type", "number"}]}`.
        settings: mapping settings (see `GitHubSettings.from_dict`).
        client: an `httpx.AsyncClient` to use (not closed by `aclose`).
        sleep, clock: injectable for tests; all waits go through them.
        max_wait_seconds: the longest rate-limit wait before the run fails.
        remaining_floor_ratio: wait for the reset once remaining ≤ this share of the limit.
        retry: the retry policy for 5xx, timeouts and connection errors.

    Raises:
        ValueError: no token, or an empty or malformed scope.
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
        token = token_of(credentials)
        if not (scope.get("repos") or scope.get("org") or scope.get("projects")):
            raise ValueError("GitHub scope needs 'repos', 'org' or 'projects'")
        self.stats = ConnectorStats()
        self.client = GitHubClient(
            base_url,
            token,
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

    async def read(self, state: Mapping[str, dict[str, Any]]) -> AsyncIterator[Page]:
        values = {}
        if self.projects:
            values = await ProjectsReader(self.client, self.settings).read_values(self.projects)
        for repo in await self.repos():
            stream = IssuesStream(self.client, repo, self.settings, values.get)
            async for page in stream.pages(state.get(stream.partition) or {}):
                yield page

    async def live_external_ids(self) -> set[str]:
        ids: set[str] = set()
        for repo in await self.repos():
            params = {k: v for k, v in issues_query(None).items() if k in ("state", "per_page")}
            async for page in self.client.iter_pages(
                f"/repos/{repo}/issues", params, context=f"repo {repo}"
            ):
                ids.update(external_id_for(record, repo) for record in page)
        return ids

    async def aclose(self) -> None:
        await self.client.aclose()
