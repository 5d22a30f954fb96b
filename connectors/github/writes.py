"""GitHub label writes: add one label, remove one label, create a repository label.

`POST /repos/{o}/{r}/issues/{n}/labels` adds, `DELETE .../labels/{name}` removes one (404 when
it is already gone, which is what we wanted), `POST /repos/{o}/{r}/labels` creates a label (422
when it exists). `PUT` (replace the set) is never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base import Clock, ConnectorStats, FatalUpstreamError, Sleep
from connectors.github.client import GitHubClient
from connectors.github.project_writes import ProjectFieldWriter
from connectors.github.projects import ProjectRef
from connectors.http import RateLimitPolicy, RetryPolicy, utc_now
from connectors.writes import DEFAULT_MIN_WRITE_INTERVAL_SECONDS, WritePacer


def split_key(key: str) -> tuple[str, int]:
    """`owner/repo#12` → (`owner/repo`, 12)."""
    repo, _, number = key.rpartition("#")
    if not repo or "/" not in repo or not number.isdigit():
        raise FatalUpstreamError(f"{key!r} is not a GitHub issue key (owner/repo#number)")
    return repo, int(number)


class GitHubLabelWriter:
    """Label writes with the shared HTTP policy, paced per token (`min_interval` seconds).

    Credentials are a PAT (`token`) or GitHub App credentials, as for `GitHubConnector`; an
    App without `installation_id` finds its installation from the `scope` (first repository,
    else the org or a project's owner).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, Any],
        *,
        scope: Mapping[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        max_wait_seconds: float = 15 * 60,
        min_interval: float = DEFAULT_MIN_WRITE_INTERVAL_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        scope = scope or {}
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
            limits=RateLimitPolicy(max_wait_seconds=max_wait_seconds),
        )
        # Writes are paced per identity: the PAT, or the App (all its installation tokens).
        self.pacer = WritePacer(
            self.client.identity, min_interval=min_interval, clock=clock, sleep=sleep
        )
        self.projects = ProjectFieldWriter(self.client, self.pacer)

    def __repr__(self) -> str:
        return f"GitHubLabelWriter({self.client.base_url!r})"

    async def _write(self, method: str, path: str, *, json: Any = None, ok: int = 0) -> bool:
        """One paced write; False when the upstream answered `ok` (an expected refusal)."""
        async with self.pacer:
            try:
                await self.client.send(self.client.request(method, path, json=json), context=path)
            except FatalUpstreamError as exc:
                if ok and exc.status == ok:
                    return False
                raise
        return True

    async def ensure_label(self, key: str, name: str, color: str) -> bool:
        repo, _ = split_key(key)
        return await self._write(
            "POST", f"/repos/{repo}/labels", json={"name": name, "color": color}, ok=422
        )

    async def change_labels(self, key: str, add: Sequence[str], remove: Sequence[str]) -> None:
        repo, number = split_key(key)
        for name in remove:
            await self._write(
                "DELETE", f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}", ok=404
            )
        for name in add:
            await self._write(
                "POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": [name]}
            )

    async def set_project_field(
        self, key: str, project: ProjectRef, field: str, value: str | None
    ) -> bool:
        """Set (or, with None, clear) the Projects v2 field `field` of `key`'s item; False
        when the issue is not on the project (nothing to write)."""
        return await self.projects.write(project, field, key, value)

    async def aclose(self) -> None:
        await self.client.aclose()
