"""The Jira search streams on the shared `Stream` loop: incremental issues and the id sweep.

Partition `search` checkpoints `{"updated": "<max updated seen, ISO UTC>"}` after every page,
plus, while pages remain, the query and the `nextPageToken` of the next page. Results are sorted
`updated ASC, key ASC`, so everything before that instant has been delivered. A resumed run
continues the same query from the stored token (it re-lists nothing); when Jira no longer
accepts the token (it expires after 7 days), it starts a fresh search from the instant minus the
overlap, re-reading about a page, which the idempotent upsert absorbs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.http import HttpExecutor, Reply
from connectors.jira.client import JiraRequests
from connectors.jira.mapping import MappingConfig, map_issue, parse_jira_datetime
from connectors.pagination import BodyTokenPaginator, Paginator
from connectors.stream import Stream, records_list
from schemas.work_item import WorkItemIn

SEARCH_PARTITION = "search"
SWEEP_PARTITION = "sweep"
SEARCH_PAGE_SIZE = 100
# Jira serves up to 5000 per page when only ids are requested; it may choose fewer.
SWEEP_PAGE_SIZE = 5000


def cursor_from_state(state: Mapping[str, Any]) -> datetime | None:
    value = state.get("updated")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cursor_to_state(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SearchStream(Stream):
    """Issues matching `jql` (built once: page tokens belong to one query)."""

    def __init__(
        self,
        executor: HttpExecutor,
        requests: JiraRequests,
        *,
        jql: str,
        fields: list[str],
        config: MappingConfig,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> None:
        super().__init__(executor, SEARCH_PARTITION)
        self.requests = requests
        self.jql = jql
        self.fields = fields
        self.config = config
        self.page_size = page_size

    def make_paginator(self) -> Paginator:
        return BodyTokenPaginator("nextPageToken", "isLast")

    def build_request(self, state: Mapping[str, Any], token: str | None) -> httpx.Request:
        return self.requests.search(self.jql, self.fields, self.page_size, token)

    def resume_token(self, state: Mapping[str, Any]) -> str | None:
        token = state.get("page_token")
        return token if isinstance(token, str) and state.get("jql") == self.jql else None

    def parse_records(self, reply: Reply) -> list[dict[str, Any]]:
        return records_list(reply, "issues")

    def map_record(self, record: dict[str, Any]) -> WorkItemIn | None:
        return map_issue(record, self.config)

    def next_state(
        self,
        state: Mapping[str, Any],
        *,
        reply: Reply,
        records: list[dict[str, Any]],
        first_page: bool,
        last_page: bool,
    ) -> dict[str, Any]:
        newest = cursor_from_state(state)
        for record in records:
            updated = parse_jira_datetime((record.get("fields") or {}).get("updated"))
            if updated is not None and (newest is None or updated > newest):
                newest = updated
        # Never move the cursor backwards, e.g. on an empty page.
        new = {k: v for k, v in state.items() if k not in ("page_token", "jql")}
        if newest:
            new["updated"] = cursor_to_state(newest)
        token = reply.data.get("nextPageToken") if isinstance(reply.data, dict) else None
        if not last_page and isinstance(token, str):
            new |= {"page_token": token, "jql": self.jql}
        return new


class IdSweepStream(Stream):
    """Every issue id in scope (`fields=["id"]`); ids are collected, no items are emitted."""

    def __init__(
        self,
        executor: HttpExecutor,
        requests: JiraRequests,
        *,
        jql: str,
        page_size: int = SWEEP_PAGE_SIZE,
    ) -> None:
        super().__init__(executor, SWEEP_PARTITION)
        self.requests = requests
        self.jql = jql
        self.page_size = page_size
        self.ids: set[str] = set()

    def make_paginator(self) -> Paginator:
        return BodyTokenPaginator("nextPageToken", "isLast")

    def build_request(self, state: Mapping[str, Any], token: str | None) -> httpx.Request:
        return self.requests.search(self.jql, ["id"], self.page_size, token)

    def parse_records(self, reply: Reply) -> list[dict[str, Any]]:
        records = records_list(reply, "issues")
        self.ids.update(str(record["id"]) for record in records if record.get("id"))
        return records

    def map_record(self, record: dict[str, Any]) -> WorkItemIn | None:
        return None

    async def collect(self) -> set[str]:
        async for _page in self.pages({}):
            pass
        return self.ids
