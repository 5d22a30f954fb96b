from collections.abc import Mapping
from typing import Any

import httpx
import respx

from connectors.base import ConnectorStats
from connectors.http import HttpExecutor, Reply, ResponseClassifier, build_client
from connectors.pagination import BodyTokenPaginator
from connectors.stream import Stream, records_list
from connectors.testing import FakeTime
from schemas.enums import StatusCategory
from schemas.work_item import WorkItemIn

BASE = "https://upstream.test"


class SearchStream(Stream):
    def make_paginator(self):
        return BodyTokenPaginator()

    def build_request(self, state: Mapping[str, Any], token: str | None) -> httpx.Request:
        params = {"nextPageToken": token} if token else {}
        headers = {"if-none-match": state["etag"]} if "etag" in state and not token else {}
        return httpx.Request("GET", f"{BASE}/search", params=params, headers=headers)

    def parse_records(self, reply: Reply) -> list[dict[str, Any]]:
        return records_list(reply, "issues")

    def map_record(self, record: dict[str, Any]) -> WorkItemIn | None:
        if record.get("skip"):
            return None
        return WorkItemIn(
            external_id=record["id"],
            key=record["id"],
            kind="task",
            title="t",
            status="open",
            status_category=StatusCategory.todo,
            upstream_updated_at="2024-01-01T00:00:00Z",
        )

    def next_state(self, state, *, reply, records, first_page, last_page):
        return {**state, "seen": state.get("seen", 0) + len(records), "last": last_page}


def executor(time: FakeTime) -> HttpExecutor:
    return HttpExecutor(
        build_client(BASE),
        ResponseClassifier(),
        stats=ConnectorStats(),
        sleep=time.sleep,
        clock=time.clock,
    )


async def test_stream_follows_tokens_and_checkpoints_each_page():
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/search", params={"nextPageToken": "t2"}).mock(
            return_value=httpx.Response(200, json={"issues": [{"id": "3"}], "isLast": True})
        )
        router.get(f"{BASE}/search").mock(
            return_value=httpx.Response(
                200,
                json={"issues": [{"id": "1"}, {"id": "2", "skip": True}], "nextPageToken": "t2"},
            )
        )
        ex = executor(FakeTime())
        pages = [page async for page in SearchStream(ex, "search").pages({})]
    assert [[i.external_id for i in p.items] for p in pages] == [["1"], ["3"]]
    assert [p.state for p in pages] == [{"seen": 2, "last": False}, {"seen": 3, "last": True}]
    assert ex.stats.pages == 2
    assert ex.stats.requests == 2


async def test_stream_yields_one_not_modified_page_with_state_unchanged():
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{BASE}/search", headers={"if-none-match": '"e1"'}).mock(
            return_value=httpx.Response(304)
        )
        ex = executor(FakeTime())
        state = {"etag": '"e1"', "seen": 9}
        pages = [page async for page in SearchStream(ex, "search").pages(state)]
    assert len(pages) == 1
    assert pages[0].not_modified is True
    assert pages[0].items == []
    assert pages[0].state == state
    assert ex.stats.not_modified == 1
