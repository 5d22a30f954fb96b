"""End to end: the initiative written into a GitHub Projects v2 field or a Jira custom field
beside the labels, on both database backends. The simulator counts every write; the echoes
(`projects_v2_item` ignored, `jira:issue_updated` upserted) change no link and cause no write."""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings
from service.security import SecretBox
from service.simulator.jira_custom_fields import SELECT_FIELD, TEXT_FIELD
from service.store.db import Database
from service.writeback.worker import WriteBackReport

from .write_back_support import Wiring, wired

ITEMS = 60
MOVED = 20
JIRA_ITEMS = 40
CHECKOUT, SEARCH = "Checkout revamp", "Search quality"  # options of the simulator's field
PROJECT_ITEMS = """
query($after: String) {
  organization(login: "acme") {
    projectV2(number: 1) {
      items(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          content { ... on Issue { number repository { nameWithOwner } }
                    ... on PullRequest { number repository { nameWithOwner } } }
          fieldValues(first: 30) {
            nodes { ... on ProjectV2ItemFieldSingleSelectValue { name field { name } } }
          }
        }
      }
    }
  }
}
"""


async def _board(w: Wiring) -> dict[str, str | None]:
    """The `Initiative` value of every issue on the simulator's project, by key."""
    found: dict[str, str | None] = {}
    after = None
    while True:
        answer = await w.sim.post(
            "/github/graphql",
            json={"query": PROJECT_ITEMS, "variables": {"after": after}},
            headers={"authorization": "bearer ghp_e2eWriteBackToken0123456789"},
        )
        items = answer.json()["data"]["organization"]["projectV2"]["items"]
        for node in items["nodes"]:
            content = node["content"]
            key = f"{content['repository']['nameWithOwner']}#{content['number']}"
            values = [v for v in node["fieldValues"]["nodes"] if v.get("field")]
            found[key] = next(
                (v["name"] for v in values if v["field"]["name"] == "Initiative"), None
            )
        if not items["pageInfo"]["hasNextPage"]:
            return found
        after = items["pageInfo"]["endCursor"]


