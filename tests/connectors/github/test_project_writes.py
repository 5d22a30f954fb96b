"""Projects v2 field writes: one mutation per write, the field and item lookup read once per
writer, options never created, and refusals raised before any mutation."""

import json
import uuid

import httpx
import pytest

from connectors.base import FatalUpstreamError
from connectors.github.projects import ProjectRef
from connectors.github.writes import GitHubLabelWriter

from .fakes import BASE

GRAPHQL = f"{BASE}/graphql"
REF = ProjectRef("octo", "organization", 3)
FIELDS = {
    "data": {
        "owner": {
            "projectV2": {
                "id": "PVT_3",
                "title": "Roadmap",
                "fields": {
                    "nodes": [
                        {"id": "F_status", "name": "Status", "dataType": "SINGLE_SELECT"},
                        {
                            "id": "F_init",
                            "name": "Initiative",
                            "dataType": "SINGLE_SELECT",
                            "options": [
                                {"id": "O_a", "name": "Checkout revamp"},
                                {"id": "O_b", "name": "Search"},
                            ],
                        },
                        {"id": "F_note", "name": "Note", "dataType": "TEXT"},
                        {"id": "F_est", "name": "Estimate", "dataType": "NUMBER"},
                    ]
                },
            }
        }
    }
}


def _items(page: int) -> dict:
    nodes = [
        {
            "id": f"PVTI_{page}_{n}",
            "content": {
                "__typename": "Issue",
                "number": page * 10 + n,
                "repository": {"nameWithOwner": "octo/Repo"},
            },
        }
        for n in range(2)
    ]
    nodes.append({"id": "PVTI_draft", "content": {"__typename": "DraftIssue"}})
    info = {"hasNextPage": page == 0, "endCursor": f"c{page}"}
    return {"data": {"owner": {"projectV2": {"items": {"pageInfo": info, "nodes": nodes}}}}}


class Upstream:
    """Answers the fields query, two item pages and mutations; records every request."""

    def __init__(self) -> None:
        self.queries: list[dict] = []
        self.mutations: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        query = body["query"]
        if query.lstrip().startswith("mutation"):
            self.mutations.append(body)
            return httpx.Response(200, json={"data": {"x": {"projectV2Item": {"id": "i"}}}})
        self.queries.append(body)
        if "fields(first" in query:
            return httpx.Response(200, json=FIELDS)
        return httpx.Response(200, json=_items(1 if body["variables"]["after"] else 0))


@pytest.fixture
def upstream(router) -> Upstream:
    handler = Upstream()
    router.post(GRAPHQL).mock(side_effect=handler)
    return handler


def writer(fake_time) -> GitHubLabelWriter:
    token = f"ghp_{uuid.uuid4().hex}"
    return GitHubLabelWriter(BASE, {"token": token}, sleep=fake_time.sleep, clock=fake_time.clock)


async def test_one_mutation_per_write_and_one_lookup_per_writer(upstream, fake_time) -> None:
    client = writer(fake_time)
    await client.set_project_field("octo/repo#1", REF, "Initiative", "Search")
    await client.set_project_field("octo/repo#11", REF, "Initiative", "Checkout revamp")
    await client.set_project_field("octo/repo#10", REF, "Initiative", None)

    # The lookup: one fields query and two item pages, for all three writes.
    assert len(upstream.queries) == 3
    assert upstream.queries[0]["variables"] == {"login": "octo", "number": 3}
    assert [q["variables"]["after"] for q in upstream.queries[1:]] == [None, "c0"]
    assert len(upstream.mutations) == 3
    first, second, clear = upstream.mutations
    assert "updateProjectV2ItemFieldValue" in first["query"]
    assert first["variables"] == {
        "projectId": "PVT_3",
        "itemId": "PVTI_0_1",
        "fieldId": "F_init",
        "value": {"singleSelectOptionId": "O_b"},
    }
    assert second["variables"]["itemId"] == "PVTI_1_1"
    assert second["variables"]["value"] == {"singleSelectOptionId": "O_a"}
    assert "clearProjectV2ItemFieldValue" in clear["query"]
    assert clear["variables"] == {"projectId": "PVT_3", "itemId": "PVTI_1_0", "fieldId": "F_init"}
    # Writes are paced like label writes: one second apart with one token.
    assert fake_time.waits == [1.0, 1.0]
    await client.aclose()


async def test_text_field_gets_the_title_as_text(upstream, fake_time) -> None:
    client = writer(fake_time)
    await client.set_project_field("octo/repo#0", REF, "Note", "Anything at all")
    assert len(upstream.queries) == 3 and len(upstream.mutations) == 1
    assert upstream.mutations[0]["variables"]["value"] == {"text": "Anything at all"}
    assert upstream.mutations[0]["variables"]["fieldId"] == "F_note"
    await client.aclose()


@pytest.mark.parametrize(
    ("key", "field", "value", "message", "queries"),
    [
        ("octo/repo#1", "Initiative", "Unknown title", "has no option 'Unknown title'", 3),
        ("octo/repo#1", "Missing", "Search", "has no field named 'Missing'", 1),
        ("octo/repo#1", "Estimate", "Search", "is NUMBER, not single select or text", 1),
    ],
)
async def test_refused_writes_send_no_mutation(
    upstream, fake_time, key, field, value, message, queries
) -> None:
    client = writer(fake_time)
    for _ in range(2):
        with pytest.raises(FatalUpstreamError, match=message):
            await client.set_project_field(key, REF, field, value)
    assert upstream.mutations == []
    # The lookup, failed or not, is made once per writer.
    assert len(upstream.queries) == queries
    await client.aclose()


async def test_an_issue_not_on_the_project_is_not_written(upstream, fake_time) -> None:
    client = writer(fake_time)
    assert await client.set_project_field("octo/repo#99", REF, "Initiative", "Search") is False
    assert await client.set_project_field("octo/repo#1", REF, "Initiative", "Search") is True
    assert len(upstream.queries) == 3 and len(upstream.mutations) == 1
    await client.aclose()


async def test_graphql_errors_on_the_mutation_are_failures(router, fake_time) -> None:
    answers = iter(
        [
            httpx.Response(200, json=FIELDS),
            httpx.Response(200, json=_items(1)),
            httpx.Response(
                200,
                json={
                    "data": {"updateProjectV2ItemFieldValue": None},
                    "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible"}],
                },
            ),
        ]
    )
    route = router.post(GRAPHQL).mock(side_effect=lambda request: next(answers))
    client = writer(fake_time)
    with pytest.raises(FatalUpstreamError, match="Resource not accessible"):
        await client.set_project_field("octo/repo#10", REF, "Initiative", "Search")
    assert route.call_count == 3
    await client.aclose()
