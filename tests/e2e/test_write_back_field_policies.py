"""End to end: a person's upstream edit of the written Jira custom field (text and select)
under each conflict policy, on both database backends."""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings
from service.security import SecretBox
from service.simulator.jira_custom_fields import SELECT_FIELD, TEXT_FIELD
from service.store.db import Database

from .helpers import sync
from .write_back_support import Wiring, wired

CHECKOUT, SEARCH = "Checkout revamp", "Search quality"  # options of the simulator's field
CHECKOUT_LABEL, SEARCH_LABEL = "initiative:checkout-revamp", "initiative:search-quality"
AUTH = ("sync@example.com", "jira-e2e-token-0123456789")


async def _edit(
    w: Wiring, key: str, field_id: str, value: str | None, actor: str, *, drain: bool = True
) -> None:
    body = {"key": key, "field": field_id, "value": value, "actor": actor}
    answer = await w.sim.post("/_sim/fields", json=body)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["webhooks"]) == 1
    if drain:
        assert await w.drain_inbox() == 1


async def _value(w: Wiring, key: str, field_id: str) -> Any:
    answer = await w.sim.get(
        f"/jira/rest/api/3/issue/{key}", params={"fields": field_id}, auth=AUTH
    )
    value = answer.json()["fields"][field_id]
    return value["value"] if isinstance(value, dict) else value


async def _delta(w: Wiring) -> tuple[int, dict[str, int]]:
    """Writes the worker makes now, and how the simulator's write counters grew."""
    before = await w.writes()
    report = await w.write()
    assert report.failed == 0
    after = await w.writes()
    grew = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    return report.writes, grew


async def _links(w: Wiring, key: str) -> set[tuple[int, bool, str]]:
    rows = (await w.api.get(f"/api/v1/work-items/{await w.item_id(key)}/links")).json()
    return {(r["target_id"], r["excluded"], r["provenance"]) for r in rows}


@pytest.mark.parametrize("field_id", [TEXT_FIELD, SELECT_FIELD])
async def test_custom_field_store_wins_once_then_upstream_wins_as_manual_links(
    field_id: str,
    db: Database,
    service_settings: Settings,
    box: SecretBox,
    admin_headers: dict[str, str],
) -> None:
    async with wired("jira", db, service_settings, box, admin_headers, items=20) as w:
        api, sid = w.api, w.source_id
        checkout = (await api.post("/api/v1/initiatives", json={"title": CHECKOUT})).json()
        search = (await api.post("/api/v1/initiatives", json={"title": SEARCH})).json()
        rule = await api.post(
            "/api/v1/admin/mapping-rules",
            json={
                "name": "all",
                "conditions": {"source_id": sid},
                "target": {"initiative_id": checkout["id"]},
            },
        )
        assert rule.status_code == 201
        on = await api.put(
            f"/api/v1/admin/sources/{sid}/write-back",
            json={"enabled": True, "jira_custom_field": field_id},
        )
        assert on.status_code == 200, on.text
        assert (await w.write()).writes == 40  # a label and the field per item
        assert await w.drain_inbox() == 40
        assert (await w.write()).writes == 0
        x, y, z, v, u = sorted(await w.truth())[:5]
        assert [await _value(w, k, field_id) for k in (x, y, z, v, u)] == [CHECKOUT] * 5
        links = await w.link_changes()

        # store_wins: a changed value is written again, once; changed again, it is left.
        await _edit(w, x, field_id, SEARCH, "alice")
        assert await _delta(w) == (1, {"jira:custom_field_set": 1, "jira:issue_edits": 1})
        assert await _value(w, x, field_id) == CHECKOUT
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0
        await _edit(w, x, field_id, SEARCH, "alice")
        assert await _delta(w) == (0, {})
        assert await _value(w, x, field_id) == SEARCH

        # store_wins: a cleared value likewise.
        await _edit(w, y, field_id, None, "alice")
        assert await _delta(w) == (1, {"jira:custom_field_set": 1, "jira:issue_edits": 1})
        assert await _value(w, y, field_id) == CHECKOUT
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0
        await _edit(w, y, field_id, None, "alice")
        assert await _delta(w) == (0, {})
        assert await _value(w, y, field_id) is None
        assert await w.link_changes() == links

        # A new poll reads the field back (the search asks for it) and changes nothing.
        await sync(api, sid, "full")
        assert await _delta(w) == (0, {})

        # upstream_wins: the title becomes a manual link, a clear a manual exclusion.
        policy = await api.put(
            f"/api/v1/admin/sources/{sid}/write-back",
            json={"enabled": True, "jira_custom_field": field_id, "policy": "upstream_wins"},
        )
        assert policy.status_code == 200 and policy.json()["policy"] == "upstream_wins"
        assert (await w.write()).writes == 0
        await _edit(w, z, field_id, SEARCH, "bob")
        # The field is left as the person set it; the labels follow the new initiative (two
        # label operations, one issue edit).
        assert await _delta(w) == (
            2,
            {"jira:label_added": 1, "jira:label_removed": 1, "jira:issue_edits": 1},
        )
        assert await _links(w, z) == {(search["id"], False, "upstream:712020:bob")}
        assert await _value(w, z, field_id) == SEARCH
        truth = await w.truth()
        assert SEARCH_LABEL in truth[z]["labels"] and CHECKOUT_LABEL not in truth[z]["labels"]
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0

        await _edit(w, v, field_id, None, "carol")
        assert await _delta(w) == (1, {"jira:label_removed": 1, "jira:issue_edits": 1})
        assert await _links(w, v) == {(checkout["id"], True, "upstream:712020:carol")}
        assert await _value(w, v, field_id) is None
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0
        # Set again on the item that now has no initiative: a manual link, the label follows.
        await _edit(w, v, field_id, SEARCH, "erin")
        assert await _delta(w) == (1, {"jira:label_added": 1, "jira:issue_edits": 1})
        assert await _links(w, v) == {
            (checkout["id"], True, "upstream:712020:carol"),
            (search["id"], False, "upstream:712020:erin"),
        }
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0

        # Seen first by a poll (its webhook waits in the inbox): the actor is unknown.
        await _edit(w, u, field_id, SEARCH, "dave", drain=False)
        await sync(api, sid, "incremental")
        assert await _links(w, u) == {(search["id"], False, "upstream:unknown")}
        assert await w.drain_inbox() == 1  # the same version: changes nothing more
        assert await _links(w, u) == {(search["id"], False, "upstream:unknown")}
        assert await _delta(w) == (
            2,
            {"jira:label_added": 1, "jira:label_removed": 1, "jira:issue_edits": 1},
        )
        assert await _value(w, u, field_id) == SEARCH
        assert (await w.sim_stats())["rate_limit_violations"] == 0
