"""The repository issues stream (issues and pull requests), incremental with ETags.

Checkpoint per partition `issues:<owner>/<repo>`:

- `since`: the `since` the next poll's first page is sent with (ISO Z), or absent (from the
  start). After a page that has a next page it becomes the largest `updated_at` read so far, so a
  crashed run re-reads at most one page (GitHub's `since` is inclusive: boundary items are read
  twice; the upsert is idempotent).
- `etag` / `etag_query`: the ETag of the response to the first-page query `etag_query`. It is
  sent as `If-None-Match` only when the next first-page query is exactly that query.

An ETag can only be known for a query that was sent. So when a run is a single page, the
checkpoint keeps that page's `since` together with its ETag: the next idle poll repeats the exact
query and gets a 304 (one request, no quota). When a run spans several pages, `since` advances to
the largest `updated_at` and no ETag is kept; the next poll is then one 200 re-reading the
boundary item(s), whose ETag makes every following idle poll a 304.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.base import Page
from connectors.github.client import PER_PAGE, GitHubClient
from connectors.github.mapping import (
    GitHubSettings,
    ProjectValues,
    map_issue,
    project_lookup_key,
)
from connectors.http import Reply
from connectors.pagination import LinkHeaderPaginator, Paginator
from connectors.stream import Stream, records_list
from schemas.work_item import WorkItemIn

ProjectLookup = Callable[[str], ProjectValues | None]


def issues_partition(repo: str) -> str:
    return f"issues:{repo}"


def issues_query(since: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": PER_PAGE,
    }
    if since:
        params["since"] = since
    return params


class IssuesStream(Stream):
    """`GET /repos/{owner}/{repo}/issues` sorted by `updated` ascending, from `since`.

    Args:
        client: the GitHub client (its executor applies the HTTP policy).
        repo: `owner/repo`.
        settings: parsed mapping settings.
        project_values: lookup of Projects v2 values by `project_lookup_key`.
    """

    def __init__(
        self,
        client: GitHubClient,
        repo: str,
        settings: GitHubSettings,
        project_values: ProjectLookup | None = None,
    ) -> None:
        super().__init__(client.executor, issues_partition(repo), context=f"repo {repo}")
        self.client = client
        self.repo = repo
        self.settings = settings
        self.project_values = project_values or (lambda _key: None)

    @property
    def path(self) -> str:
        return f"/repos/{self.repo}/issues"

    def make_paginator(self) -> Paginator:
        return LinkHeaderPaginator()

    def first_page_query(self, state: Mapping[str, Any]) -> str:
        return urlencode(issues_query(state.get("since")))

    def build_request(self, state: Mapping[str, Any], token: str | None) -> httpx.Request:
        if token is not None:
            return self.client.request("GET", token)
        headers = {}
        if state.get("etag") and state.get("etag_query") == self.first_page_query(state):
            headers["If-None-Match"] = state["etag"]
        return self.client.request(
            "GET", self.path, params=issues_query(state.get("since")), headers=headers
        )

    def parse_records(self, reply: Reply) -> list[dict[str, Any]]:
        return records_list(reply)

    def map_record(self, record: dict[str, Any]) -> WorkItemIn | None:
        values = self.project_values(project_lookup_key(self.repo, record["number"]))
        return map_issue(record, self.settings, repo=self.repo, project=values)

    def next_state(
        self,
        state: Mapping[str, Any],
        *,
        reply: Reply,
        records: list[dict[str, Any]],
        first_page: bool,
        last_page: bool,
    ) -> dict[str, Any]:
        if first_page and last_page:
            etag = reply.headers.get("etag")
            new = {"since": state.get("since"), "etag": etag, "etag_query": None}
            if etag:
                new["etag_query"] = self.first_page_query(state)
            return {k: v for k, v in new.items() if v is not None}
        # GitHub's ISO Z timestamps share one format, so they compare correctly as strings.
        seen = [state.get("since"), *(r.get("updated_at") for r in records)]
        since = max(filter(None, seen), default=None)
        return {"since": since} if since else {}

    def refine(self, page: Page) -> Page:
        # `since` is inclusive, so resuming from this page's newest `updated_at` re-reads its
        # boundary item(s) and can spill one item onto an extra page. Everything not yet read
        # was updated at or after the next page's first item; when that instant is strictly
        # later than this page's newest, it is an exact resume point.
        newest = page.state.get("since")

        def tighter(following: Page) -> dict[str, Any]:
            head = following.head
            if isinstance(head, str) and isinstance(newest, str) and head > newest:
                return {**page.state, "since": head}
            return page.state

        page.refine = tighter
        return page

    def head_of(self, records: list[dict[str, Any]]) -> Any:
        return records[0].get("updated_at") if records else None

    async def send(self, request: httpx.Request) -> Reply:
        return await self.client.send(request, context=self.context)