async def _rule(w: Wiring, name: str, priority: int, target: int, **conditions: Any) -> int:
    created = await w.api.post(
        "/api/v1/admin/mapping-rules",
        json={
            "name": name,
            "priority": priority,
            "conditions": {"source_id": w.source_id, **conditions},
            "target": {"initiative_id": target},
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _setup(w: Wiring, movers: list[str], label: str) -> tuple[dict[str, int], int]:
    """Two initiatives; rule B (first) links the movers (given `label`), rule A everything."""
    ids = {}
    for title in (CHECKOUT, SEARCH):
        ids[title] = (await w.api.post("/api/v1/initiatives", json={"title": title})).json()["id"]
    for key in movers:
        await w.sim.post("/_sim/labels", json={"key": key, "add": [label], "actor": "x"})
    assert await w.drain_inbox() == len(movers)
    rule_b = await _rule(w, "movers", 10, ids[CHECKOUT], labels_any=[label])
    await _rule(w, "everything", 20, ids[CHECKOUT])
    return ids, rule_b


async def _move(w: Wiring, rule_b: int, target: int) -> WriteBackReport:
    """Point rule B at `target` and write."""
    moved = await w.api.patch(
        f"/api/v1/admin/mapping-rules/{rule_b}", json={"target": {"initiative_id": target}}
    )
    assert moved.status_code == 200, moved.text
    return await w.write()


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def test_project_field_follows_the_initiative(
    db: Database, service_settings: Settings, box: SecretBox, admin_headers: dict[str, str]
) -> None:
    async with wired("github", db, service_settings, box, admin_headers, items=ITEMS) as w:
        api, sid = w.api, w.source_id
        truth = await w.truth()
        board = await _board(w)
        on_board = {k for k in truth if k.casefold() in {b.casefold() for b in board}}
        assert 0 < len(on_board) < ITEMS and set(board.values()) == {None}
        movers = sorted(k for k, r in truth.items() if r["kind"] != "pull_request")[:MOVED]
        ids, rule_b = await _setup(w, movers, "team:move")

        config = {
            "enabled": True,
            "project_field": {"owner": "acme", "number": 1, "field": "Initiative"},
        }
        on = await api.put(f"/api/v1/admin/sources/{sid}/write-back", json=config)
        assert on.status_code == 200, on.text
        preview = (await api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        fields = [i for i in preview["items"] if i["field"] == "project_field"]
        # The preview does not read the board: every linked item, on the project or not.
        assert len(fields) == ITEMS and {tuple(i["add"]) for i in fields} == {(CHECKOUT,)}
        before = await w.writes()
        requests = (await w.sim_stats())["requests_by_upstream"].get("github", 0)
        first = await w.write()
        written = _delta(before, await w.writes())
        repos = len({k.split("#")[0] for k in truth})
        assert written == {
            "github:label_created": repos,
            "github:label_added": ITEMS,
            "github:project_field_set": len(on_board),
        }
        assert (first.writes, first.failed) == (repos + ITEMS + len(on_board), 0)
        # Requests: the label writes, one mutation per item on the board, and the lookup once
        # per pass (one fields query, one page of items). 120 outbox rows (labels and field
        # of 60 items) are two passes of 100.
        passes = -(-2 * ITEMS // w.worker.batch)
        assert passes == 2
        sent = (await w.sim_stats())["requests_by_upstream"]["github"] - requests
        assert sent == repos + ITEMS + len(on_board) + 2 * passes
        board = await _board(w)
        assert set(board.values()) == {CHECKOUT} and len(board) == len(on_board)

        # Echoes: label events upsert; project item events are ignored on receipt (never
        # queued); nothing moves or writes.
        links = await w.link_changes()
        assert await w.drain_inbox() == ITEMS
        ignored = await api.get(
            "/api/v1/admin/webhook-deliveries",
            params={"status": "ignored", "event": "projects_v2_item", "limit": 100},
        )
        assert len(ignored.json()["items"]) == len(on_board)
        assert await w.link_changes() == links
        assert (await w.write()).writes == 0

        # Moving the movers writes the moved items on the board, and only them.
        before = await w.writes()
        second = await _move(w, rule_b, ids[SEARCH])
        moved_on_board = {k for k in movers if k in on_board}
        assert second.failed == 0
        assert _delta(before, await w.writes())["github:project_field_set"] == len(moved_on_board)
        board = {k.casefold(): v for k, v in (await _board(w)).items()}
        assert {k for k in on_board if board[k.casefold()] == SEARCH} == moved_on_board
        assert (await w.write()).writes == 0

        # A title with no option is a failed write with a clear error; no option is created.
        await api.patch(f"/api/v1/initiatives/{ids[SEARCH]}", json={"title": "Not an option"})
        before = await w.writes()
        third = await w.write()
        assert _delta(before, await w.writes()).get("github:project_field_set", 0) == 0
        failed = (
            await api.get(
                "/api/v1/admin/write-back/writes",
                params={"source_id": sid, "status": "failed", "limit": 100},
            )
        ).json()["items"]
        # (Retried within the pass once its 5 s backoff has passed on the paced clock.)
        assert third.failed == len(failed) >= len(moved_on_board)
        assert {r["item_key"] for r in failed} == moved_on_board
        assert {r["field"] for r in failed} == {"project_field"}
        assert all("has no option 'Not an option'" in r["error"] for r in failed)
        board = {k.casefold(): v for k, v in (await _board(w)).items()}
        assert {k for k in on_board if board[k.casefold()] == SEARCH} == moved_on_board

        # Items left without an initiative are cleared, one mutation each.
        before = await w.writes()
        assert (await api.delete(f"/api/v1/initiatives/{ids[CHECKOUT]}")).status_code == 204
        await w.write()
        cleared = _delta(before, await w.writes())
        assert cleared["github:project_field_cleared"] == len(on_board) - len(moved_on_board)
        assert "github:project_field_set" not in cleared
        board = {k.casefold(): v for k, v in (await _board(w)).items()}
        assert {k for k in on_board if board[k.casefold()] is not None} == moved_on_board
        # Mutations and label writes shared the one-second spacing of the token throughout.
        assert (await w.sim_stats())["rate_limit_violations"] == 0


async def _jira_values(w: Wiring, field_id: str) -> dict[str, Any]:
    values = {}
    for key in await w.truth():
        answer = await w.sim.get(
            f"/jira/rest/api/3/issue/{key}",
            params={"fields": field_id},
            auth=("sync@example.com", "jira-e2e-token-0123456789"),
        )
        value = answer.json()["fields"][field_id]
        values[key] = value["value"] if isinstance(value, dict) else value
    return values


@pytest.mark.parametrize("field_id", [TEXT_FIELD, SELECT_FIELD])
async def test_jira_custom_field_follows_the_initiative(
    field_id: str,
    db: Database,
    service_settings: Settings,
    box: SecretBox,
    admin_headers: dict[str, str],
) -> None:
    async with wired("jira", db, service_settings, box, admin_headers, items=JIRA_ITEMS) as w:
        api, sid = w.api, w.source_id
        movers = sorted(await w.truth())[:MOVED]
        ids, rule_b = await _setup(w, movers, "team-move")

        config = {"enabled": True, "jira_custom_field": field_id}
        on = await api.put(f"/api/v1/admin/sources/{sid}/write-back", json=config)
        assert on.status_code == 200, on.text
        before = await w.writes()
        requests = (await w.sim_stats())["requests_by_upstream"].get("jira", 0)
        first = await w.write()
        assert _delta(before, await w.writes()) == {
            "jira:label_added": JIRA_ITEMS,
            "jira:custom_field_set": JIRA_ITEMS,
            "jira:issue_edits": 2 * JIRA_ITEMS,
        }
        assert (first.writes, first.failed) == (2 * JIRA_ITEMS, 0)
        # One PUT for the labels and one for the field per item; no lookups.
        sent = (await w.sim_stats())["requests_by_upstream"]["jira"] - requests
        assert sent == 2 * JIRA_ITEMS
        assert set((await _jira_values(w, field_id)).values()) == {CHECKOUT}

        # Every edit's issue_updated echo upserts; nothing moves, nothing is written again.
        links = await w.link_changes()
        assert await w.drain_inbox() == 2 * JIRA_ITEMS
        assert await w.link_changes() == links
        assert (await w.write()).writes == 0

        before = await w.writes()
        second = await _move(w, rule_b, ids[SEARCH])
        assert second.failed == 0
        delta = _delta(before, await w.writes())
        assert delta["jira:custom_field_set"] == MOVED
        assert delta["jira:issue_edits"] == 2 * MOVED  # labels and field, per moved item
        values = await _jira_values(w, field_id)
        assert {k for k, v in values.items() if v == SEARCH} == set(movers)
        assert await w.drain_inbox() == 2 * MOVED
        assert (await w.write()).writes == 0

        # Without an initiative the field is cleared.
        before = await w.writes()
        assert (await api.delete(f"/api/v1/initiatives/{ids[CHECKOUT]}")).status_code == 204
        third = await w.write()
        assert third.failed == 0
        assert _delta(before, await w.writes())["jira:custom_field_set"] == JIRA_ITEMS - MOVED
        values = await _jira_values(w, field_id)
        assert {k for k, v in values.items() if v is not None} == set(movers)
